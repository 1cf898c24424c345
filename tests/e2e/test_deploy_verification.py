"""What a deploy checks before the ledger says succeeded.

Pre-flight exercises the service's contract (smoke's checks, each with a deadline) on a
private socket, so a release that hangs never takes traffic. After the cutover, the
environment must serve the new deployment through its real port, from every worker, over a
sustained check; if it does not, the old master (kept through the handover) serves again and
the ledger says failed, with the reason.
"""

import time

from gates.ledger import Ledger
from gates.perf.load import ConstantRateLoad
from gates.targets import probe
from support.timeouts import HANG


def ledger(repo):
    return Ledger(repo.state / "ledger.sqlite")


def serving(repo):
    return probe.get("/ready", port=repo.port("staging"), timeout=HANG).release


def test_a_release_whose_api_data_hangs_fails_pre_flight_and_never_takes_traffic(scenario):
    repo = scenario("A", "FAULTY")
    repo.gates("deploy", "--environment", "staging", "--release", repo.releases["A"])
    repo.set_service_env("staging", TEST_FAULT="hang")
    hang = repo.releases["FAULTY"]
    # Only /health under load, as in the report: it never touches the hanging endpoint.
    load = ConstantRateLoad(repo.port("staging"), paths=("/health",), rate=40, timeout=HANG)
    load.start()
    try:
        done = repo.gates("deploy", "--environment", "staging", "--release", hang, check=False)
    finally:
        result = load.stop()
    assert done.returncode == 1, done.stdout + done.stderr
    assert f"release {hang} failed pre-flight and never took traffic" in done.stderr
    assert "GET /api/data" in done.stderr
    row = ledger(repo).deploys("staging")[-1]
    assert (row["release_id"], row["state"]) == (hang, "failed")
    assert serving(repo) == repo.releases["A"]
    assert result.samples and not result.failures, result.failures[:5]


def test_a_release_that_breaks_once_it_takes_traffic_is_rolled_back_to_the_old_master(scenario):
    repo = scenario("A", "FAULTY")
    repo.gates("deploy", "--environment", "staging", "--release", repo.releases["A"])
    (old,) = repo.masters("staging")
    repo.set_service_env("staging", TEST_FAULT="late-crash")
    bad = repo.releases["FAULTY"]
    done = repo.gates("deploy", "--environment", "staging", "--release", bad, check=False)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "pre-flight" not in done.stderr  # it passed pre-flight; the port check caught it
    row = ledger(repo).deploys("staging")[-1]
    assert (row["release_id"], row["state"]) == (bad, "failed")
    assert row["error"] and "through 127.0.0.1" in row["error"]
    # The old master, kept through the handover, serves again; nothing of the bad one runs.
    assert [m["pid"] for m in repo.masters("staging")] == [old["pid"]]
    assert repo.current("staging") == old["deployment"]
    deadline = time.monotonic() + HANG
    while serving(repo) != repo.releases["A"] and time.monotonic() < deadline:
        time.sleep(0.1)  # the old master's workers may still be starting
    assert serving(repo) == repo.releases["A"]
