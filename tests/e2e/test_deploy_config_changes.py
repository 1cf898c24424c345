"""Config-only deploys (the same release with a new deployment config), interrupted or not.

A deployment is a release plus its config. After any interruption the ledger and what serves
must agree on the *deployment*, not just the release: the newest succeeded deploy in the
ledger, the one master that runs, the ``current`` pointer and the answers on the port.
"""

import json
import signal
import time

import psutil
import pytest

from gates import httpget
from gates.ledger import Ledger
from gates.perf.load import ConstantRateLoad
from support.timeouts import HANG

SERVICE_CONFIG = "python:techcorp_api.gunicorn_conf"


def ledger(repo):
    return Ledger(repo.state / "ledger.sqlite")


def recorded_live(repo, environment):
    """The deployment the ledger says serves: the newest succeeded deploy's key."""
    row = ledger(repo).last_succeeded(environment)
    return json.loads(row["config"])["key"] if row else None


def assert_ledger_equals_what_serves(repo, environment, through_port=True):
    running = [m["deployment"] for m in repo.masters(environment)]
    assert len(running) == 1, running
    assert not ledger(repo).in_flight(environment)
    recorded = recorded_live(repo, environment)
    assert (running[0], repo.current(environment)) == (recorded, recorded)
    if through_port:
        _, headers, _ = httpget.fetch("/ready", port=repo.port(environment), timeout=HANG)
        assert headers.get("x-deployment-id") == recorded
    return recorded


def deploy_killed_at(repo, state, delay=0.0):
    """Start a deploy of release A to staging; kill -9 it ``delay`` s after its ledger row
    reaches ``state``."""
    process = repo.popen("deploy", "--environment", "staging", "--release", repo.releases["A"])
    book = ledger(repo)
    before = len(book.deploys("staging"))
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and process.poll() is None:
        rows = book.deploys("staging")[before:]
        if rows and rows[-1]["state"] == state:
            time.sleep(delay)
            process.send_signal(signal.SIGKILL)
            break
        time.sleep(0.005)
    output = process.communicate(timeout=60)[0]
    assert process.returncode == -signal.SIGKILL, f"not killed at {state}:\n{output}"


@pytest.fixture
def config_change(scenario):
    """Staging serving release A with config 1; config 2 declared, not yet deployed."""
    repo = scenario("A")
    repo.gates("deploy", "--environment", "staging", "--release", repo.releases["A"])
    first = assert_ledger_equals_what_serves(repo, "staging", through_port=False)
    repo.set_service_env("staging", GREETING="config-2")
    return repo, first


def test_kill_9_while_switching_a_config_converges_then_the_deploy_completes(config_change):
    repo, first = config_change
    deploy_killed_at(repo, "switching", delay=0.3)

    repo.gates("status", "--environment", "staging")
    assert assert_ledger_equals_what_serves(repo, "staging") == first
    assert ledger(repo).deploys("staging")[-1]["state"] == "failed"

    # The new config was never verified: deploying it again does it, not "nothing to do".
    done = repo.gates("deploy", "--environment", "staging", "--release", repo.releases["A"])
    assert "nothing to do" not in done.stdout
    second = assert_ledger_equals_what_serves(repo, "staging")
    assert second != first and ledger(repo).deploys("staging")[-1]["state"] == "succeeded"


def test_kill_9_just_after_a_config_was_verified_completes_it(config_change):
    repo, first = config_change
    deploy_killed_at(repo, "verified")

    repo.gates("status", "--environment", "staging")
    second = assert_ledger_equals_what_serves(repo, "staging")
    assert second != first
    row = ledger(repo).deploys("staging")[-1]
    assert (row["state"], json.loads(row["config"])["key"]) == ("succeeded", second)


def test_a_master_from_an_earlier_pipeline_is_handed_over_under_load_and_handovers_repeat(
    config_change,
):
    """A master whose record lacks winch_stops_workers (started before the handover stopped
    old workers with WINCH) keeps serving until the new deployment is verified beside it.
    Handovers repeat without growing the master's command line (one scenario: the second
    handover needs the first)."""
    repo, first = config_change
    (record,) = (repo.state / "environments" / "staging" / "run").glob("master-*.json")
    data = json.loads(record.read_text())
    del data["winch_stops_workers"]
    record.write_text(json.dumps(data))
    load = ConstantRateLoad(repo.port("staging"), rate=40, timeout=HANG).start()
    try:
        repo.gates("deploy", "--environment", "staging", "--release", repo.releases["A"])
    finally:
        result = load.stop()
    assert assert_ledger_equals_what_serves(repo, "staging") != first
    assert result.samples and not result.failures, result.failures[:5]
    repo.set_service_env("staging", GREETING="config-3")
    repo.gates("deploy", "--environment", "staging", "--release", repo.releases["A"])
    (master,) = repo.masters("staging")
    argv = psutil.Process(master["pid"]).cmdline()
    assert argv.count(SERVICE_CONFIG) == 1, argv
