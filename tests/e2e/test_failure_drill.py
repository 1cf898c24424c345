"""The failure drill end to end: bad config push, SLO detection, automatic rollback."""


def test_drill_detects_rolls_back_and_records_it(scenario):
    repo = scenario("A")
    a = repo.releases["A"]
    repo.gates("deploy", "--environment", "staging", "--release", a)
    repo.gates("smoke", "--environment", "staging")
    repo.gates("perf", "--environment", "staging")
    repo.gates("deploy", "--environment", "production")
    good = repo.masters("production")[0]
    done = repo.gates("drill", "--environment", "production")
    assert done.returncode == 0, done.stdout + done.stderr
    report = repo.report("drill-production")
    details = report["details"]
    assert 0 < details["time_to_detect_s"] <= 30
    assert 0 < details["time_to_restore_s"] <= 10
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


def test_drill_needs_a_live_release(scenario):
    repo = scenario("A")
    a = repo.releases["A"]
    repo.gates("deploy", "--environment", "production", "--release", a, "--override-promotion", "x")
    repo.gates("down", "--environment", "production")
    done = repo.gates("drill", "--environment", "production", check=False)
    assert done.returncode == 3
    assert "deploy a good release first" in done.stderr
