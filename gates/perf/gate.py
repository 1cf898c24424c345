"""``gates perf``: open-loop constant-rate load against an environment, judged on absolute
thresholds and on regression against earlier deployments in the same environment.

Latency is measured from each request's scheduled time (see gates.perf.load), so stalls are not
hidden, and the schedule holds however slow the service is: a slow service fails the gate
(exit 1) on its latency. Only a run in which the generator itself fell behind its schedule
(its own send lag, not the service's answers) could not measure (exit 3). The regression
decision and its baseline are gates.perf.regression's.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING

from gates.perf import chart as perf_chart, regression as perf_regression, stats
from gates.perf.load import ConstantRateLoad, LoadResult
from gates.outcome import ConfigError, MeasurementError
from gates.report import Report
from gates.targets import target_for
from gates.targets import LiveRelease, live_release

if TYPE_CHECKING:
    from argparse import ArgumentParser, Namespace

    from gates.config import PerfConfig, PipelineConfig

PERCENTILES = (50, 90, 95, 99)
PERF_RECORD = "perf"  # a run kept with the environment's history, where its target keeps one


def add_arguments(parser: ArgumentParser) -> None:
    parser.add_argument("--duration", type=int, help="seconds of load (default from config)")
    parser.add_argument("--rate", type=int, help="requests per second (default from config)")


def mix(paths: Mapping[str, int]) -> tuple[str, ...]:
    """The weighted endpoint mix as a repeating list, interleaved."""
    order: list[str] = []
    remaining = dict(paths)
    while any(remaining.values()):
        for path in paths:
            if remaining[path]:
                order.append(path)
                remaining[path] -= 1
    return tuple(order)


def summarize(result: LoadResult) -> dict[str, float]:
    latencies = sorted(s.latency * 1000 for s in result.samples)
    if not latencies:
        raise MeasurementError("no request completed; nothing to judge")
    lags = sorted(s.lag * 1000 for s in result.samples)
    summary = {f"p{q}": stats.percentile(latencies, q) for q in PERCENTILES}
    ok = len(result.samples) - len(result.failures)
    summary.update(
        max=latencies[-1],
        requests=len(result.samples),
        errors=len(result.failures),
        error_rate=len(result.failures) / len(result.samples),
        late=len(result.late),
        late_ratio=len(result.late) / len(result.samples),
        target_rate=result.rate,
        achieved_rate=ok / result.duration if result.duration else 0.0,
        most_in_flight=result.most_in_flight,
        # The generator's own send lag: how busy the machine was for it (perf_regression).
        lag_p50_ms=stats.percentile(lags, 50),
        lag_p95_ms=stats.percentile(lags, 95),
        worst_lag_ms=lags[-1],
    )
    return summary


def run_load(target: LiveRelease, rate: int, duration: int, paths: Mapping[str, int]) -> LoadResult:
    load = ConstantRateLoad(target.base_url, mix(paths), rate=rate, duration=duration).start()
    began = time.monotonic()
    while load.running:
        time.sleep(min(2.0, max(0.1, duration - (time.monotonic() - began))))
        done = list(load.result.samples)
        if done and load.running:
            worst = sorted(s.latency for s in done)[int(len(done) * 0.95) - 1] * 1000
            failed = sum(1 for s in done if not 200 <= s.status < 400)
            print(
                f"gates perf: {time.monotonic() - began:4.0f}/{duration} s  {len(done)} done  "
                f"p95 so far {worst:.1f} ms  errors {failed}",
                flush=True,
            )
    return load.stop()


def samples_dir(config: PipelineConfig, environment: str) -> Path:
    return config.state_dir / "perf" / environment


def chart(
    path: Path,
    result: LoadResult,
    target: LiveRelease,
    baseline: list[perf_regression.Run],
    perf: PerfConfig,
) -> Path:
    """The candidate's latency distribution beside its baseline's, and over time, with the
    limits the gate judged (gates.perf.chart)."""
    limits: dict[str, float] = {"p95 limit": float(perf.p95_ms)}
    reference = None
    if baseline:
        limits.update(perf_regression.limits_ms(baseline, perf))
        newest = baseline[0]
        runs = f"{len(baseline)} run(s) pooled, " if len(baseline) > 1 else ""
        reference = perf_chart.Run(
            f"baseline: {runs}newest {newest.release_id} at {newest.measured_at}",
            [ms for run in baseline for ms in run.latencies_ms],
        )
    candidate = perf_chart.run_from_samples(
        f"candidate {target.release_id} ({target.environment})", result.samples
    )
    title = f"perf {target.environment}: {target.release_id} at {result.rate:g} requests/s"
    return perf_chart.write(path, candidate, reference, limits, title)


def regression(
    report: Report,
    perf: PerfConfig,
    latencies: list[float],
    baseline: list[perf_regression.Run],
    lag_p95_ms: float | None = None,
) -> bool:
    """Add a p50 and a p95 regression check against ``baseline`` (none without one); whether
    the run drifted (slower by half a floor: it may pass, but is no later run's baseline).

    MeasurementError (exit 3) when a percentile regressed on a machine much busier than
    during the baseline (the generator's send lag p95 ``lag_p95_ms`` against theirs) by no
    more than the lag grew: contention could explain it."""
    if not baseline:
        report.details["regression"] = (
            "no accepted run of an earlier deployment in this environment: nothing to compare"
        )
        return False
    comparisons = perf_regression.compare(latencies, baseline, perf)
    newest = baseline[0]
    source = ", ".join(
        f"{run.release_id} ({run.deployment}) at {run.measured_at}" for run in baseline
    )
    report.details["regression"] = {
        "baseline": [run.source for run in baseline],
        "baseline_release": newest.release_id,
        "baseline_deployments": [run.deployment for run in baseline],
        "regressed": [f"p{c.percentile}" for c in comparisons if c.regressed],
        "drifted": [f"p{c.percentile}" for c in comparisons if c.drifted],
        **{
            f"p{c.percentile}": {
                "ms": c.new_ms,
                "baseline_ms": c.base_ms,
                "slower_ratio": c.slower_ratio,
                "p_value": c.p_value,
                "test": c.test,
                "regressed": c.regressed,
            }
            for c in comparisons
        },
    }
    for c in comparisons:
        report.add(f"p{c.percentile} regression", not c.regressed, c.measured, c.limit, source)
    regressed = [c for c in comparisons if c.regressed]
    busier = perf_regression.busier(lag_p95_ms, baseline, perf.regression_busier_lag_ratio)
    if regressed and busier and all(c.slower_ms <= busier for c in regressed):
        names = " and ".join(f"p{c.percentile} {c.slower_ms:+.2f} ms" for c in regressed)
        raise MeasurementError(
            f"{names} slower than the baseline, but the machine was busier: the load "
            f"generator's own send lag p95 was {busier:.2f} ms more than during the baseline "
            f"(more than x{perf.regression_busier_lag_ratio:g}), enough to explain it; rerun "
            "perf when the machine is quieter"
        )
    drifted = [f"p{c.percentile}" for c in comparisons if c.drifted]
    if drifted and not regressed:
        report.sections.append(
            f"{' and '.join(drifted)} slower than the baseline by half the floor or more: "
            "not a regression, but this run will not be a later run's baseline.\n"
        )
    return bool(drifted)


def judge(
    report: Report, perf: PerfConfig, result: LoadResult, rate: float, where: str = ""
) -> dict[str, float]:
    """Judge one load run on its own (latency, errors, throughput); its summary.

    MeasurementError (exit 3) when the generator fell behind its own schedule: then the run
    measured the generator, not the service."""
    summary = summarize(result)
    report.details["summary"] = summary
    if summary["late_ratio"] > perf.max_late_ratio:
        worst = max(s.lag for s in result.late) * 1000
        raise MeasurementError(
            f"the load generator fell behind: {summary['late']} of {summary['requests']} "
            f"requests left late (> {result.late_after * 1000:g} ms after their slot, worst "
            f"{worst:.0f} ms; latency p95 {summary['p95']:.1f} ms includes that lag); lower "
            "--rate or free the CPU, the run measures the generator, not the service"
        )
    report.add(
        "p95 latency",
        summary["p95"] <= perf.p95_ms,
        f"{summary['p95']:.1f} ms",
        f"<= {perf.p95_ms} ms",
        f"p50 {summary['p50']:.1f} / p90 {summary['p90']:.1f} / "
        f"p99 {summary['p99']:.1f} / max {summary['max']:.1f} ms, "
        f"up to {summary['most_in_flight']:g} requests in flight",
    )
    report.add(
        "error rate",
        summary["error_rate"] <= perf.max_error_rate,
        f"{summary['error_rate']:.2%} ({summary['errors']:g} of {summary['requests']:g})",
        f"<= {perf.max_error_rate:.2%}",
        where or "open loop, a new connection per request",
    )
    report.add(
        "throughput",
        summary["achieved_rate"] >= 0.95 * rate,
        f"{summary['achieved_rate']:.1f} ok/s",
        f">= 95% of {rate:g}/s",
        "open loop",
    )
    return summary


def run(config: PipelineConfig, report: Report, args: Namespace) -> None:
    perf = config.perf
    rate = perf.rate if args.rate is None else args.rate
    duration = perf.duration if args.duration is None else args.duration
    if rate < 1 or duration < 1:
        raise ConfigError("--rate and --duration must be whole numbers of at least 1")
    target = live_release(config, args.environment)
    report.details.update(
        release_id=target.release_id,
        environment=target.environment,
        deployment=target.deployment,
    )
    environment = target_for(config, target.environment)
    earlier = perf_regression.load_runs(
        samples_dir(config, target.environment), environment.kept(PERF_RECORD)
    )
    baseline = perf_regression.baseline_runs(
        earlier, target.release_id, target.deployment, perf.regression_baseline_runs
    )
    print(
        f"gates perf: {rate} requests/s for {duration} s against {target.base_url} "
        f"({target.release_id}), mix {perf.paths}"
    )
    result = run_load(target, rate, duration, perf.paths)
    summary = judge(report, perf, result, rate, target.base_url)
    latencies = [s.latency * 1000 for s in result.samples]
    drifted = regression(report, perf, latencies, baseline, summary["lag_p95_ms"])

    out = samples_dir(config, target.environment)
    out.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S.%fZ")
    svg = chart(out / f"{stamp}-{target.release_id}.svg", result, target, baseline, perf)
    passed = all(c.passed for c in report.checks)
    # What a later run needs for its baseline, and a chart for both runs: kept whole.
    record = {
        "release_id": target.release_id,
        "deployment": target.deployment,
        "measured_at": stamp,
        "passed": passed,
        "accepted": passed and not drifted,  # may be a later run's baseline
        "summary": summary,
        "latencies_ms": [round(ms, 3) for ms in latencies],
        "scheduled_s": [round(s.scheduled, 4) for s in result.samples],
        "statuses": [s.status for s in result.samples],
    }
    (out / f"{stamp}-{target.release_id}.json").write_text(json.dumps(record))
    environment.keep(PERF_RECORD, record)
    report.details.update(chart=str(svg), sample=str(out / f"{stamp}-{target.release_id}.json"))
    report.sections.append(f"Latency by percentile against the baseline, and over time: `{svg}`\n")
