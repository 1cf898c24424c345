"""The perf gate's regression decision on real recorded latencies (tests/unit/data).

The recordings: three runs of the unchanged service (run-to-run noise on a busy 2-core machine:
p50 2.0-2.7 ms, p95 7.7-10.3 ms) and one with FAULT_LATENCY_MS=2 on /api/data (p50 about 4.8 ms:
twice as slow). The cases the gate must get right: a 2x slowdown fails naming p50/p95 while
noise never does; a tail-only slowdown fails; a regressed run is never a baseline.
"""

import itertools
import json
from pathlib import Path

import pytest

from gates.perf import gate as perf, regression as perf_regression, stats
from gates.config import load_config
from gates.outcome import FAILED, PASSED, MeasurementError
from gates.perf.regression import Run
from gates.report import Report

DATA = json.loads((Path(__file__).parent / "data" / "perf_runs.json").read_text())
CLEAN = [DATA["latencies_ms"][name] for name in ("clean1", "clean2", "clean3")]
TWICE_AS_SLOW = DATA["latencies_ms"]["fault2ms"]
PERF = load_config().perf


def run(latencies, deployment="rel0-cfg0", accepted=True, at="20261127T000000.000000Z"):
    release = deployment.split("-")[0]
    return Run("test", release, deployment, at, accepted, tuple(latencies))


def judged(latencies, baseline):
    report = Report("perf")
    perf.regression(report, PERF, list(latencies), baseline)
    return report, {c.name: c for c in report.checks}


def test_twice_as_slow_fails_naming_p50():
    report, checks = judged(TWICE_AS_SLOW, [run(CLEAN[1])])
    assert report.exit_code == FAILED
    assert not checks["p50 regression"].passed
    assert checks["p50 regression"].measured.startswith("p50 4.")
    assert "Mann-Whitney" in checks["p50 regression"].measured
    # p95 is judged and named too; +115 % is within its floor (its noise is x2.6).
    assert checks["p95 regression"].measured.startswith("p95 ")
    assert report.details["regression"]["regressed"] == ["p50"]


@pytest.mark.parametrize("new, base", list(itertools.permutations(range(3), 2)))
def test_run_to_run_noise_never_fails(new, base):
    report, checks = judged(CLEAN[new], [run(CLEAN[base])])
    assert report.exit_code == PASSED, [c.measured for c in checks.values()]


def test_noise_against_a_median_baseline_never_fails():
    for new in range(3):
        others = [run(CLEAN[i], f"rel{i}-cfg") for i in range(3) if i != new]
        report, checks = judged(CLEAN[new], others)
        assert report.exit_code == PASSED, [c.measured for c in checks.values()]


def slower_tail(latencies, factor):
    """The same run with its slowest tenth ``factor`` times slower: median unchanged."""
    p90 = stats.percentile(sorted(latencies), 90)
    return [ms * factor if ms > p90 else ms for ms in latencies]


def test_a_tail_only_regression_fails_on_p95():
    candidate = slower_tail(CLEAN[0], 4)  # beyond p95's run-to-run spread (x2.6 measured)
    assert stats.percentile(sorted(candidate), 50) == stats.percentile(sorted(CLEAN[0]), 50)
    report, checks = judged(candidate, [run(CLEAN[1])])
    assert report.exit_code == FAILED
    assert checks["p50 regression"].passed
    assert not checks["p95 regression"].passed
    assert checks["p95 regression"].measured.startswith("p95 ")


def test_a_slightly_heavier_tail_is_noise():
    report, _ = judged(slower_tail(CLEAN[0], 1.1), [run(CLEAN[1])])
    assert report.exit_code == PASSED


def test_a_small_slowdown_passes_but_never_becomes_the_baseline():
    # +30 % at p50: under the 50 % floor, so it passes, but over half of it: a drift.
    drifting = [ms * 1.3 for ms in CLEAN[1]]
    report = Report("perf")
    assert perf.regression(report, PERF, drifting, [run(CLEAN[1])]) is True
    assert report.exit_code == PASSED
    assert report.details["regression"]["drifted"] == ["p50"]
    # Noise does not drift.
    assert perf.regression(Report("perf"), PERF, CLEAN[2], [run(CLEAN[1])]) is False
    # So it is recorded as not accepted, and the next step is compared with the fast run:
    # two +30 % steps (+69 %) fail, where against the first step they would have passed.
    fast = run(CLEAN[1], "relA-cfg0", at=at(1))
    step = run(drifting, "relA-cfg1", accepted=False, at=at(2))
    chosen = perf_regression.baseline_runs([fast, step], "relA", "relA-cfg2", 3)
    assert chosen == [fast]
    report, checks = judged([ms * 1.3 for ms in drifting], chosen)
    assert not checks["p50 regression"].passed
    report, checks = judged([ms * 1.3 for ms in drifting], [step])
    assert checks["p50 regression"].passed


def at(minute):
    return f"20261127T10{minute:02d}00.000000Z"


def test_a_regressed_run_is_never_the_next_baseline():
    fast = run(CLEAN[0], "relA-cfg0", at=at(1))
    slow = run(TWICE_AS_SLOW, "relA-cfg1", accepted=False, at=at(2))  # it failed its gate
    chosen = perf_regression.baseline_runs([fast, slow], "relB", "relB-cfg1", 3)
    assert chosen == [fast]
    # The next deployment, as slow as the rejected one, is still compared with the fast one.
    report, checks = judged(TWICE_AS_SLOW, chosen)
    assert report.exit_code == FAILED and not checks["p50 regression"].passed


def test_the_deployment_being_judged_is_never_its_own_baseline():
    earlier = run(CLEAN[0], "relA-cfg0", at=at(1))
    own = run(TWICE_AS_SLOW, "relA-cfg1", at=at(2))  # accepted (before the new rules, say)
    assert perf_regression.baseline_runs([earlier, own], "relA", "relA-cfg1", 3) == [earlier]
    assert perf_regression.baseline_runs([own], "relA", "relA-cfg1", 3) == []


def test_the_baseline_is_the_newest_accepted_run_of_each_recent_deployment():
    runs = [
        run(CLEAN[0], "relA-cfg0", at=at(1)),
        run(CLEAN[1], "relA-cfg0", at=at(2)),
        run(CLEAN[2], "relB-cfg0", at=at(3)),
        run(CLEAN[0], "relC-cfg0", at=at(4)),
        run(CLEAN[1], "relD-cfg0", at=at(5)),
    ]
    chosen = perf_regression.baseline_runs(runs, "relE", "relE-cfg0", 3)
    assert [r.deployment for r in chosen] == ["relD-cfg0", "relC-cfg0", "relB-cfg0"]
    two = perf_regression.baseline_runs(runs[:3], "relE", "relE-cfg0", 3)
    assert [(r.deployment, r.measured_at) for r in two] == [
        ("relB-cfg0", at(3)),
        ("relA-cfg0", at(2)),
    ]


def test_one_odd_baseline_run_does_not_move_the_median():
    odd = run([ms * 3 for ms in CLEAN[0]], "relC-cfg", at=at(3))
    baseline = [odd, run(CLEAN[1], "relB-cfg", at=at(2)), run(CLEAN[2], "relA-cfg", at=at(1))]
    report, checks = judged(TWICE_AS_SLOW, baseline)
    assert not checks["p50 regression"].passed


def test_old_records_without_a_deployment_key(tmp_path):
    old_same = {"release_id": "relA", "measured_at": at(1), "passed": True,
                "latencies_ms": CLEAN[0]}  # fmt: skip
    old_other = {**old_same, "release_id": "relB", "measured_at": at(2)}
    failed = {**old_same, "release_id": "relC", "measured_at": at(3), "passed": False}
    for number, record in enumerate((old_same, old_other, failed)):
        (tmp_path / f"{number}.json").write_text(json.dumps(record))
    (tmp_path / "broken.json").write_text("{not json")
    runs = perf_regression.load_runs(tmp_path, kept=[old_other])  # kept twice: counted once
    assert [r.deployment for r in runs] == ["release:relA", "release:relB", "release:relC"]
    # Another release's old record is a baseline; this release's could be this deployment.
    chosen = perf_regression.baseline_runs(runs, "relA", "relA-cfg9", 3)
    assert [r.release_id for r in chosen] == ["relB"]


def test_no_baseline_adds_no_regression_check():
    report = Report("perf")
    perf.regression(report, PERF, CLEAN[0], [])
    assert report.checks == []
    assert "no accepted run of an earlier deployment" in report.details["regression"]


def test_tail_exceedance_reference_values():
    # 2 of 10 new above 5 vs 1 of 10 base: z = 0.1 / sqrt(0.15 * 0.85 * 0.2) = 0.6262
    p_value, new_share, base_share = stats.exceedance_greater(
        [1] * 8 + [6, 7], [1] * 9 + [6], threshold=5
    )
    assert (new_share, base_share) == (0.2, 0.1)
    assert p_value == pytest.approx(0.26560, abs=1e-4)


def test_a_slowdown_on_a_much_busier_machine_is_inconclusive_not_a_verdict():
    # Generator lag p95 in the range measured for unchanged runs on the busy test machine
    # (docs/benchmarks.md, perf gate noise floor), then five times that.
    baseline = [Run("test", "rel0", "rel0-cfg0", at(1), True, tuple(CLEAN[1]), 8.0)]
    with pytest.raises(MeasurementError, match="the machine was busier"):
        perf.regression(Report("perf"), PERF, TWICE_AS_SLOW, baseline, lag_p95_ms=47.0)
    # A slowdown far beyond what the busier machine explains is still a verdict.
    report = Report("perf")
    perf.regression(report, PERF, [ms + 150 for ms in CLEAN[1]], baseline, lag_p95_ms=47.0)
    assert report.exit_code == FAILED
    # The same slowdown at the baseline's contention is a verdict: failed.
    report = Report("perf")
    perf.regression(report, PERF, TWICE_AS_SLOW, baseline, lag_p95_ms=9.0)
    assert report.exit_code == FAILED
    # A busier machine that shows no slowdown is still a pass.
    report = Report("perf")
    perf.regression(report, PERF, CLEAN[2], baseline, lag_p95_ms=47.0)
    assert report.exit_code == PASSED


def test_recorded_runs_carry_the_generators_lag(tmp_path):
    record = {
        "release_id": "relA",
        "deployment": "relA-cfg",
        "measured_at": at(1),
        "accepted": True,
        "latencies_ms": CLEAN[0],
        "summary": {"lag_p95_ms": 7.5},
    }
    (tmp_path / "run.json").write_text(json.dumps(record))
    (found,) = perf_regression.load_runs(tmp_path)
    assert found.lag_p95_ms == 7.5 and found.deployment == "relA-cfg" and found.accepted
