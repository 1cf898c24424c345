"""Waits end as soon as their outcome is known, and interrupted pre-flights leave nothing.

A timeout bounds a hang; here it is set far above what the outcome needs, and the tests
check the deploy did not sit it out: each bound below is the configured timeout the deploy
must not wait for (or a hang guard from support.timeouts), never a speed this machine must
reach. The behaviour (which check ended the wait, and why) is asserted from the output.
"""

import signal
import socket
import time
from pathlib import Path

from gates.ledger import Ledger
from gates.targets import probe
from support.timeouts import HANG, STOP_TIMEOUT

# Far above what any outcome here needs: a deploy that took this long sat out the timeout.
SIT_OUT = 240


def ledger(repo):
    return Ledger(repo.state / "ledger.sqlite")


def serving(repo):
    return probe.get("/ready", port=repo.port("staging"), timeout=HANG).release


def timed_from(process, marker):
    """(output, seconds from the line containing ``marker`` to the end of the process)."""
    lines, started = [], None
    for line in process.stdout:
        lines.append(line)
        if started is None and marker in line:
            started = time.monotonic()
    process.wait(timeout=60)
    process.stdout.close()
    assert started is not None, "".join(lines)
    return "".join(lines), time.monotonic() - started


def test_a_release_dying_in_the_handover_is_detected_when_its_master_exits(scenario):
    repo = scenario("A", "FAULTY")
    repo.gates("deploy", "--environment", "staging", "--release", repo.releases["A"])
    repo.set_deploy_timeout("cutover_timeout", SIT_OUT)
    repo.set_service_env("staging", TEST_FAULT="live-crash")
    bad = repo.releases["FAULTY"]
    process = repo.popen("deploy", "--environment", "staging", "--release", bad)
    output, seconds = timed_from(process, "cutting over")
    assert process.returncode == 1, output
    # Ended by the crash (the master exiting, or its port check failing), not the timeout.
    assert "crashes once it is to take traffic" in output, output
    assert f"within {SIT_OUT} s" not in output, output
    assert seconds < SIT_OUT, f"sat out the {SIT_OUT} s timeout:\n{output}"
    row = ledger(repo).deploys("staging")[-1]
    assert (row["release_id"], row["state"]) == (bad, "failed")
    assert serving(repo) == repo.releases["A"]


def test_a_port_in_use_fails_fast_with_one_line(scenario):
    repo = scenario("A")
    for name in ("preflight_timeout", "cutover_timeout"):
        repo.set_deploy_timeout(name, SIT_OUT)
    with socket.socket() as other_program:
        other_program.bind(("127.0.0.1", repo.port("staging")))
        other_program.listen()
        started = time.monotonic()
        done = repo.gates(
            "deploy", "--environment", "staging", "--release", repo.releases["A"], check=False
        )
        seconds = time.monotonic() - started
    assert done.returncode == 3, done.stdout + done.stderr
    assert done.stderr.count("\n") == 1 and "in use" in done.stderr, done.stderr
    assert "Traceback" not in done.stderr
    assert seconds < SIT_OUT, f"took {seconds:.0f} s: it waited for a timeout"
    assert ledger(repo).deploys("staging") == []  # nothing was deployed
    assert repo.masters("staging") == []


def test_a_hung_pre_flight_costs_its_timeout_not_more(scenario):
    repo = scenario("A", "FAULTY")
    repo.gates("deploy", "--environment", "staging", "--release", repo.releases["A"])
    repo.set_deploy_timeout("preflight_timeout", 5)
    repo.set_service_env("staging", TEST_FAULT="ready-hang")
    bad = repo.releases["FAULTY"]
    process = repo.popen("deploy", "--environment", "staging", "--release", bad)
    output, seconds = timed_from(process, "pre-flight of")
    assert process.returncode == 1, output
    assert "failed pre-flight" in output
    # Ended by its own timeout (the release's /ready sleeps an hour): the message names it.
    assert "not ready within 5 s" in output, output
    # A hang guard, not a speed: the pre-flight server's stop and cleanup, on a busy machine.
    bound = 5 + STOP_TIMEOUT
    assert seconds < bound, f"pre-flight of 5 s took {seconds:.0f} s:\n{output}"
    assert serving(repo) == repo.releases["A"]


def test_kill_9_during_pre_flight_leaves_no_socket_directory(scenario):
    repo = scenario("A", "B")
    repo.gates("deploy", "--environment", "staging", "--release", repo.releases["A"])
    process = repo.popen("deploy", "--environment", "staging", "--release", repo.releases["B"])
    for line in process.stdout:
        if "pre-flight of" in line:
            process.send_signal(signal.SIGKILL)
            break
    process.wait(timeout=60)
    process.stdout.close()
    socket_path = Path(line.rstrip().rsplit(" on ", 1)[1])

    repo.gates("status", "--environment", "staging")
    assert not socket_path.exists()
    assert not socket_path.parent.exists()
    assert serving(repo) == repo.releases["A"]
