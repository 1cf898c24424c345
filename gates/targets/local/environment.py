"""One local environment, composed: its name and settings, files, lock, masters and port.

The pieces live in their own modules (layout, masters, spawn, probe; the lock is a
gates.locks.FileLock); this facade is what converge and the deployer hold, so they read "the
environment's masters" rather than "the masters registered in that run directory".
"""

import signal
from pathlib import Path

from gates import processes
from gates.config import EnvironmentConfig, PipelineConfig
from gates.locks import FileLock
from gates.targets import probe
from gates.targets.local import deployments, masters
from gates.targets.local.layout import Layout
from gates.targets.local.masters import Master

# Who else takes an environment's lock (gates.locks: one command at a time changes it).
ANOTHER = "another deploy, rollback or down"


class LocalEnvironment:
    def __init__(self, config: PipelineConfig, name: str) -> None:
        self.name = name
        self.settings: EnvironmentConfig = config.environment(name)
        self.layout = Layout.create(config.state_dir, name)
        self.lock = FileLock(self.layout.lock_file, f"environment {name}", ANOTHER)

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
        """Stop ``master`` (TERM, then KILL its tree after ``timeout``), sparing the trees of
        the environment's other masters: in a handover the new master is the old one's child.
        """
        spare = {m.pid for m in self.masters() if m.pid != master.pid}
        stopped = master.stop(timeout, spare)
        if stopped:
            self.layout.remove_master_files(master.pid)
        return stopped

    def restore_workers(self, master: Master, timeout: float = 60) -> bool:
        """Make sure ``master`` runs its deployment's number of workers again (after a
        handover's WINCH stopped them): HUP, which starts them from the config ``current``
        names, so ``current`` must name the master's own deployment. True once they run."""
        service = deployments.recorded_service(self.layout, master.deployment)
        wanted = service.workers if service else 1
        if len(self.workers_of(master)) >= wanted:
            return True
        master.signal(signal.SIGHUP)
        return (
            processes.wait_until(
                lambda: len(self.workers_of(master)) >= wanted or not master.running(),
                timeout,
                0.1,
            )
            and master.running()
        )

    def workers_of(self, master: Master) -> set[int]:
        """The master's workers: its children, but not a master it forked in a handover."""
        return set(master.workers()) - {m.pid for m in self.masters()}

    def current_deployment(self) -> str | None:
        return self.layout.current_deployment()

    def switch_current(self, key: str) -> None:
        self.layout.switch_current(key)

    def clear_current(self) -> None:
        self.layout.clear_current()

    def remove_preflight_dir(self) -> None:
        self.layout.remove_preflight_dir()

    def probe(self, path: str = "/ready") -> probe.Answer:
        """GET ``path`` on the environment's port."""
        return probe.get(path, port=self.port)
