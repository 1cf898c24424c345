"""``gates slo``: SLIs from the service's real metrics over a window, judged against the
objectives file: objective met, and burn rate under the alert threshold.

Scrape mode (default): /metrics is scraped at the start and the end of the window and the
SLIs come from the deltas. When the window saw fewer than ``min_requests`` requests, a
bounded synthetic probe adds traffic (and the report says so); still too few: exit 3.
With ``--prometheus-url``, the same selectors are asked of Prometheus as
``sum(increase(selector[window]))``.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import replace
from collections.abc import Callable
from typing import TYPE_CHECKING

from prometheus_client.parser import text_string_to_metric_families

from gates import durations, httpget, slo_objectives
from gates.config.models import SLO_WINDOW
from gates.load import ConstantRateLoad
from gates.outcome import ConfigError, MeasurementError
from gates.report import Report
from gates.selectors import SampleKey, Samples, Selector
from gates.slo_objectives import Objectives
from gates.targets.live import LiveRelease, live_target

if TYPE_CHECKING:
    from argparse import ArgumentParser, Namespace

    from gates.config import PipelineConfig

PROBE_PATHS = ("/api/data", "/health")
# SLO name -> (good events, all events) in the window
Counts = dict[str, tuple[float, float]]


def add_arguments(parser: ArgumentParser) -> None:
    parser.add_argument("--window", help="evaluation window, e.g. 30s or 15min")
    parser.add_argument(
        "--availability-target",
        type=float,
        metavar="PERCENT",
        help="override the availability objective, e.g. 99.9",
    )
    parser.add_argument(
        "--latency-target",
        type=float,
        metavar="MS",
        help="override the latency threshold in ms, e.g. 200",
    )
    parser.add_argument("--prometheus-url", help="take the SLIs from this Prometheus server")


def scrape(port: httpget.Where) -> dict[SampleKey, float]:
    """{(sample name, sorted label items): value} from one /metrics scrape."""
    try:
        status, _, raw = httpget.fetch("/metrics", port=port)
    except httpget.FAILURES as exc:
        raise MeasurementError(f"cannot scrape {httpget.address(port)}/metrics: {exc}") from None
    if status != 200:
        raise MeasurementError(f"{httpget.address(port)}/metrics answered {status}")
    return parse(raw.decode(errors="replace"))


def parse(body: str) -> dict[SampleKey, float]:
    """{(sample name, sorted label items): value} from Prometheus text."""
    try:
        return {
            (s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(body)
            for s in family.samples
        }
    except Exception as exc:  # the parser raises several types on bad input
        raise MeasurementError(f"/metrics is not Prometheus text: {exc}") from None


def scrape_each(fetch_each: Callable[[str], dict[str, httpget.Response]]) -> dict[str, Samples]:
    """{replica: its samples} from one /metrics scrape of every replica serving an environment
    (each keeps its own counters: a sum needs them all)."""
    found: dict[str, Samples] = {}
    for replica, (status, _, raw) in fetch_each("/metrics").items():
        if status != 200:
            raise MeasurementError(f"/metrics of {replica} answered {status}")
        found[replica] = parse(raw.decode(errors="replace"))
    return found


def delta_each(start: dict[str, Samples], end: dict[str, Samples]) -> dict[SampleKey, float]:
    """The increase of every series, summed over the replicas; MeasurementError when the
    replicas changed during the window (a deploy, a restart)."""
    if set(start) != set(end):
        raise MeasurementError(
            f"the replicas changed during the window ({', '.join(sorted(start))} -> "
            f"{', '.join(sorted(end))}): redeployed or restarted; measure again"
        )
    total: dict[SampleKey, float] = {}
    for replica, samples in end.items():
        for key, value in delta(start[replica], samples).items():
            total[key] = total.get(key, 0.0) + value
    return total


def delta(start: Samples, end: Samples) -> dict[SampleKey, float]:
    """Per-series increase; MeasurementError when a counter went down (a restart or deploy)."""
    changes: dict[SampleKey, float] = {}
    for key, value in end.items():
        before = start.get(key, 0.0)
        if value < before:
            raise MeasurementError(
                f"counter {key[0]} went down during the window ({before:g} -> {value:g}): "
                "the service restarted or was redeployed; measure again"
            )
        changes[key] = value - before
    missing = [k for k in start if k not in end]
    if missing:
        raise MeasurementError(f"series {missing[0][0]} vanished during the window: restarted?")
    return changes


def objectives_for(config: PipelineConfig, args: Namespace) -> Objectives:
    objectives = slo_objectives.load(config.slo.objectives)
    slos = []
    for slo in objectives.slos:
        if slo.name == "availability" and args.availability_target is not None:
            if not 0 < args.availability_target < 100:
                raise ConfigError("--availability-target is a percentage between 0 and 100")
            slo = replace(slo, target=args.availability_target / 100)
        if slo.name == "latency" and args.latency_target is not None:
            if args.latency_target <= 0:
                raise ConfigError("--latency-target is a positive number of milliseconds")
            threshold = f"{args.latency_target / 1000:g}"
            good = replace(
                slo.good,
                matchers=tuple(
                    (label, op, threshold if label == "le" else value)
                    for label, op, value in slo.good.matchers
                ),
            )
            slo = replace(slo, good=good)
        slos.append(slo)
    return replace(objectives, slos=tuple(slos))


def measure_scrape(
    config: PipelineConfig,
    target: LiveRelease,
    window: float,
    objectives: Objectives,
    report: Report,
) -> Counts:
    start = scrape_each(target.fetch_each)
    began = time.monotonic()
    print(f"gates slo: measuring {target.environment} ({target.release_id}) for {window:g} s")
    while (left := window - (time.monotonic() - began)) > 0:
        time.sleep(min(left, 5.0))
        if time.monotonic() - began < window:
            seen = objectives.slos[0].total.total(delta_each(start, scrape_each(target.fetch_each)))
            print(f"gates slo: {time.monotonic() - began:.0f}/{window:g} s, {seen:g} requests")
    changes = delta_each(start, scrape_each(target.fetch_each))
    seen = min(slo.total.total(changes) for slo in objectives.slos)
    if seen < config.slo.min_requests:
        needed = config.slo.min_requests - seen
        seconds = min(needed / config.slo.probe_rate + 1, config.slo.probe_max_seconds)
        print(
            f"gates slo: only {seen:g} requests in the window; driving a synthetic probe of "
            f"{config.slo.probe_rate} requests/s for up to {seconds:.0f} s"
        )
        probe = ConstantRateLoad(
            target.base_url, PROBE_PATHS, rate=config.slo.probe_rate, duration=seconds
        ).run()
        report.details["synthetic_probe"] = {
            "requests": len(probe.samples),
            "seconds": round(probe.duration, 1),
            "reason": f"{seen:g} requests in the window, {config.slo.min_requests} needed",
        }
        changes = delta_each(start, scrape_each(target.fetch_each))
    report.details["window_seconds"] = round(time.monotonic() - began, 1)
    return {
        slo.name: (slo.good.total(changes), slo.total.total(changes)) for slo in objectives.slos
    }


def prometheus_value(url: str, selector: Selector, window: float) -> float:
    query = f"sum(increase({selector.text}[{int(window)}s]))"
    address = f"{url.rstrip('/')}/api/v1/query?{urllib.parse.urlencode({'query': query})}"
    try:
        with urllib.request.urlopen(address, timeout=30) as response:  # nosec B310
            data: object = json.loads(response.read())
    except (OSError, ValueError, urllib.error.URLError) as exc:
        raise MeasurementError(f"Prometheus at {url} did not answer {query!r}: {exc}") from None
    body = data.get("data") if isinstance(data, dict) else None
    result = body.get("result") if isinstance(body, dict) else None
    if not isinstance(data, dict) or data.get("status") != "success" or not result:
        raise MeasurementError(f"Prometheus has no data for {query!r}")
    try:
        return float(result[0]["value"][1])
    except (KeyError, IndexError, TypeError, ValueError):
        raise MeasurementError(f"Prometheus answered {query!r} with {result!r}") from None


def measure_prometheus(url: str, window: float, objectives: Objectives) -> Counts:
    return {
        slo.name: (
            prometheus_value(url, slo.good, window),
            prometheus_value(url, slo.total, window),
        )
        for slo in objectives.slos
    }


def judge(
    report: Report,
    objectives: Objectives,
    counts: Counts,
    window: float,
    config: PipelineConfig,
) -> None:
    threshold = objectives.burn_rate_threshold
    for slo in objectives.slos:
        good, total = counts[slo.name]
        if total < config.slo.min_requests:
            raise MeasurementError(
                f"{slo.display}: {total:g} requests in the window, {config.slo.min_requests} "
                "needed to decide; never a pass without data"
            )
        if good > total:
            raise MeasurementError(f"{slo.display}: {good:g} good of {total:g}: series mismatch")
        sli = good / total
        burn = (1 - sli) / (1 - slo.target)
        budget_share = burn * window / slo.window_seconds
        report.details.setdefault("slis", {})[slo.name] = {
            "good": good,
            "total": total,
            "sli": sli,
            "target": slo.target,
            "burn_rate": burn,
            "budget_consumed_of_slo_window": budget_share,
            "good_query": slo.good.text,
            "total_query": slo.total.text,
        }
        report.add(
            slo.display,
            sli >= slo.target,
            f"{sli:.4%} ({total - good:g} bad of {total:g})",
            f">= {slo.target:.2%}",
            slo.good.text,
        )
        report.add(
            f"{slo.display} burn rate",
            burn <= threshold,
            f"{burn:.2f}x ({budget_share:.4%} of the {slo.window_seconds / 86400:g}-day budget)",
            f"<= {threshold:g}x",
            "error ratio / (1 - objective)",
        )


def run(config: PipelineConfig, report: Report, args: Namespace) -> None:
    # Every input is checked before the environment is looked at: a bad one measures nothing
    # and records nothing.
    objectives = objectives_for(config, args)
    window = durations.seconds(args.window or config.slo.window, "--window", most=SLO_WINDOW)
    target = live_target(config, args.environment)
    report.details.update(
        release_id=target.release_id,
        environment=target.environment,
        deployment=target.deployment,
    )
    if args.prometheus_url:
        counts = measure_prometheus(args.prometheus_url, window, objectives)
        report.details["source"] = f"Prometheus {args.prometheus_url}"
    else:
        counts = measure_scrape(config, target, window, objectives, report)
        report.details["source"] = f"{target.base_url}/metrics deltas"
    judge(report, objectives, counts, window, config)
    probe = report.details.get("synthetic_probe")
    if probe:
        report.sections.append(
            f"Traffic was too low ({probe['reason']}): the gate drove a synthetic probe of "
            f"{probe['requests']} requests over {probe['seconds']} s.\n"
        )
