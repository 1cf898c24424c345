"""A master record naming a process the pipeline did not start is never trusted.

An adversarial run against the pipeline wrote a master record with ``"start_ticks": null``
for an unrelated ``sleep`` into staging's run directory: ``status`` listed the sleep as
staging's master and ``down`` killed it. Here each kind of forged or stale record names a
real, unrelated sleep: status must not list it, down must not signal it, the sleep lives on.
"""

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time

import psutil
import pytest

from gates import cli
from gates.config import load_config
from gates.ledger import Ledger
from support.pipeline_project import make_project
from support.timeouts import STOP_TIMEOUT

RECORD = {"role": "live", "release_id": "a" * 16, "deployment": "a" * 16 + "-k"}


def forged(pid, started):
    """Record fields per case, as the JSON text a forger (or a stale file) leaves."""
    ticks = round((started - psutil.boot_time()) * os.sysconf("SC_CLK_TCK"))
    now = time.time()
    return {
        "start_ticks null": {"pid": pid, "start_ticks": None},
        "no stamp at all": {"pid": pid},
        "recorded_at null": {"pid": pid, "recorded_at": None},
        "recorded_at as text": {"pid": pid, "recorded_at": str(now)},
        "recorded before the process started": {"pid": pid, "recorded_at": started - 3600},
        "start ticks of another process": {"pid": pid, "start_ticks": ticks + 500},
        "recorded_at NaN": {"pid": pid, "recorded_at": float("nan")},
        "recorded_at Infinity": {"pid": pid, "recorded_at": float("inf")},
        "recorded_at a day ahead": {"pid": pid, "recorded_at": now + 86400},
        "pid as text": {"pid": str(pid), "recorded_at": now},
        # A stamp that fits, but the process does not run in the environment's directory.
        "a fitting stamp": {"pid": pid, "recorded_at": now},
        "a fitting stamp, pre-flight role": {"pid": pid, "recorded_at": now, "role": "preflight"},
        "fitting start ticks": {"pid": pid, "start_ticks": ticks},
    }


CASES = list(forged(1, 0.0))


@pytest.fixture
def project(tmp_path, monkeypatch):
    monkeypatch.delenv("PIPELINE_STATE_DIR", raising=False)
    config = make_project(tmp_path / "project")
    home = tmp_path / "project" / ".pipeline" / "environments" / "staging"
    (home / "run").mkdir(parents=True)
    Ledger.open(load_config(config), create=True).close()  # as the deploy that made `home` did
    return config, home


MASTER = """\
import subprocess, sys, time
worker = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)"])
print(worker.pid, flush=True)
time.sleep(300)
"""


def start_sleep(cwd):
    return subprocess.Popen([shutil.which("sleep") or "sleep", "300"], cwd=cwd)


def write_record(home, pid, fields):
    record = {**RECORD, **fields}
    (home / "run" / f"master-{pid}.json").write_text(json.dumps(record))


def status_and_down(config, capsys):
    """(status's code and output, down's code and output)"""
    status = cli.main(["--config", str(config), "status"])
    listed = capsys.readouterr()
    down = cli.main(["--config", str(config), "down", "--environment", "staging"])
    stopped = capsys.readouterr()
    return (status, listed.out + listed.err), (down, stopped.out + stopped.err)


@pytest.mark.parametrize("case", CASES)
def test_a_forged_master_record_is_never_trusted(project, tmp_path, case, capsys):
    config, home = project
    sleep = start_sleep(tmp_path)
    try:
        started = psutil.Process(sleep.pid).create_time()
        write_record(home, sleep.pid, forged(sleep.pid, started)[case])

        (status, listed), (down, stopped) = status_and_down(config, capsys)

        assert status == 0 and "not running" in listed and str(sleep.pid) not in listed, listed
        assert down == 0 and "stopped (0 server(s))" in stopped, stopped
        assert sleep.poll() is None, f"the unrelated sleep was signalled ({sleep.returncode})"
    finally:
        sleep.kill()
        sleep.wait(STOP_TIMEOUT)


@pytest.mark.parametrize("pid", [-1, 0, 2**22 + 12345])
def test_a_record_with_an_impossible_pid_is_not_a_traceback(project, pid, capsys):
    config, home = project
    write_record(home, pid, {"pid": pid, "recorded_at": time.time()})
    (status, listed), (down, stopped) = status_and_down(config, capsys)
    assert status == 0 and "not running" in listed, listed
    assert down == 0 and "stopped (0 server(s))" in stopped, stopped


def test_a_master_running_in_its_environment_is_found_and_stopped(project, capsys):
    """The control: the checks above reject forgeries, not every master."""
    config, home = project
    # Like a gunicorn master, it runs a worker (so converge has no workers to ask it for).
    master = subprocess.Popen([sys.executable, "-c", MASTER], cwd=home, stdout=subprocess.PIPE)
    worker = int(master.stdout.readline())
    try:
        write_record(home, master.pid, {"pid": master.pid, "recorded_at": time.time()})
        (status, listed), (down, stopped) = status_and_down(config, capsys)
        # Found and listed; it serves nothing on the port, so status says it does not serve.
        assert status == 1 and str(master.pid) in listed and "UNHEALTHY" in listed, listed
        assert down == 0 and "stopped (1 server(s))" in stopped, stopped
        assert master.wait(STOP_TIMEOUT) == -signal.SIGTERM
    finally:
        master.kill()
        master.wait(STOP_TIMEOUT)
        master.stdout.close()
        with contextlib.suppress(psutil.NoSuchProcess):
            psutil.Process(worker).kill()
