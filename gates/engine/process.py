"""Daemons ``gates engine up`` starts (dockerd, the registry), recognised by pid *and* start time.

A daemon is started in a session of its own (so it outlives the command and a terminal's
signals), its output appended to a log file. ``Started`` is what the engine's record keeps;
before a signal is sent, the process at that pid must have that start time, so a pid reused
by another process after ours ended is never signalled.
"""

from __future__ import annotations

import os
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil

from gates.outcome import MeasurementError

SAME_START = 0.01  # psutil's start times are exact to a clock tick


@dataclass(frozen=True)
class Started:
    pid: int
    create_time: float
    argv0: str

    def as_json(self) -> dict[str, Any]:
        return {"pid": self.pid, "create_time": self.create_time, "argv0": self.argv0}

    @classmethod
    def from_json(cls, data: object) -> Started | None:
        """The record's entry, or None when there is none (or it is not one of ours)."""
        if not isinstance(data, dict):
            return None
        pid, created, argv0 = data.get("pid"), data.get("create_time"), data.get("argv0")
        if isinstance(pid, int) and isinstance(created, (int, float)) and isinstance(argv0, str):
            return cls(pid, float(created), argv0)
        return None

    def process(self) -> psutil.Process | None:
        """The live process this names, or None when it has ended (or the pid is another's)."""
        try:
            process = psutil.Process(self.pid)
            same = abs(process.create_time() - self.create_time) <= SAME_START
            if not same or process.status() == psutil.STATUS_ZOMBIE:
                return None
        except psutil.Error:
            return None
        return process

    @property
    def alive(self) -> bool:
        return self.process() is not None


def spawn(argv: list[str], log: Path) -> tuple[Started, subprocess.Popen[bytes]]:
    """Start ``argv`` as a daemon in its own session, stdout and stderr appended to ``log``."""
    log.parent.mkdir(parents=True, exist_ok=True)
    try:
        with open(log, "ab") as out:
            child = subprocess.Popen(
                argv, stdin=subprocess.DEVNULL, stdout=out, stderr=out, start_new_session=True
            )
    except OSError as exc:
        raise MeasurementError(f"{argv[0]} could not start: {exc.strerror}") from None
    # The child is ours until reaped, so its pid cannot have been reused yet.
    created = psutil.Process(child.pid).create_time()
    return Started(child.pid, created, argv[0]), child


def stop(started: Started, timeout: float = 30.0) -> str:
    """SIGTERM, then SIGKILL after ``timeout`` s; what happened, in words."""
    process = started.process()
    if process is None:
        return f"{started.argv0} (pid {started.pid}) had already ended"
    began = time.monotonic()
    try:
        process.terminate()
        process.wait(timeout)
    except psutil.TimeoutExpired:
        process.kill()
        process.wait(10)
        return f"{started.argv0} (pid {started.pid}) did not stop within {timeout:.0f} s: killed"
    except psutil.NoSuchProcess:
        pass
    return f"{started.argv0} (pid {started.pid}) stopped in {time.monotonic() - began:.1f} s"


def last_log_line(log: Path) -> str:
    """The last non-blank line of a daemon's log, for a one-line failure."""
    try:
        with open(log, "rb") as handle:
            handle.seek(max(0, os.path.getsize(log) - 8192))
            lines = [line.strip() for line in handle.read().decode(errors="replace").splitlines()]
    except OSError:
        return f"no log at {log}"
    found = [line for line in lines if line]
    return found[-1] if found else f"{log} is empty"
