"""The failure drill with a real Prometheus as its detector: the Debian package's binary on
127.0.0.1 scraping production's /metrics every second with the SLO rules loaded
(support.prometheus; the rules are `gates slo-rules`' output), stopped by pid. Skipped
without the binary, failed under CI."""

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from deploy_fixture import Checkout
from support.prometheus import Prometheus, running_prometheus
from support.timeouts import LATENCY_NOT_IN_QUESTION_MS

# The drill's own time limits, set to what a slow, busy machine meets: these tests assert what
# happened (detected, rolled back, the ledger agrees); the limits' arithmetic is asserted in
# tests/unit/test_drill_targets.py, and the times are benchmarked (benchmarks/drill_detection.py).
# Likewise the SLO gate's latency threshold (a bucket of the service's histogram): the drill
# pushes errors; whether a busy machine answers within 200 ms is not the question here.
LATENCY = ("--latency-target", LATENCY_NOT_IN_QUESTION_MS)
TARGETS = ("--detect-target", "120", "--restore-target", "120", *LATENCY)
FIRED = 'max_over_time(ALERTS{alertname="SLOBurnRateFastBurn",alertstate="firing",slo="%s"}[10m])'


def slo_rules(repo: Checkout, directory: Path) -> Path:
    """The rules `gates slo-rules` generates from the clone's objectives."""
    path = directory / "slo-rules.yml"
    repo.gates("slo-rules", "--output", str(path))
    return path


@contextmanager
def watched(repo: Checkout, tmp_path: Path, rule_files: list[Path]) -> Iterator[Prometheus]:
    """A Prometheus scraping the clone's production (with ``rule_files``), scraped once."""
    targets = {"production": [f"127.0.0.1:{repo.port('production')}"]}
    with running_prometheus(tmp_path / "prometheus", targets, rule_files) as prometheus:
        prometheus.wait_scraped("production")
        yield prometheus


def good_production(repo: Checkout) -> str:
    """Release A live in production (the drill's subject; the promotion path is
    test_deploy's); its deployment key."""
    a = repo.releases["A"]
    repo.gates("deploy", "--environment", "production", "--release", a, "--override-promotion", "x")
    deployment: str = repo.masters("production")[0]["deployment"]
    return deployment


def drill(repo: Checkout, prometheus: Prometheus, detector: str) -> dict[str, object]:
    done = repo.gates(
        "drill",
        "--environment",
        "production",
        "--prometheus-url",
        prometheus.url,
        "--detector",
        detector,
        *TARGETS,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    details: dict[str, object] = repo.report("drill-production")["details"]
    return details


def assert_detected_and_restored(repo: Checkout, details: dict[str, object], good: str) -> None:
    assert details["time_to_detect_s"] is not None and details["time_to_restore_s"] is not None
    # The bad config failed user requests (what was detected).
    assert details["requests_sent"] and details["first_failed_request_before_live_s"] is not None
    assert [m["deployment"] for m in repo.masters("production")] == [good]
    entries = details["ledger_entries"]
    deploys = entries["deploys"]  # type: ignore[index]
    assert [(d["kind"], d["state"]) for d in deploys] == [
        ("deploy", "succeeded"),
        ("rollback", "succeeded"),
    ]
    assert "FAULT_ERROR_RATE" in deploys[0]["config"]
    assert "FAULT_ERROR_RATE" not in deploys[1]["config"]
    gates = [(g["gate"], g["exit_code"]) for g in entries["gate_results"]]  # type: ignore[index]
    assert gates == [("slo", 1), ("rollback", 1)]


def test_drill_detects_by_the_fast_burn_alert_in_prometheus(scenario, tmp_path: Path) -> None:
    repo = scenario("A")
    good = good_production(repo)
    with watched(repo, tmp_path, [slo_rules(repo, tmp_path)]) as prometheus:
        details = drill(repo, prometheus, "alert")
        assert details["detector"] == "alert"
        assert "SLOBurnRateFastBurn firing: slo=availability" in str(details["detected_by"])
        assert_detected_and_restored(repo, details, good)
        # Prometheus' own record: the generated page alert fired for availability.
        assert prometheus.query(FIRED % "availability")


def test_drill_detects_by_the_slo_gate_in_prometheus(scenario, tmp_path: Path) -> None:
    repo = scenario("A")
    good = good_production(repo)
    with watched(repo, tmp_path, [slo_rules(repo, tmp_path)]) as prometheus:
        details = drill(repo, prometheus, "prometheus")
        assert details["detector"] == "prometheus"
        assert "SLO gate (Prometheus" in str(details["detected_by"])
        assert "Availability" in str(details["detected_by"])
        assert_detected_and_restored(repo, details, good)


def test_drill_refuses_an_alert_detector_without_the_rules(scenario, tmp_path: Path) -> None:
    repo = scenario("A")
    a = repo.releases["A"]
    repo.gates("deploy", "--environment", "production", "--release", a, "--override-promotion", "x")
    good = repo.masters("production")[0]["deployment"]
    with watched(repo, tmp_path, rule_files=[]) as prometheus:
        done = repo.gates(
            "drill",
            "--environment",
            "production",
            "--prometheus-url",
            prometheus.url,
            "--detector",
            "alert",
            check=False,
        )
    assert done.returncode == 3, done.stdout + done.stderr
    assert "has no SLOBurnRateFastBurn rule" in done.stderr
    assert "gates slo-rules" in done.stderr
    # Nothing was pushed: production still serves the good deployment, alone.
    assert [m["deployment"] for m in repo.masters("production")] == [good]
    assert "pushing a bad config" not in done.stdout
