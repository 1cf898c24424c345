"""``gates perf``: open-loop constant-rate load against an environment, judged on absolute
thresholds and on regression against the last passing result in the same environment.

Latency is measured from each request's scheduled time (see gates.load), so stalls are not
hidden. A run in which the generator itself fell behind is not a pass (exit 3).
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gates import stats
from gates.load import ConstantRateLoad, LoadResult
from gates.outcome import ConfigError, MeasurementError
from gates.report import Report
from gates.targets import target_for
from gates.targets.live import LiveRelease, live_target

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


def baseline(
    config: PipelineConfig, environment: str, kept: Sequence[dict[str, Any]] = ()
) -> tuple[Path | str, dict[str, Any]] | tuple[None, None]:
    """The newest passing result in this environment, or None: from this machine's files,
    or ``kept`` with the environment's history (where the target keeps one)."""
    found: list[tuple[str, Path | str, dict[str, Any]]] = []
    for path in samples_dir(config, environment).glob("*.json"):
        try:
            found.append((path.name, path, json.loads(path.read_text())))
        except (OSError, ValueError):
            continue
    for data in kept:
        found.append(
            (
                f"{data.get('measured_at')}-{data.get('release_id')}",
                f"the history of {environment} ({data.get('measured_at')})",
                data,
            )
        )
    for _, source, data in sorted(found, key=lambda f: f[0], reverse=True):
        if data.get("passed") and data.get("latencies_ms"):
            return source, data
    return None, None


def chart(result: LoadResult, p95_limit: float, path: Path) -> Path:
    """Latency over time as an SVG scatter (failures in red) with the p95 limit line."""
    width, height, pad = 900, 320, 45
    samples = result.samples
    top = max([s.latency * 1000 for s in samples] + [p95_limit * 1.2])
    span = max(result.duration, 1e-9)

    def x(t: float) -> float:
        return pad + (width - 2 * pad) * t / span

    def y(ms: float) -> float:
        return height - pad - (height - 2 * pad) * ms / top

    dots = "".join(
        f'<circle cx="{x(s.scheduled):.1f}" cy="{y(s.latency * 1000):.1f}" r="1.6" '
        f'fill="{"#c0392b" if not 200 <= s.status < 400 else "#2471a3"}"/>'
        for s in samples
    )
    limit = y(p95_limit)
    path.write_text(
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'font-family="sans-serif" font-size="12">'
        f'<rect width="100%" height="100%" fill="white"/>'
        f'<line x1="{pad}" y1="{height - pad}" x2="{width - pad}" y2="{height - pad}" '
        f'stroke="black"/><line x1="{pad}" y1="{pad}" x2="{pad}" y2="{height - pad}" '
        f'stroke="black"/>'
        f'<line x1="{pad}" y1="{limit:.1f}" x2="{width - pad}" y2="{limit:.1f}" '
        f'stroke="#e67e22" stroke-dasharray="6 4"/>'
        f'<text x="{width - pad}" y="{limit - 4:.1f}" text-anchor="end" fill="#e67e22">'
        f"p95 limit {p95_limit} ms</text>{dots}"
        f'<text x="{width / 2}" y="{height - 10}" text-anchor="middle">seconds since start '
        f"(0 to {span:.0f})</text>"
        f'<text x="12" y="{pad - 12}">latency ms (0 to {top:.0f}), from scheduled start'
        f"</text></svg>\n"
    )
    return path


def regression(
    report: Report,
    perf: PerfConfig,
    latencies: list[float],
    base_path: Path | str | None,
    base: dict[str, Any] | None,
) -> None:
    if base is None:
        report.details["regression"] = "no earlier passing result in this environment"
        return
    old = base["latencies_ms"]
    _, p_value, superiority = stats.mann_whitney_greater(latencies, old)
    new_p50 = stats.percentile(sorted(latencies), 50)
    old_p50 = stats.percentile(sorted(old), 50)
    slower_ms, slower_ratio = new_p50 - old_p50, new_p50 / old_p50 - 1 if old_p50 else 0.0
    regressed = (
        p_value < perf.regression_alpha
        and slower_ratio >= perf.regression_min_ratio
        and slower_ms >= perf.regression_min_ms
    )
    report.details["regression"] = {
        "baseline": str(base_path),
        "baseline_release": base.get("release_id"),
        "p_value": p_value,
        "probability_slower": superiority,
        "p50_ms": new_p50,
        "baseline_p50_ms": old_p50,
    }
    report.add(
        "regression",
        not regressed,
        f"p50 {new_p50:.1f} ms vs {old_p50:.1f} ms ({slower_ratio:+.0%}), "
        f"Mann-Whitney p={p_value:.2g}",
        f"not slower with p < {perf.regression_alpha:g} and by >= "
        f"{perf.regression_min_ratio:.0%} and >= {perf.regression_min_ms:g} ms",
        f"{base.get('release_id')} at {base.get('measured_at')}",
    )


def run(config: PipelineConfig, report: Report, args: Namespace) -> None:
    perf = config.perf
    rate = perf.rate if args.rate is None else args.rate
    duration = perf.duration if args.duration is None else args.duration
    if rate < 1 or duration < 1:
        raise ConfigError("--rate and --duration must be whole numbers of at least 1")
    target = live_target(config, args.environment)
    report.details.update(
        release_id=target.release_id,
        environment=target.environment,
        deployment=target.deployment,
    )
    environment = target_for(config, target.environment)
    base_path, base = baseline(config, target.environment, environment.kept(PERF_RECORD))
    print(
        f"gates perf: {rate} requests/s for {duration} s against {target.base_url} "
        f"({target.release_id}), mix {perf.paths}"
    )
    result = run_load(target, rate, duration, perf.paths)
    summary = summarize(result)
    report.details["summary"] = summary
    if summary["late_ratio"] > perf.max_late_ratio:
        raise MeasurementError(
            f"the load generator fell behind: {summary['late']} of {summary['requests']} "
            f"requests left late (> {result.late_after * 1000:g} ms after their slot); "
            "lower --rate or free the CPU, the run measures the generator, not the service"
        )
    report.add(
        "p95 latency",
        summary["p95"] <= perf.p95_ms,
        f"{summary['p95']:.1f} ms",
        f"<= {perf.p95_ms} ms",
        f"p50 {summary['p50']:.1f} / p90 {summary['p90']:.1f} / "
        f"p99 {summary['p99']:.1f} / max {summary['max']:.1f} ms",
    )
    report.add(
        "error rate",
        summary["error_rate"] <= perf.max_error_rate,
        f"{summary['error_rate']:.2%} ({summary['errors']} of {summary['requests']})",
        f"<= {perf.max_error_rate:.2%}",
        target.base_url,
    )
    report.add(
        "throughput",
        summary["achieved_rate"] >= 0.95 * rate,
        f"{summary['achieved_rate']:.1f} ok/s",
        f">= 95% of {rate}/s",
        "open loop",
    )
    latencies = [s.latency * 1000 for s in result.samples]
    regression(report, perf, latencies, base_path, base)

    out = samples_dir(config, target.environment)
    out.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S.%fZ")
    svg = chart(result, perf.p95_ms, out / f"{stamp}-{target.release_id}.svg")
    record = {
        "release_id": target.release_id,
        "measured_at": stamp,
        "passed": all(c.passed for c in report.checks),
        "summary": summary,
        "latencies_ms": latencies,
        "statuses": [s.status for s in result.samples],
    }
    (out / f"{stamp}-{target.release_id}.json").write_text(json.dumps(record))
    kept = {k: v for k, v in record.items() if k != "statuses"}
    environment.keep(PERF_RECORD, {**kept, "latencies_ms": [round(ms, 3) for ms in latencies]})
    report.details.update(chart=str(svg), sample=str(out / f"{stamp}-{target.release_id}.json"))
    report.sections.append(f"Latency over time: `{svg}`\n")
