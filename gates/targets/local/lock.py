"""The lock of one environment: one command at a time changes it.

An advisory ``flock`` on the environment's lock file; the kernel releases it when the holder
dies, kill -9 included, so a crashed command never leaves the environment locked.
"""

import fcntl
from pathlib import Path
from types import TracebackType
from typing import IO

from gates.targets.lock import Busy, wait_for

__all__ = ["Busy", "EnvironmentLock"]
ANOTHER = "another deploy, rollback or down"


class EnvironmentLock:
    def __init__(self, path: Path, name: str) -> None:
        self.path, self.name = path, name
        self._handle: IO[str] | None = None

    def acquire(self, timeout: float) -> "EnvironmentLock":
        """Hold the lock, waiting up to ``timeout`` s; Busy (exit 3) after."""
        wait_for(self.try_acquire, timeout, self.name, lambda: ANOTHER, 0.2)
        return self

    def try_acquire(self) -> bool:
        """Take the lock if it is free (True), without waiting."""
        handle = open(self.path, "a+")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            return False
        self._handle = handle
        return True

    def release(self) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None

    def __enter__(self) -> "EnvironmentLock":
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.release()
