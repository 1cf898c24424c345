"""One local environment, composed: its name and settings, files, lock, masters and port.

The pieces live in their own modules (layout, lock, masters, spawn, probe); this facade is
what converge and the deployer hold, so they read "the environment's masters" rather than
"the masters registered in that run directory".
"""

from pathlib import Path

from gates.config import EnvironmentConfig, PipelineConfig
from gates.targets import probe
from gates.targets.local import masters
from gates.targets.local.layout import Layout
from gates.targets.local.lock import EnvironmentLock
from gates.targets.local.masters import Master


class LocalEnvironment:
    def __init__(self, config: PipelineConfig, name: str) -> None:
        self.name = name
        self.settings: EnvironmentConfig = config.environment(name)
        self.layout = Layout.create(config.state_dir, name)
        self.lock = EnvironmentLock(self.layout.lock_file, name)

    @property
    def port(self) -> int:
        return self.settings.port

    @property
    def current(self) -> Path:
        return self.layout.current

    def masters(self, role: str | None = None) -> list[Master]:
        """The running masters (of ``role``, if given); records of dead ones are removed."""
        return masters.running(self.layout.run_dir, role)

    def stop_master(self, master: Master, timeout: float = 30) -> bool:
        return master.stop(timeout)

    def current_deployment(self) -> str | None:
        return self.layout.current_deployment()

    def switch_current(self, key: str) -> None:
        self.layout.switch_current(key)

    def probe(self, path: str = "/ready") -> probe.Answer:
        """GET ``path`` on the environment's port."""
        return probe.get(path, port=self.port)
