"""Processes the pipeline started, recognised by pid *and* start time, never by pid alone."""

import os
import signal
import time
from pathlib import Path

PROC = Path("/proc")


def _stat_fields(pid):
    """Fields of /proc/<pid>/stat after the command name (state is [0], ppid [1])."""
    try:
        text = (PROC / str(pid) / "stat").read_text()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    return text.rsplit(")", 1)[1].split()


def start_ticks(pid):
    """When the process started, in clock ticks since boot: a pid reused later differs."""
    fields = _stat_fields(pid)
    return int(fields[19]) if fields else None


def is_running(pid, ticks=None):
    """True when ``pid`` is alive (not a zombie) and, given ``ticks``, the same process."""
    fields = _stat_fields(pid)
    if fields is None or fields[0] in ("Z", "X"):
        return False
    return ticks is None or int(fields[19]) == ticks


def children(pid):
    """Pids of the live child processes of ``pid``."""
    found = []
    for entry in PROC.iterdir():
        if entry.name.isdigit():
            fields = _stat_fields(entry.name)
            if fields and fields[0] not in ("Z", "X") and int(fields[1]) == pid:
                found.append(int(entry.name))
    return found


def send(pid, ticks, sig):
    """Signal the process only if it is still the one recorded; False if it is gone."""
    if not is_running(pid, ticks):
        return False
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        return False
    _reap(pid)
    return True


def _reap(pid):
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass  # not our child: init reaps it


def wait_until(condition, timeout, interval=0.05):
    """Poll ``condition`` until true or ``timeout`` seconds pass; return its last value."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value or time.monotonic() >= deadline:
            return value
        time.sleep(interval)


def stop(pid, ticks, timeout):
    """TERM (graceful), then KILL the process and its group if it outlives ``timeout``."""
    if not send(pid, ticks, signal.SIGTERM):
        return True
    if wait_until(lambda: _gone(pid, ticks), timeout):
        return True
    if is_running(pid, ticks):
        try:
            os.killpg(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)
    return wait_until(lambda: _gone(pid, ticks), 10)


def _gone(pid, ticks):
    _reap(pid)
    return not is_running(pid, ticks)
