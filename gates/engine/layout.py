"""Where an engine that ``gates engine up`` starts keeps its files.

Its directory of runtime files is the directory of the ``docker_host`` unix socket (e.g.
/run/gates-docker): the socket, dockerd's exec root and pid file, the registry's generated
config, both daemons' logs, and the record of what ``up`` started. An engine reached any
other way (tcp://, ssh://, Docker's default) is never started here; the registry ``up`` may
start for it keeps its files in /run/gates-engine.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from gates.config import EngineConfig

DEFAULT_RUN_DIR = Path("/run/gates-engine")


@dataclass(frozen=True)
class Layout:
    socket: Path | None  # the unix socket dockerd listens on, when docker_host is one
    run_dir: Path
    data_root: Path  # dockerd's --data-root
    registry_data: Path  # the registry's storage

    @classmethod
    def of(cls, engine: EngineConfig) -> Layout:
        host = engine.docker_host
        socket = Path(host.removeprefix("unix://")) if host.startswith("unix://") else None
        run_dir = socket.parent if socket else DEFAULT_RUN_DIR
        return cls(socket, run_dir, engine.data_root, engine.registry_data)

    @property
    def exec_root(self) -> Path:
        return self.run_dir / "exec"

    @property
    def pidfile(self) -> Path:
        return self.run_dir / "docker.pid"

    @property
    def dockerd_log(self) -> Path:
        return self.run_dir / "dockerd.log"

    @property
    def registry_config(self) -> Path:
        return self.run_dir / "registry.yml"

    @property
    def registry_log(self) -> Path:
        return self.run_dir / "registry.log"

    @property
    def record(self) -> Path:
        return self.run_dir / "gates-engine.json"
