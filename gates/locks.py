"""Locks: one holder at a time, and when it is not us, who it is.

:class:`FileLock` is the pipeline's one ``flock`` helper: an environment of the local target
(one deploy, rollback or down at a time), the build area (one build per state directory) and
``gates engine up|down`` (one per engine). The kernel releases an ``flock`` when its holder
dies, ``kill -9`` included, so a crashed command never leaves anything locked. Its holder
writes its identity (pid and start time, gates.processes) into the lock file, so whoever
finds the lock taken can say who holds it; a record whose process has ended, or whose pid
now belongs to another process, names nobody.

:func:`wait_for` is how every lock is waited for, this one and the swarm target's
(gates.targets.swarm.lock, a Docker config, not a file): retry, say once that it waits and
for whom, and after ``timeout`` s give up with one line: ``<what> is busy: <holder> held its
lock for <timeout> s; try again when it finishes``. That is :class:`Busy` (exit 3), whose
report is written beside the holder's, never over it, unless the lock's user chooses
another error.
"""

import fcntl
import json
import os
import time
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import IO

from gates import processes
from gates.outcome import GateError, Refused


class Busy(Refused):
    """Another command holds the lock (exit 3; its report keeps its name)."""


def wait_for(
    try_acquire: Callable[[], bool],
    timeout: float,
    what: str,
    holder: Callable[[], str],
    interval: float,
    refusal: type[GateError] = Busy,
) -> None:
    """Take the lock with ``try_acquire``, retrying every ``interval`` s for up to ``timeout``
    s; ``refusal`` naming ``holder()`` after that."""
    deadline = time.monotonic() + timeout
    announced = False
    while not try_acquire():
        if time.monotonic() >= deadline:
            raise refusal(
                f"{what} is busy: {holder()} held its lock for {timeout} s; "
                "try again when it finishes"
            )
        if not announced:
            print(f"gates: waiting up to {timeout} s for {holder()} to release {what}", flush=True)
            announced = True
        time.sleep(interval)


class FileLock:
    """An ``flock`` on ``path`` guarding ``what`` (e.g. "environment staging") against
    ``others`` (who else takes it, e.g. "another deploy, rollback or down")."""

    def __init__(
        self,
        path: Path,
        what: str,
        others: str,
        refusal: type[GateError] = Busy,
        interval: float = 0.2,
    ) -> None:
        self.path, self.what, self.others = path, what, others
        self.refusal, self.interval = refusal, interval
        self._handle: IO[str] | None = None

    def try_acquire(self) -> bool:
        """Take the lock if it is free (True), without waiting."""
        handle = open(self.path, "a+")  # never truncated before it is ours: it names the holder
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            return False
        self._taken(handle)
        return True

    def acquire(self, timeout: float | None) -> "FileLock":
        """Hold the lock, waiting up to ``timeout`` s (``refusal``, exit 3, after), or with
        None as long as it takes (saying once for whom it waits)."""
        if timeout is not None:
            wait_for(self.try_acquire, timeout, self.what, self.holder, self.interval, self.refusal)
        elif not self.try_acquire():
            print(f"gates: waiting for {self.holder()} to release {self.what}", flush=True)
            handle = open(self.path, "a+")
            try:
                fcntl.flock(handle, fcntl.LOCK_EX)
            except BaseException:
                handle.close()
                raise
            self._taken(handle)
        return self

    def _taken(self, handle: IO[str]) -> None:
        self._handle = handle
        me = processes.identify(os.getpid())
        handle.seek(0)
        handle.truncate()
        if me is not None:
            handle.write(json.dumps({"pid": me.pid, "create_time": me.create_time}) + "\n")
        handle.flush()

    def holder(self) -> str:
        """Who holds the lock: ``others``, with the holder's pid and command line when its
        record names a process that still runs."""
        identity = _recorded(self.path)
        command = None if identity is None else processes.command_line(identity)
        if identity is None or command is None:
            return self.others
        return f"{self.others} (pid {identity.pid}: {_shortened(command)})"

    def release(self) -> None:
        if self._handle is not None:
            self._handle.truncate(0)  # still ours: the next holder finds no stale name
            self._handle.close()  # closing releases the flock
            self._handle = None

    def __enter__(self) -> "FileLock":
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.release()


def _recorded(path: Path) -> processes.Identity | None:
    """The identity a lock file records, None when it records none (or a malformed one)."""
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict):
        return None
    pid, created = data.get("pid"), data.get("create_time")
    if isinstance(pid, int) and not isinstance(pid, bool) and pid > 0:
        if isinstance(created, (int, float)) and not isinstance(created, bool):
            return processes.Identity(pid, float(created))
    return None


def _shortened(command: str, width: int = 100) -> str:
    """One line of at most ``width`` characters (an error stays one line)."""
    line = " ".join(command.split())
    return line if len(line) <= width else line[: width - 3] + "..."
