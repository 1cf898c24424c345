"""One process identity (gates.processes) for every process the pipeline names: a pid whose
process started at another time is someone else's, and is never signalled."""

import os
import subprocess
import sys
from dataclasses import replace

import pytest

from gates import processes
from gates.engine import daemons
from gates.engine.record import Started


@pytest.fixture
def sleeper():
    process = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    yield process
    process.kill()
    process.wait(10)


def test_an_engine_daemon_is_an_identity_and_a_recycled_pid_is_not_signalled(sleeper):
    identity = processes.identify(sleeper.pid)
    daemon = Started(identity.pid, identity.create_time, "dockerd")
    assert daemon.alive and daemon.process().pid == sleeper.pid
    recycled = replace(daemon, create_time=daemon.create_time - 5)  # the pid, another process
    assert not recycled.alive and recycled.process() is None
    assert daemons.stop(recycled) == f"dockerd (pid {sleeper.pid}) had already ended"
    assert sleeper.poll() is None
    assert daemons.stop(daemon, timeout=10).startswith(f"dockerd (pid {sleeper.pid}) stopped in")
    assert not daemon.alive


def test_a_lock_holder_has_ended_only_when_known_to_have(sleeper):
    identity = processes.identify(sleeper.pid)
    assert not processes.has_ended(identity)
    assert processes.has_ended(replace(identity, create_time=identity.create_time - 5))
    assert processes.has_ended(processes.Identity(2**22 + 12345, 1.0))
    sleeper.kill()
    sleeper.wait(10)
    assert processes.has_ended(identity)


def test_the_command_line_is_told_only_for_the_identified_process(sleeper):
    identity = processes.identify(sleeper.pid)
    assert processes.command_line(identity).endswith("import time; time.sleep(60)")
    assert processes.command_line(replace(identity, create_time=identity.create_time + 1)) is None
    assert processes.command_line(processes.identify(os.getpid())) is not None
