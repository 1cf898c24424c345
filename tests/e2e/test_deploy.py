"""Deploys, cutovers and rollbacks of real releases to real local environments, under load.

Every test is its own scenario: its own clone, state, ports and servers, set up from the
releases built once per run (see deploy_fixture), so the scenarios run in parallel.
"""

import re
import signal
import time

import pytest

from gates.targets import probe
from gates.ledger import Ledger
from gates.perf.load import ConstantRateLoad
from support.timeouts import HANG

RATE = 60  # requests/s through the environment's port while it changes


def serving(repo, environment):
    return probe.get("/ready", port=repo.port(environment), timeout=HANG).release


def under_load(repo, environment, *gates_args, check=True):
    """Run a gates command while ConstantRateLoad hits the environment; (result, load)."""
    load = ConstantRateLoad(repo.port(environment), rate=RATE, timeout=HANG).start()
    time.sleep(1.0)  # some traffic before the change, too
    try:
        done = repo.gates(*gates_args, check=check)
        time.sleep(1.0)
    finally:
        result = load.stop()
    return done, result


def assert_no_failures(result, minimum_seconds=2):
    # Traffic flowed throughout (a busy machine may send it late, never not at all); how fast
    # it was answered is the perf gate's business, not this test's.
    assert len(result.samples) >= RATE * minimum_seconds / 2
    failures = [(s.status, s.error) for s in result.failures]
    assert failures == [], f"{len(failures)} failed of {len(result.samples)}: {failures[:5]}"


def ledger(repo):
    return Ledger(repo.state / "ledger.sqlite")


def pass_staging_gates(repo):
    repo.gates("smoke", "--environment", "staging")
    repo.gates("perf", "--environment", "staging")


def staging_serving(repo, name):
    repo.gates("deploy", "--environment", "staging", "--release", repo.releases[name])
    assert serving(repo, "staging") == repo.releases[name]


def test_first_deploys_promotion_and_rollback_under_load_then_nothing_good_left(scenario):
    """One history, in the order a team lives it (one scenario: each step is the set-up of
    the next). First deploys start both environments, production by promotion of what
    staging runs once it passed staging's gates; a release that skipped staging is refused
    there; the next one is promoted, rolled back under load with no failed request, and then
    nothing good is left to roll back to."""
    repo = scenario("A", "B")
    # B's perf run has A's as its baseline here: regression floors a busy machine meets (the
    # comparison is tested in test_verification_gates.py; promotion needs perf to pass).
    repo.set_config(regression_min_ratio=5, regression_tail_ratio=10, regression_min_ms=50)
    a, b = repo.releases["A"], repo.releases["B"]
    # first deploys: staging, then production by promotion
    staging_serving(repo, "A")
    pass_staging_gates(repo)
    repo.gates("deploy", "--environment", "production")  # promotes what staging runs
    assert serving(repo, "production") == a
    status = repo.gates("status").stdout
    assert re.search(rf"staging +http\S+ +{a}", status) and "healthy" in status

    # a release that skipped staging is refused in production
    done = repo.gates("deploy", "--environment", "production", "--release", b, check=False)
    assert done.returncode == 1
    assert f"{b} lacks a successful deploy to staging" in done.stderr
    assert "a passing smoke gate in staging (not run)" in done.stderr
    assert serving(repo, "production") == a

    # the next release through staging, promoted, then rolled back under load
    staging_serving(repo, "B")
    pass_staging_gates(repo)
    repo.gates("deploy", "--environment", "production")
    assert serving(repo, "production") == b
    done, load = under_load(
        repo, "production", "rollback", "--environment", "production", "--reason", "drill"
    )
    assert_no_failures(load)
    assert serving(repo, "production") == a
    rows = ledger(repo).deploys("production")
    assert (rows[-1]["kind"], rows[-1]["release_id"], rows[-1]["reason"]) == (
        "rollback",
        a,
        "drill",
    )
    results = ledger(repo).gate_results("production", b)
    assert [(r["gate"], r["exit_code"]) for r in results] == [("rollback", 1)]

    # production's history: A (live now), B (rolled back from, so not good).
    done = repo.gates("rollback", "--environment", "production", "--reason", "again", check=False)
    assert done.returncode == 1
    assert "nothing to roll back to in production" in done.stderr
    assert serving(repo, "production") == a


def test_redeploying_the_live_release_is_a_noop_and_down_stops_it(scenario):
    repo = scenario("A")
    staging_serving(repo, "A")
    done = repo.gates("deploy", "--environment", "staging", "--release", repo.releases["A"])
    assert "already live in staging with this config; nothing to do" in done.stdout
    assert len(repo.masters("staging")) == 1
    repo.gates("down", "--environment", "staging")
    assert repo.masters("staging") == []
    assert probe.get("/health", port=repo.port("staging")).status == 0


@pytest.mark.parametrize(
    "broken, fault", [("CRASH", None), ("NOTREADY", None), ("FAULTY", "lostfield")]
)
def test_broken_release_never_takes_traffic(scenario, broken, fault):
    repo = scenario("A", broken)
    staging_serving(repo, "A")
    if fault:
        repo.set_service_env("staging", TEST_FAULT=fault)
    if broken == "NOTREADY":
        # It never gets ready, however long it is given: wait 5 s, not 30. (The others keep
        # 30 s: each must start on a busy machine before its own failure shows.)
        repo.set_deploy_timeout("preflight_timeout", 5)
    release = repo.releases[broken]
    done, load = under_load(
        repo, "staging", "deploy", "--environment", "staging", "--release", release, check=False
    )
    assert done.returncode == 1
    assert f"release {release} failed pre-flight and never took traffic" in done.stderr
    assert_no_failures(load)
    assert serving(repo, "staging") == repo.releases["A"]
    row = ledger(repo).deploys("staging")[-1]
    assert (row["release_id"], row["state"]) == (release, "failed")
    if broken == "CRASH":
        assert "broken release" in done.stderr  # the tail of the new release's log
    if fault == "lostfield":
        assert "GET /api/data: field 'environment' missing" in done.stderr


def test_deploy_under_load_has_zero_failed_requests(scenario):
    repo = scenario("A", "B")
    staging_serving(repo, "A")
    b = repo.releases["B"]
    done, load = under_load(repo, "staging", "deploy", "--environment", "staging", "--release", b)
    assert_no_failures(load)
    assert serving(repo, "staging") == b
    assert len(repo.masters("staging")) == 1
    served = {s.status for s in load.samples}
    assert served == {200}
    row = ledger(repo).deploys("staging")[-1]
    assert (row["release_id"], row["state"], row["previous_release"]) == (
        b,
        "succeeded",
        repo.releases["A"],
    )


def test_concurrent_deploys_do_not_corrupt_anything(scenario):
    repo = scenario("A", "B")
    staging_serving(repo, "B")
    a = repo.releases["A"]
    first = repo.popen("deploy", "--environment", "staging", "--release", a)
    second = repo.popen("deploy", "--environment", "staging", "--release", a)
    outputs = [p.communicate(timeout=300)[0] for p in (first, second)]
    codes = sorted(p.returncode for p in (first, second))
    # One deploys; the other either waited and found it live (0) or gave up busy (3).
    assert codes in ([0, 0], [0, 3]), outputs
    assert serving(repo, "staging") == a
    assert len(repo.masters("staging")) == 1
    states = [r["state"] for r in ledger(repo).deploys("staging")]
    assert "started" not in states and "switching" not in states


@pytest.mark.parametrize("after", ["pre-flight of", "cutting over from"])
def test_kill_9_mid_deploy_then_status_and_deploy_converge(scenario, after):
    repo = scenario("A", "B")
    staging_serving(repo, "A")
    current, target = repo.releases["A"], repo.releases["B"]
    process = repo.popen("deploy", "--environment", "staging", "--release", target)
    for line in process.stdout:
        if after in line:
            process.send_signal(signal.SIGKILL)
            break
    process.wait(timeout=60)
    process.stdout.close()
    assert process.returncode == -signal.SIGKILL

    interrupted = ledger(repo).in_flight("staging")
    assert [r["release_id"] for r in interrupted] == [target]
    status = repo.gates("status", "--environment", "staging").stdout
    assert "interrupted" in status
    live = repo.masters("staging")
    assert len(live) == 1, (status, live)
    assert serving(repo, "staging") == live[0]["release_id"] in (current, target)
    assert not ledger(repo).in_flight("staging")

    repo.gates("deploy", "--environment", "staging", "--release", target)
    assert serving(repo, "staging") == target
    assert len(repo.masters("staging")) == 1


def test_a_damaged_ledger_stops_every_command_and_staging_keeps_serving(scenario):
    """A damaged ledger on a live environment: a zero-length ledger (which was taken for
    a new one, erasing the history) and the commands that gave a traceback or reported
    'passed' while exiting 1."""
    repo = scenario("A")
    staging_serving(repo, "A")
    a = repo.releases["A"]
    path = repo.state / "ledger.sqlite"
    saved = repo.state / "ledger.saved"
    path.rename(saved)
    path.write_bytes(b"")
    for args in (
        ["smoke", "--environment", "staging"],
        ["status"],
        ["down", "--environment", "staging"],
        ["deploy", "--environment", "staging", "--release", a],
        ["rollback", "--environment", "staging", "--reason", "test"],
    ):
        done = repo.gates(*args, check=False)
        assert done.returncode == 2, (args, done.stdout, done.stderr)
        assert len(done.stderr.strip().splitlines()) == 1 and "Traceback" not in done.stderr
        assert f"ledger {path} is empty" in done.stderr
    smoke = repo.report("smoke-staging")
    assert (smoke["exit_code"], smoke["outcome"]) == (2, "usage or configuration error")
    assert path.read_bytes() == b""  # not re-initialised
    assert serving(repo, "staging") == a and len(repo.masters("staging")) == 1

    saved.replace(path)  # restored from the backup: history intact, nothing recorded meanwhile
    assert [r["release_id"] for r in ledger(repo).deploys("staging")] == [a]
    assert ledger(repo).gate_results("staging", a) == []
    repo.gates("smoke", "--environment", "staging")
    assert [r["outcome"] for r in ledger(repo).gate_results("staging", a)] == ["passed"]
