"""The failure drill end to end: bad config push, SLO detection, automatic rollback.

The drill's own time targets are configuration (``--detect-target``, ``--restore-target``):
here they are set to what a slow, busy machine meets, so the exit code says whether the drill
detected, rolled back and verified, not how fast this machine is. The timing checks are
asserted for their presence and arithmetic (the measured value against the limit).
"""

import re

# Generous targets: the behaviour is under test, not this machine's speed (the production
# defaults, 30 s and 10 s, are the drill's own).
DETECT_TARGET = 120
RESTORE_TARGET = 120


def drill_checks(report):
    return {c["name"]: c for c in report["checks"]}


def test_drill_detects_rolls_back_and_records_it(scenario):
    repo = scenario("A")
    a = repo.releases["A"]
    # Production's promotion policy is tested apart (test_deploy.py): forced here.
    repo.gates(
        "deploy", "--environment", "production", "--release", a,
        "--override-promotion", "drill set-up",
    )  # fmt: skip
    good = repo.masters("production")[0]
    done = repo.gates(
        "drill", "--environment", "production",
        "--detect-target", str(DETECT_TARGET), "--restore-target", str(RESTORE_TARGET),
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    report = repo.report("drill-production")
    details = report["details"]
    assert details["detector"] == "scrape" and "SLO gate FAILED" in details["detected_by"]
    # Both timing checks are there, each measured and judged against its limit.
    checks = drill_checks(report)
    for name, measured, limit in (
        ("detected", details["time_to_detect_s"], DETECT_TARGET),
        ("restored", details["time_to_restore_s"], RESTORE_TARGET),
    ):
        assert measured > 0, (name, details)
        assert checks[name]["limit"] == f"<= {limit} s"
        assert checks[name]["measured"].startswith(f"{measured} s ")
        assert checks[name]["passed"] == (measured <= limit)
    # The good deployment (same release, its own config) serves again.
    live = repo.masters("production")
    assert [m["deployment"] for m in live] == [good["deployment"]]
    deploys = details["ledger_entries"]["deploys"]
    assert [(d["kind"], d["state"]) for d in deploys] == [
        ("deploy", "succeeded"),
        ("rollback", "succeeded"),
    ]
    assert "FAULT_ERROR_RATE" in deploys[0]["config"]
    assert "FAULT_ERROR_RATE" not in deploys[1]["config"]
    gates = [(g["gate"], g["exit_code"]) for g in details["ledger_entries"]["gate_results"]]
    assert gates == [("slo", 1), ("rollback", 1)]
    # Requests failed only while the bad config was live, and not all of them.
    assert 0 < details["failed_requests"] < details["requests_sent"] * 0.1
    assert re.search(r"detect [\d.]+ s after live", done.stdout)


def test_drill_needs_a_live_release(scenario):
    repo = scenario("A")
    a = repo.releases["A"]
    repo.gates("deploy", "--environment", "production", "--release", a, "--override-promotion", "x")
    repo.gates("down", "--environment", "production")
    done = repo.gates("drill", "--environment", "production", check=False)
    assert done.returncode == 3
    assert "deploy a good release first" in done.stderr
