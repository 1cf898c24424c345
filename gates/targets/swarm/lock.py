"""The lock of one swarm environment: one command at a time changes it, from any machine.

The lock is a Docker config named ``gates.lock.<stack>``: creating it is atomic (the engine
refuses a second config of one name), so whoever creates it holds the environment, and
removing it (by its id, never by name) releases it. Its labels say who holds it (host, pid,
process start time) and until when. A holder that died is recognised, so a deploy killed
with -9 does not block the next one: on the same host at once (its process is gone), from
another host once the lease has run out. The lease outlasts the longest command: every
command that holds the lock gives up before its lease ends.

Why not a compare-and-swap on a service label (the service's version index)? A label-only
update resets the service's UpdateStatus and replaces its PreviousSpec, which a deploy reads
to tell a completed update from Swarm's own rollback; and before the first deploy there is
no service to label.
"""

import os
import socket
import time
from types import TracebackType

from gates import processes
from gates.docker import Docker, DockerRefused, said
from gates.locks import wait_for
from gates.processes import Identity
from gates.targets.swarm.environment import STACK_LABEL

OWNER_LABEL = "gates.owner"
EXPIRES_LABEL = "gates.expires"


def me() -> str:
    own = processes.identify(os.getpid())
    assert own is not None  # this very process is running
    return f"{socket.gethostname()} pid {own.pid} started {own.create_time:.2f}"


def holder_is_gone(owner: str) -> bool:
    """Whether the process that took the lock is known to have ended (on this host)."""
    try:
        host, _, pid, _, started = owner.split(" ")
        if host != socket.gethostname():
            return False
        # The label keeps the start time to 0.01 s, psutil's precision (gates.processes).
        return processes.has_ended(Identity(int(pid), float(started)))
    except ValueError:
        return True  # a malformed owner: nobody holds it


class EngineLock:
    def __init__(self, docker: Docker, name: str, stack: str, lease: float) -> None:
        self.docker, self.name, self.stack, self.lease = docker, name, stack, lease
        self.held_id: str | None = None
        self.owner = me()

    def try_acquire(self) -> bool:
        """Take the lock if it is free or its holder is gone (True), without waiting."""
        return self._create() or (self._remove_if_stale() and self._create())

    def _create(self) -> bool:
        expires = time.time() + self.lease
        created = self.docker.run(
            "config", "create",
            "--label", f"{STACK_LABEL}={self.stack}",
            "--label", f"{OWNER_LABEL}={self.owner}",
            "--label", f"{EXPIRES_LABEL}={expires:.0f}",
            self.name, "-",
            stdin=f"{self.owner} until {expires:.0f}\n",
            check=False,
        )  # fmt: skip
        if created.returncode == 0:
            self.held_id = created.stdout.strip()
            return True
        if "already exists" not in created.stderr and "AlreadyExists" not in created.stderr:
            raise DockerRefused(
                f"cannot take the lock of {self.stack}: {said(created)}",
                created.stderr,
            )
        return False

    def _remove_if_stale(self) -> bool:
        """Remove the lock if its lease ran out or its holder is gone; whether it is free."""
        found = self.docker.inspect("config", self.name)
        if found is None:
            return True  # released meanwhile
        labels = found["Spec"].get("Labels") or {}
        expired = float(labels.get(EXPIRES_LABEL, "0") or 0) < time.time()
        if not expired and not holder_is_gone(labels.get(OWNER_LABEL, "")):
            return False
        holder = labels.get(OWNER_LABEL)
        print(f"gates: {self.stack}: taking over the lock of {holder} (ended or expired)")
        # By id: if someone else removed it and took a new one, this removes nothing.
        self.docker.run("config", "rm", found["ID"], check=False)
        return True

    def holder(self) -> str:
        found = self.docker.inspect("config", self.name)
        labels = (found or {}).get("Spec", {}).get("Labels") or {}
        return str(labels.get(OWNER_LABEL, "nobody"))

    def acquire(self, timeout: float) -> "EngineLock":
        """Hold the lock, waiting up to ``timeout`` s; gates.locks.Busy (exit 3) after."""
        wait_for(self.try_acquire, timeout, f"environment {self.stack}", self.holder, 0.5)
        return self

    def release(self) -> None:
        if self.held_id is not None:
            self.docker.run("config", "rm", self.held_id, check=False)
            self.held_id = None

    def __enter__(self) -> "EngineLock":
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.release()
