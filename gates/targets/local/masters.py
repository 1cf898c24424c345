"""The gunicorn masters running an environment, found from the records they write.

Each master writes ``run/master-<pid>.json`` when it starts (gates.targets.local.deployment_conf)
and removes it when it exits. A record counts only while the process at its pid passes the
identity check of gates.processes (a well-formed stamp its start time fits) and
runs in the environment's directory, where gates.targets.local.spawn starts every master (a
USR2 re-exec keeps it). Records that fail, or that cannot be read, are removed, so a crashed
master's record does not outlive it, and a record naming another program's process (a pid
reused, or a record forged) never gets that process listed or signalled.
"""

import json
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gates import processes
from gates.processes import Identity

PREFLIGHT = "preflight"  # on a private unix socket, before it may take traffic
LIVE = "live"  # on the environment's port


@dataclass(frozen=True)
class Master:
    identity: Identity
    role: str
    release_id: str
    deployment: str  # the deployment key: release plus service config
    # WINCH stops its workers and keeps the socket (masters started by earlier pipelines
    # ignore WINCH: gunicorn honours it only when daemonized)
    winch_stops_workers: bool = False

    @property
    def pid(self) -> int:
        return self.identity.pid

    @property
    def server(self) -> str:
        """Which server runs the deployment, as status shows it: the master's pid."""
        return str(self.pid)

    def running(self) -> bool:
        return processes.is_running(self.identity)

    def signal(self, sig: int) -> bool:
        return processes.send(self.identity, sig)

    def workers(self) -> list[int]:
        return processes.children(self.identity)

    def stop(self, timeout: float = 30, spare: Collection[int] = ()) -> bool:
        """Graceful stop: TERM lets the workers finish their requests; after ``timeout``, KILL
        the master and its whole process tree, except the subtrees of ``spare`` pids."""
        return processes.stop(self.identity, timeout, spare)


def running(run_dir: Path, role: str | None = None) -> list[Master]:
    """Running masters registered in ``run_dir`` (of ``role``, if given), oldest first.

    In the order they started, not the order of their records' names: "master-10351.json"
    sorts before "master-9976.json".
    """
    found = []
    for record in run_dir.glob("master-*.json"):
        master = _read(record, home=run_dir.parent)
        if master is None:
            record.unlink(missing_ok=True)
            continue
        if role in (None, master.role):
            found.append(master)
    return sorted(found, key=lambda m: (m.identity.create_time, m.pid))


def _read(record: Path, home: Path) -> Master | None:
    """The master a record names, if it is running, passes the identity check and runs in
    ``home`` (the environment's directory)."""
    try:
        data = json.loads(record.read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict):
        return None
    role, release_id, deployment = (data.get(k) for k in ("role", "release_id", "deployment"))
    if not (isinstance(role, str) and isinstance(release_id, str) and isinstance(deployment, str)):
        return None
    identity = _identity(data)
    if identity is None or not processes.works_in(identity, home):
        return None
    winch = data.get("winch_stops_workers") is True
    return Master(identity, role, release_id, deployment, winch)


def _identity(data: dict[str, Any]) -> Identity | None:
    if "recorded_at" in data:
        return processes.registered(data.get("pid"), data["recorded_at"])
    # Written before the pipeline used psutil: Linux clock ticks since boot.
    return processes.from_start_ticks(data.get("pid"), data.get("start_ticks"))
