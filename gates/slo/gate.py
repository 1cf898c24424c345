"""``gates slo``: SLIs from the service's real metrics over a window, judged against the
objectives file (gates.slo.objectives) on evidence (gates.slo.evidence):

- each objective passes only when the 95 % upper confidence bound on its error ratio is
  within the budget, fails when the 95 % lower bound exceeds it, and is otherwise
  inconclusive: exit 3 (MeasurementError) saying how many more requests would decide;
- each burn-rate AlertCondition fails the gate when it fires.

Scrape mode (default): /metrics is scraped at the start and the end of the window and the
SLIs come from the deltas. When the window cannot decide, a synthetic probe sized from what
is missing (bounded by ``probe_rate`` and ``probe_max_seconds``) adds traffic, and the
report says so. Burn rates are then judged over the gate's own window, the only one it has;
the report names it and says the declared lookbacks were not evaluated.

With ``--prometheus-url`` (or the environment's ``prometheus_url``; ``""`` forces scrape
mode) the same selectors, scoped by the environment's ``prometheus_labels``, are asked of
Prometheus as ``sum(increase(selector[<window>s]))`` at one instant: the SLIs over
``--window``, and each AlertCondition over its lookbackWindow and a twelfth of it
(multiwindow), all at once from the history Prometheus holds (a lookback longer than that
history is judged over it, and the report says so). Before that, gates.slo.prometheus
checks the history for gaps (a failed scrape, missing scrapes, a history shorter than the
window): exit 3 naming the gap. No probe: a window too thin to decide is exit 3.
"""

from __future__ import annotations

import math
import time
from dataclasses import replace
from collections.abc import Callable
from typing import TYPE_CHECKING

from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.utils import floatToGoString

from gates import durations, httpget

from gates.slo import evidence as slo_evidence, objectives as slo_objectives
from gates.config.models import SLO_WINDOW
from gates.perf.load import ConstantRateLoad
from gates.outcome import ConfigError, MeasurementError
from gates.report import Report
from gates.slo.selectors import SampleKey, Samples, Selector
from gates.slo.evidence import Evidence, WindowCounts, percent, span
from gates.slo.objectives import BurnAlert, Objective, Objectives
from gates.slo.prometheus import Source, check_history
from gates.targets import LiveRelease, live_release

if TYPE_CHECKING:
    from argparse import ArgumentParser, Namespace

    from gates.config import PipelineConfig

PROBE_PATHS = ("/api/data", "/health")
# SLO name -> (good events, all events) in the window
Counts = dict[str, tuple[float, float]]
# (SLO name, AlertCondition name) -> its (lookback window, short window) in Prometheus
Burns = dict[tuple[str, str], tuple[WindowCounts, WindowCounts]]


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
    parser.add_argument(
        "--prometheus-url",
        help="take the SLIs from this Prometheus server (default: the environment's "
        'prometheus_url; "" for scrape mode)',
    )


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


# A float as the Prometheus exposition writes it (prometheus_client's, untyped there)
go_float: Callable[[float], str] = floatToGoString


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
            # the bucket's label as the service exposes it (10 s is le="10.0", not "10")
            threshold = go_float(args.latency_target / 1000)
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
    counts = counts_of(objectives, delta_each(start, scrape_each(target.fetch_each)))
    more = probe_size(objectives, counts, config.slo.min_requests)
    if more:
        seen = min(total for _, total in counts.values())
        rate, most = config.slo.probe_rate, config.slo.probe_max_seconds
        seconds = min(math.ceil(more / rate) + 1, most)  # +1 s: requests still in flight
        print(
            f"gates slo: {seen:g} requests in the window cannot decide; {more:,} more are "
            f"needed: driving a synthetic probe of {rate} requests/s for {seconds} s"
            + (f" (probe_max_seconds: about {rate * most:,} requests)" if seconds == most else "")
        )
        probe = ConstantRateLoad(target.base_url, PROBE_PATHS, rate=rate, duration=seconds).run()
        report.details["synthetic_probe"] = {
            "requests": len(probe.samples),
            "seconds": round(probe.duration, 1),
            "reason": f"{seen:g} requests in the window, {more:,} more needed to decide",
        }
        counts = counts_of(objectives, delta_each(start, scrape_each(target.fetch_each)))
    report.details["window_seconds"] = round(time.monotonic() - began, 1)
    return counts


def counts_of(objectives: Objectives, changes: dict[SampleKey, float]) -> Counts:
    """(good, total) per SLO; MeasurementError when a good selector names a histogram bucket
    (``le="..."``) the service does not expose: every request would count as bad, a verdict
    about the threshold, not the service."""
    for slo in objectives.slos:
        wanted = [value for label, op, value in slo.good.matchers if (label, op) == ("le", "=")]
        exposed = {dict(labels).get("le") for name, labels in changes if name == slo.good.name}
        exposed.discard(None)
        if wanted and exposed and wanted[0] not in exposed:
            listed = ", ".join(sorted(str(le) for le in exposed))
            raise MeasurementError(
                f'{slo.name}: the service has no {slo.good.name} bucket le="{wanted[0]}" '
                f"(its buckets: {listed}): choose a threshold it has a bucket for, or add one "
                "to the service (its SLO_LATENCY_SECONDS setting)"
            )
    return {
        slo.name: (slo.good.total(changes), slo.total.total(changes)) for slo in objectives.slos
    }


def probe_size(objectives: Objectives, counts: Counts, floor: int) -> int:
    """Requests a probe must add for every SLO to be decided if none of them fails; 0 when
    the window decided them all, or already shows one violated (more traffic cannot help)."""
    evidence = [slo_evidence.weigh(*counts[slo.name], slo.target, floor) for slo in objectives.slos]
    if any(e.decision == "violated" for e in evidence):
        return 0
    return max(e.more for e in evidence)


def prometheus_value(url: str | Source, selector: Selector, window: float) -> float:
    return source_of(url).increase(selector, window)


def source_of(url: str | Source) -> Source:
    return url if isinstance(url, Source) else Source(url)


def measure_prometheus(url: str | Source, window: float, objectives: Objectives) -> Counts:
    source = source_of(url)
    return {
        slo.name: (source.increase(slo.good, window), source.increase(slo.total, window))
        for slo in objectives.slos
    }


def burn_windows(url: str | Source, objectives: Objectives, held: float | None = None) -> Burns:
    """Every AlertCondition's lookback window and its short window (a twelfth), per SLO,
    from Prometheus; each distinct query asked once. ``held``: the history Prometheus holds,
    the seconds a longer window is judged over (the counts say so)."""
    source = source_of(url)
    asked: dict[tuple[str, float], float] = {}

    def value(selector: Selector, seconds: float) -> float:
        if (selector.text, seconds) not in asked:
            asked[selector.text, seconds] = source.increase(selector, seconds)
        return asked[selector.text, seconds]

    def counts(slo: Objective, seconds: float) -> WindowCounts:
        judged = seconds if held is None else min(seconds, float(round(held)))
        return WindowCounts(judged, value(slo.good, seconds), value(slo.total, seconds))

    return {
        (slo.name, alert.name): (
            counts(slo, alert.lookback_seconds),
            counts(slo, slo_evidence.short_window(alert.lookback_seconds)),
        )
        for slo in objectives.slos
        for alert in objectives.alerts
    }


def measure_in_prometheus(
    source: Source, window: float, objectives: Objectives, report: Report
) -> tuple[Counts, Burns]:
    """The SLIs over ``window`` and every burn window, at once, from a Prometheus whose
    history of the environment has no gap (slo_prometheus.check_history; else exit 3)."""
    longest = max([window, *(alert.lookback_seconds for alert in objectives.alerts)])
    history = check_history(
        source.up(longest), source.at or time.time(), window, longest, source.url, source.listed
    )
    print(
        f"gates slo: Prometheus {source.url} holds {history.seconds:.0f} s of "
        f"{', '.join(history.targets)} without a gap (scrape interval {history.interval:g} s)"
    )
    report.details["prometheus"] = {
        "url": source.url,
        "labels": dict(source.labels),
        "evaluated_at": source.at,
        "targets": list(history.targets),
        "scrape_interval_seconds": history.interval,
        "history_seconds": round(history.seconds, 1),
        "checked_for_gaps_seconds": round(history.checked_seconds, 1),
    }
    counts = measure_prometheus(source, window, objectives)
    held = history.seconds if history.seconds < longest else None
    clipped = [
        span(seconds)
        for alert in objectives.alerts
        for seconds in (alert.lookback_seconds, slo_evidence.short_window(alert.lookback_seconds))
        if held is not None and seconds > held
    ]
    if clipped:
        report.sections.append(
            f"Prometheus holds {history.seconds:.0f} s of this environment: the declared "
            f"{', '.join(clipped)} windows were judged over those {history.seconds:.0f} s.\n"
        )
    return counts, burn_windows(source, objectives, held)


def judge(
    report: Report,
    objectives: Objectives,
    counts: Counts,
    window: float,
    config: PipelineConfig,
    burns: Burns | None = None,
    hint: str = "",
) -> None:
    """Checks for every decided objective and every burn-rate condition (``burns`` from
    Prometheus, or else the burn over ``window``); MeasurementError when an objective is
    inconclusive and nothing failed: exit 3, never a pass."""
    floor = config.slo.min_requests
    inconclusive = []
    for slo in objectives.slos:
        good, total = counts[slo.name]
        if good > total:
            raise MeasurementError(f"{slo.display}: {good:g} good of {total:g}: series mismatch")
        evidence = slo_evidence.weigh(good, total, slo.target, floor)
        own = WindowCounts(window, good, total)
        report.details.setdefault("slis", {})[slo.name] = {
            "good": good,
            "total": total,
            "sli": evidence.sli,
            "target": slo.target,
            "decision": evidence.decision,
            "error_ratio_lower_bound": evidence.lower,
            "error_ratio_upper_bound": evidence.upper,
            "confidence": slo_evidence.CONFIDENCE,
            "requests_needed": evidence.needed,
            "burn_rate": own.burn(slo.target),
            "budget_consumed_of_slo_window": own.burn(slo.target) * window / slo.window_seconds,
            "good_query": slo.good.text,
            "total_query": slo.total.text,
        }
        if evidence.decision == "inconclusive":
            inconclusive.append(f"{slo.display}: inconclusive: {evidence.why_inconclusive()}")
        else:
            report.add(
                slo.display,
                evidence.decision == "met",
                measured(evidence),
                f">= {percent(slo.target)}: errors within {percent(evidence.budget)} "
                "at 95 % confidence",
                slo.good.text,
            )
        for alert in objectives.alerts:
            if burns is not None:
                judge_burn(report, slo, alert, *burns[slo.name, alert.name])
            elif evidence.total >= floor:  # scrape mode: the gate's own window only
                judge_own_burn(report, slo, alert, own)
    describe_windows(report, objectives, window, burns is not None)
    if inconclusive and all(check.passed for check in report.checks):
        raise MeasurementError("; ".join(inconclusive) + (f"; {hint}" if hint else ""))
    if inconclusive:
        report.sections.append("Not decided: " + "; ".join(inconclusive) + ".\n")


def measured(evidence: Evidence) -> str:
    seen = f"{evidence.sli:.4%} ({evidence.bad:,} bad of {evidence.total:,})"
    if evidence.decision == "violated":
        return f"{seen}; 95 % lower bound {percent(evidence.lower)} on the error ratio"
    return f"{seen}; 95 % upper bound {percent(evidence.upper)} on the error ratio"


def judge_burn(
    report: Report, slo: Objective, alert: BurnAlert, long: WindowCounts, short: WindowCounts
) -> None:
    burns = " and ".join(
        f"{window.burn(slo.target):.2f}x over {span(window.seconds)}"
        + ("" if window.total > 0 else " (no requests)")
        for window in (long, short)
    )
    report.add(
        f"{slo.display} burn rate ({alert.name}, {alert.severity})",
        not slo_evidence.fires(long, short, slo.target, alert.threshold),
        burns,
        f"fires when both > {alert.threshold:g}x",
        f"Prometheus: sum(increase({slo.total.text}[...]))",
    )


def judge_own_burn(report: Report, slo: Objective, alert: BurnAlert, own: WindowCounts) -> None:
    declared = f"{span(alert.lookback_seconds)} and "
    declared += span(slo_evidence.short_window(alert.lookback_seconds))
    report.add(
        f"{slo.display} burn rate ({alert.name}, {alert.severity})",
        own.burn(slo.target) <= alert.threshold,
        f"{own.burn(slo.target):.2f}x over the gate's own {own.seconds:.0f} s window "
        f"(not the declared {declared}: they need --prometheus-url)",
        f"<= {alert.threshold:g}x",
        "error ratio / (1 - objective)",
    )


def describe_windows(
    report: Report, objectives: Objectives, window: float, in_prometheus: bool
) -> None:
    declared = {
        alert.name: [
            span(alert.lookback_seconds),
            span(slo_evidence.short_window(alert.lookback_seconds)),
        ]
        for alert in objectives.alerts
    }
    if in_prometheus:
        report.details["burn_windows"] = {"evaluated": "the declared windows", "declared": declared}
        return
    own = f"the gate's own {window:.0f} s window"
    report.details["burn_windows"] = {"evaluated": own, "declared": declared}
    listed = ", ".join(f"{name} {' and '.join(spans)}" for name, spans in declared.items())
    report.sections.append(
        f"Burn rates were judged over {own} only. The declared lookbacks ({listed}) could "
        "not be evaluated: without --prometheus-url the gate has no data older than its "
        "window.\n"
    )


def run(config: PipelineConfig, report: Report, args: Namespace) -> None:
    # Every input is checked before the environment is looked at: a bad one measures nothing
    # and records nothing.
    objectives = objectives_for(config, args)
    window = durations.seconds(args.window or config.slo.window, "--window", most=SLO_WINDOW)
    target = live_release(config, args.environment)
    report.details.update(
        release_id=target.release_id,
        environment=target.environment,
        deployment=target.deployment,
    )
    settings = config.environment(args.environment)
    url = settings.prometheus_url if args.prometheus_url is None else args.prometheus_url
    if url:
        source = Source(url.rstrip("/"), settings.prometheus_labels)
        source = replace(source, at=source.now())
        counts, burns = measure_in_prometheus(source, window, objectives, report)
        report.details["source"] = f"Prometheus {source.url}"
        seconds, hint = window, f"measure over a longer --window (at most {span(SLO_WINDOW)})"
    else:
        counts = measure_scrape(config, target, window, objectives, report)
        burns = None
        report.details["source"] = f"{target.base_url}/metrics deltas"
        seconds = report.details.get("window_seconds", window)
        hint = (
            "measure over a longer --window, or let the probe send more "
            "([tool.pipeline.slo] probe_rate, probe_max_seconds)"
        )
    probe = report.details.get("synthetic_probe")
    if probe:
        report.sections.append(
            f"Traffic was too low ({probe['reason']}): the gate drove a synthetic probe of "
            f"{probe['requests']} requests over {probe['seconds']} s.\n"
        )
    judge(report, objectives, counts, seconds, config, burns, hint)
