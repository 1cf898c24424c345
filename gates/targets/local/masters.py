"""The gunicorn masters running an environment, found from the records they write.

Each master writes ``run/master-<pid>.json`` when it starts (gates.targets.local.deployment_conf)
and removes it when it exits. A record counts only while the process at its pid passes the
identity check of gates.targets.local.processes (a well-formed stamp its start time fits) and
runs in the environment's directory, where gates.targets.local.spawn starts every master (a
USR2 re-exec keeps it). Records that fail, or that cannot be read, are removed, so a crashed
master's record does not outlive it, and a record naming another program's process (a pid
reused, or a record forged) never gets that process listed or signalled.
"""

import json
import signal
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gates.targets.local import processes
from gates.targets.local.processes import Identity

PREFLIGHT = "preflight"  # on a private unix socket, before it may take traffic
LIVE = "live"  # on the environment's port


@dataclass(frozen=True)
class Master:
    identity: Identity
    role: str
    release_id: str
    deployment: str  # the deployment key: release plus service config

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

    def stop(self, timeout: float = 30) -> bool:
        """Graceful stop: TERM lets the workers finish their requests; KILL after ``timeout``."""
        self.signal(signal.SIGTERM)
        return processes.wait_until(lambda: not self.running(), timeout) or processes.stop(
            self.identity, 10
        )


def running(run_dir: Path, role: str | None = None) -> list[Master]:
    """Running masters registered in ``run_dir`` (of ``role``, if given), in record order."""
    found = []
    for record in sorted(run_dir.glob("master-*.json")):
        master = _read(record, home=run_dir.parent)
        if master is None:
            record.unlink(missing_ok=True)
            continue
        if role in (None, master.role):
            found.append(master)
    return found


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
    return Master(identity, role, release_id, deployment)


def _identity(data: dict[str, Any]) -> Identity | None:
    if "recorded_at" in data:
        return processes.registered(data.get("pid"), data["recorded_at"])
    # Written before the pipeline used psutil: Linux clock ticks since boot.
    return processes.from_start_ticks(data.get("pid"), data.get("start_ticks"))


def wait_for(
    run_dir: Path,
    process: "subprocess.Popen[bytes] | None",
    role: str,
    deployment: str,
    timeout: float,
) -> Master | None:
    """The master a spawn (``process``) or a USR2 (None) produced, once it registered."""

    def registered() -> Master | str | None:
        if process is not None and process.poll() is not None:
            return "exited"
        matches = [m for m in running(run_dir, role) if m.deployment == deployment]
        return matches[-1] if matches else None

    found = processes.wait_until(registered, timeout)
    return found if isinstance(found, Master) else None
