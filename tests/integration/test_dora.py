"""DORA metrics from a ledger with known events: every figure checked."""

import json
from datetime import datetime, timezone

import pytest

from gates.config.models import DoraConfig
from gates.dora import band, compute, judge
from gates.ledger import Ledger
from gates.outcome import MeasurementError
from gates.report import Report
from support.gates_cli import run_gates_in_process

NOW = datetime(2026, 11, 20, tzinfo=timezone.utc)
WINDOW = 10 * 86400


def t(text):
    return f"2026-11-{text}:00+00:00"


@pytest.fixture
def ledger(tmp_path):
    book = Ledger(tmp_path / "ledger.sqlite")
    for release, commit in (
        ("r0", "01T00:00"),
        ("r1", "10T00:00"),
        ("r2", "12T00:00"),
        ("r3", "15T00:00"),
    ):
        book.db.execute(
            "INSERT INTO builds VALUES (?, 'techcorp-api', '1.0.0', ?, ?, ?)",
            (release, f"sha-{release}", t(commit), t(commit)),
        )
    deploys = [
        # release, kind, state, started, finished
        ("r0", "deploy", "succeeded", "01T01:00", "01T02:00"),  # outside the window
        ("r1", "deploy", "succeeded", "10T01:00", "10T02:00"),  # lead 2 h
        ("r2", "deploy", "succeeded", "12T00:00", "12T06:00"),  # lead 6 h, then fails
        ("r1", "rollback", "succeeded", "12T07:10", "12T07:30"),  # restored 30 min after
        ("r3", "deploy", "failed", "15T00:00", "15T00:05"),
        ("r3", "deploy", "succeeded", "15T02:00", "15T04:00"),  # lead 4 h
    ]
    for release, kind, state, started, finished in deploys:
        book.db.execute(
            "INSERT INTO deploys (environment, release_id, kind, state, config, started_at,"
            " finished_at) VALUES ('production', ?, ?, ?, ?, ?, ?)",
            (release, kind, state, json.dumps({"key": f"{release}-k"}), t(started), t(finished)),
        )
    book.db.execute(
        "INSERT INTO gate_results (environment, release_id, gate, deployment, outcome, exit_code,"
        " recorded_at) VALUES ('production', 'r2', 'slo', 'r2-k', 'failed', 1, ?)",
        (t("12T07:00"),),
    )
    yield book
    book.close()


def test_every_figure_from_known_events(ledger):
    metrics = compute(ledger, "production", NOW, WINDOW)
    assert metrics["deployments"] == 3
    assert metrics["failed_deployments"] == 1
    assert metrics["deployment_frequency_per_day"] == pytest.approx(0.3)
    assert metrics["lead_time_seconds"] == 4 * 3600
    assert metrics["failed_changes"] == 1
    assert metrics["change_failure_rate"] == pytest.approx(1 / 3)
    assert metrics["time_to_restore_seconds"] == 30 * 60
    assert metrics["deployment_success_rate"] == pytest.approx(0.75)
    assert metrics["bands"] == {
        "deployment_frequency": "high",
        "lead_time": "high",
        "change_failure_rate": "medium",
        "time_to_restore": "elite",
        "deployment_success_rate": "below 99.9 %",
    }


def test_a_commit_dated_after_its_deploy_is_no_lead_time(ledger):
    # r3's commit moved past its deploy (a clock, or a rewritten date): left out, never a
    # negative lead time that bands as elite
    ledger.db.execute("UPDATE builds SET commit_time = ? WHERE release_id = 'r3'", (t("19T00:00"),))
    metrics = compute(ledger, "production", NOW, WINDOW)
    assert metrics["lead_time_seconds"] == 4 * 3600  # the median of r1's 2 h and r2's 6 h


def test_empty_window_has_no_data_rather_than_perfect_scores(ledger):
    metrics = compute(ledger, "staging", NOW, WINDOW)
    assert metrics["deployments"] == 0
    assert metrics["change_failure_rate"] is None
    assert set(metrics["bands"].values()) == {"no data"}


@pytest.mark.parametrize(
    "value, limits, better, expected",
    [
        (2, (1, 0.5, 0.1), True, "elite"),
        (0.05, (1, 0.5, 0.1), True, "low"),
        (30, (60, 600, 6000), False, "elite"),
        (7000, (60, 600, 6000), False, "low"),
    ],
)
def test_bands(value, limits, better, expected):
    assert band(value, limits, better) == expected


def test_the_targets_fail_a_history_that_misses_them_and_pass_one_that_meets_them(ledger):
    policy = DoraConfig()
    missed = Report("dora-production")
    judge(missed, compute(ledger, "production", NOW, WINDOW), policy)
    verdicts = {c.name: (c.passed, c.measured) for c in missed.checks}
    assert verdicts == {
        "deployment success rate": (False, "75.00% (1 failed)"),
        "change failure rate": (False, "33.3% (1 of 3)"),
        "time to restore (median)": (True, "30.0 min"),
    }
    assert missed.exit_code == 1
    # A history of deploys that all succeeded and were never failed or rolled back
    clean = Ledger(ledger.path.with_name("clean.sqlite"))
    for day in ("10", "11"):
        clean.db.execute(
            "INSERT INTO deploys (environment, release_id, kind, state, config, started_at,"
            " finished_at) VALUES ('production', 'r1', 'deploy', 'succeeded', '{}', ?, ?)",
            (t(f"{day}T01:00"), t(f"{day}T01:05")),
        )
    met = Report("dora-production")
    judge(met, compute(clean, "production", NOW, WINDOW), policy)
    clean.close()
    assert [(c.name, c.passed) for c in met.checks] == [
        ("deployment success rate", True),
        ("change failure rate", True),
    ]
    assert met.exit_code == 0


def test_a_window_without_deploys_decides_nothing(ledger):
    with pytest.raises(MeasurementError, match="no deploy of staging recorded"):
        judge(Report("dora-staging"), compute(ledger, "staging", NOW, WINDOW), DoraConfig())


def test_command_prints_table_and_writes_json(tmp_path, gates):
    from support.pipeline_project import make_project

    config = make_project(tmp_path)
    missing = gates(config, "dora", "--window", "7d", "--environment", "staging", timeout=60)
    # the ledger was never created by a build or deploy: said, and not made empty to read from
    assert missing.returncode == 3 and "no ledger at" in missing.stderr, missing.stderr
    assert not (tmp_path / ".pipeline" / "ledger.sqlite").exists()
    Ledger(tmp_path / ".pipeline" / "ledger.sqlite").close()
    # the real process above; the same CLI in this process from here on
    done = run_gates_in_process(config, "dora", "--window", "7d", "--environment", "staging")
    assert done.returncode == 3, done.stdout + done.stderr
    assert "deployment frequency" in done.stdout and "no data" in done.stdout
    assert "nothing to measure" in done.stdout + done.stderr
    report = json.loads((tmp_path / ".pipeline" / "reports" / "dora-staging.json").read_text())
    assert report["details"]["window_days"] == 7


def test_rehearsal_summary_reads_every_stage_report(tmp_path):
    from support.pipeline_project import make_project
    from gates.report import Report

    config = make_project(tmp_path)
    reports = tmp_path / ".pipeline" / "reports"
    passed = Report("test")
    passed.add("tests", True, "3 passed, 0 failed, 0 skipped")
    passed.write(reports)
    covered = Report("coverage")
    covered.add("coverage", True, "95.00% over test + e2e")
    covered.write(reports)
    broken = Report("security")
    broken.fail(3, "bandit exited 2: boom")
    broken.write(reports)
    done = run_gates_in_process(config, "summary")
    assert done.returncode == 0, done.stderr
    assert "| test | passed |" in done.stdout and "3 passed, 0 failed" in done.stdout
    assert "| coverage | passed |" in done.stdout and "95.00% over test + e2e" in done.stdout
    assert "| e2e | not run |" in done.stdout
    assert "| security | could not measure |" in done.stdout and "bandit exited 2" in done.stdout
    assert "| perf | not run |" in done.stdout
    assert "no production environment configured" in done.stdout
