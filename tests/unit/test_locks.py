"""The one flock helper (gates.locks.FileLock): who holds it is said on contention, a killed
holder blocks nobody, and a record whose pid now belongs to another process names nobody."""

import json
import os
import signal
import subprocess
import sys
import threading
import time

import pytest

from gates import processes
from gates.locks import Busy, FileLock
from support.timeouts import HANG

HOLD = """
import sys, time
from pathlib import Path
from gates.locks import FileLock
with FileLock(Path(sys.argv[1]), "environment staging", "another deploy").acquire(5):
    print("held", flush=True)
    time.sleep(60)
"""
OTHERS = "another deploy, rollback or down"


@pytest.fixture
def holder(tmp_path):
    """Another process holding the lock at tmp_path / "lock"."""
    process = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(tmp_path / "lock")], stdout=subprocess.PIPE, text=True
    )
    assert process.stdout.readline() == "held\n"
    yield process
    process.kill()
    process.wait(HANG)
    process.stdout.close()


def test_contention_says_who_holds_the_lock(tmp_path, holder, capsys):
    lock = FileLock(tmp_path / "lock", "environment staging", OTHERS)
    assert not lock.try_acquire()
    with pytest.raises(Busy) as refused:
        lock.acquire(0.3)
    message = str(refused.value)
    assert message.startswith(f"environment staging is busy: {OTHERS} (pid {holder.pid}: ")
    assert "from gates.locks import FileLock" in message  # the holder's command line
    assert message.endswith("held its lock for 0.3 s; try again when it finishes")
    assert "\n" not in message
    out = capsys.readouterr().out
    assert f"waiting up to 0.3 s for {OTHERS} (pid {holder.pid}: " in out


def test_a_holder_killed_with_9_blocks_nobody_and_names_nobody(tmp_path, holder):
    lock = FileLock(tmp_path / "lock", "environment staging", OTHERS)
    holder.send_signal(signal.SIGKILL)
    holder.wait(HANG)
    assert json.loads((tmp_path / "lock").read_text())["pid"] == holder.pid  # its record stays
    assert lock.holder() == OTHERS  # but names a process that ended: nobody
    with lock.acquire(1):
        assert json.loads((tmp_path / "lock").read_text())["pid"] == os.getpid()
    assert (tmp_path / "lock").read_text() == ""  # released: no stale name left


def test_a_recorded_pid_another_process_now_has_names_nobody(tmp_path):
    me = processes.identify(os.getpid())
    recycled = {"pid": me.pid, "create_time": me.create_time - 5}  # our pid, not our start
    (tmp_path / "lock").write_text(json.dumps(recycled))
    assert FileLock(tmp_path / "lock", "x", OTHERS).holder() == OTHERS
    for garbage in ("", "{not json", "[]", '{"pid": true, "create_time": 1}', '{"pid": -1}'):
        (tmp_path / "lock").write_text(garbage)
        assert FileLock(tmp_path / "lock", "x", OTHERS).holder() == OTHERS


def test_without_a_timeout_it_waits_as_long_as_it_takes(tmp_path, capsys):
    first = FileLock(tmp_path / "lock", "the engine", "another up").acquire(None)
    threading.Timer(0.3, first.release).start()
    began = time.monotonic()
    with FileLock(tmp_path / "lock", "the engine", "another up").acquire(None):
        assert time.monotonic() - began >= 0.2
    assert f"waiting for another up (pid {os.getpid()}: " in capsys.readouterr().out


def test_the_refusal_can_be_another_error(tmp_path):
    from gates.outcome import MeasurementError

    with FileLock(tmp_path / "lock", "the build area", "another build").acquire(1):
        second = FileLock(
            tmp_path / "lock", "the build area", "another build", refusal=MeasurementError
        )
        with pytest.raises(MeasurementError, match="the build area is busy: another build"):
            second.acquire(0.1)
