"""The SLO gate's Prometheus side: its queries, and whether its history can be judged.

``Source(url, labels, at)`` asks one Prometheus server; every query is evaluated at the
same instant ``at`` (unix seconds) so that all windows end together, and ``labels`` (an
environment's ``prometheus_labels``) are added to every selector, so that a Prometheus
scraping several environments answers for this one.

``check_history`` is the gap rule (docs/verification.md, "slo"). From the raw ``up``
samples of the environment's targets (``up{labels}[<range>]``) over the longest window the
gate judges (the SLI window and every declared lookback, clipped to the history Prometheus
holds) it raises MeasurementError (exit 3), in one line naming the job/instance, when and
for how long, when:

- the SLI window reaches back before Prometheus's first sample of those targets (Prometheus,
  or its scraping of them, is younger than the window);
- a scrape failed (``up == 0``): requests the service could not answer while unreachable
  are counted nowhere, so the counters would overstate its availability;
- consecutive samples of a target are more than ``MISSING_SCRAPES`` scrape intervals apart,
  or its newest sample is that old: Prometheus was not scraping it (a counter reset in the
  gap would hide requests). One missed scrape is tolerated: increase() spans it exactly.

A target Prometheus no longer lists (``listed``: its active targets now) has left service
discovery, e.g. a task replaced by a rolling update: that its series ends is no gap, and
neither are the failed scrapes it ends with when they span at most ``MISSING_SCRAPES``
intervals (the task was stopped between Docker's DNS dropping it and Prometheus's next
refresh). Longer failures before it left are an outage like any other.

The scrape interval is the median spacing of the target's own samples. Declared lookbacks
longer than the history are judged over the history, and the report says so, as scrape
mode judges its own window.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from gates.outcome import MeasurementError
from gates.prometheus import Prometheus
from gates.slo.selectors import Selector
from gates.slo.evidence import span

__all__ = ["History", "Source", "check_history", "scoped"]
MISSING_SCRAPES = 2.5  # samples further apart than this many intervals: a gap
# {"job=..., instance=...": [(unix time, value), ...] oldest first}
Series = dict[str, list[tuple[float, float]]]


def scoped(selector: Selector, labels: Mapping[str, str]) -> str:
    """``selector`` with ``labels`` added as equality matchers (a label the selector already
    matches on is left to the selector)."""
    extra = {k: v for k, v in labels.items() if k not in {m[0] for m in selector.matchers}}
    if not extra:
        return selector.text
    matchers = [f'{label}{op}"{quote(value)}"' for label, op, value in selector.matchers]
    matchers += [f'{label}="{quote(value)}"' for label, value in sorted(extra.items())]
    return f"{selector.name}{{{','.join(matchers)}}}"


def quote(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"')


@dataclass(frozen=True)
class Source:
    """One Prometheus server, asked about one environment at one instant."""

    url: str
    labels: Mapping[str, str] = field(default_factory=dict)
    at: float | None = None  # unix seconds; None: Prometheus's now

    @property
    def api(self) -> Prometheus:
        return Prometheus(self.url)

    def ask(self, query: str) -> list[Any]:
        """The result of an instant ``query``; MeasurementError when there is none."""
        result = self.api.query(query, self.at)
        if not result:
            raise MeasurementError(f"Prometheus at {self.url} has no data for {query!r}")
        return result

    def now(self) -> float:
        """Prometheus's own clock (``time()``): the instant to evaluate at, so that a gate
        whose clock is off does not see a scrape as missing."""
        result = self.ask("time()")
        try:
            return float(result[1])
        except (IndexError, TypeError, ValueError):
            raise MeasurementError(f"Prometheus answered 'time()' with {result!r}") from None

    def increase(self, selector: Selector, seconds: float) -> float:
        """``sum(increase(selector[<seconds>s]))``, the selector scoped to the labels."""
        query = f"sum(increase({scoped(selector, self.labels)}[{int(seconds)}s]))"
        result = self.ask(query)
        try:
            return float(result[0]["value"][1])
        except (KeyError, IndexError, TypeError, ValueError):
            raise MeasurementError(f"Prometheus answered {query!r} with {result!r}") from None

    def listed(self) -> set[str]:
        """The environment's targets Prometheus scrapes now (its active targets with the
        labels), named as ``up`` names them."""
        return {
            target_name(labels)
            for labels in self.api.active_targets()
            if all(labels.get(k) == v for k, v in self.labels.items())
        }

    def up(self, seconds: float) -> Series:
        """The raw ``up`` samples of the environment's targets over the last ``seconds``."""
        labels = ",".join(f'{k}="{quote(v)}"' for k, v in sorted(self.labels.items()))
        query = f"up{{{labels}}}[{int(seconds)}s]"
        result = self.api.query(query, self.at)
        if not result:
            raise MeasurementError(
                f"Prometheus at {self.url} has no scrapes of this environment in the last "
                f"{span(int(seconds))} ({query}): is it scraping it? (prometheus_labels)"
            ) from None
        series: Series = {}
        try:
            for found in result:
                metric = found["metric"]
                series[target_name(metric)] = [(float(t), float(v)) for t, v in found["values"]]
        except (KeyError, TypeError, ValueError):
            raise MeasurementError(f"Prometheus answered {query!r} with {result!r}") from None
        return series


def target_name(labels: Mapping[str, str]) -> str:
    named = [f"{k}={labels[k]}" for k in ("job", "instance") if k in labels]
    return ", ".join(named) or str(dict(labels))


@dataclass(frozen=True)
class History:
    """What Prometheus holds of the environment's targets, checked for gaps."""

    seconds: float  # from the oldest sample (within the range asked) to ``at``
    interval: float  # s between scrapes (median spacing)
    targets: tuple[str, ...]
    checked_seconds: float  # the range checked for gaps


def clock(when: float) -> str:
    return datetime.fromtimestamp(when, timezone.utc).strftime("%H:%M:%S UTC")


def check_history(
    series: Series,
    at: float,
    window: float,
    longest: float,
    url: str,
    listed: Callable[[], Collection[str]] | None = None,
) -> History:
    """The history in ``series`` (``up`` samples over ``longest`` s before ``at``), or
    MeasurementError naming the first gap in it (see the module docstring). ``listed``: the
    targets Prometheus scrapes now, asked only when a series ends (None: every target in
    ``series``)."""
    spacings = [
        later[0] - earlier[0]
        for samples in series.values()
        for earlier, later in zip(samples, samples[1:])
    ]
    if not spacings:
        raise MeasurementError(
            f"Prometheus at {url} holds fewer than two scrapes of "
            f"{'; '.join(sorted(series))}: too little history to judge; wait for more"
        )
    interval = statistics.median(spacings)
    first = min(samples[0][0] for samples in series.values() if samples)
    held = at - first
    if held + interval < window:
        where = "; ".join(sorted(series))
        raise MeasurementError(
            f"Prometheus at {url} holds {held:.0f} s of {where} (since {clock(first)}), less "
            f"than the {span(window)} window: decide in {window - held:.0f} s, or use "
            f"--window {int(held)}s"
        )
    judged = min(longest, held)
    most = MISSING_SCRAPES * interval
    ended = any(s[-1][1] == 0 or at - s[-1][0] > most for s in series.values() if s)
    now = listed() if ended and listed is not None else None
    for target, samples in sorted(series.items()):
        if now is not None and target not in now and samples:
            samples = departure(samples, interval)  # judged up to where its series ends
            gap = first_gap(samples, samples[-1][0], interval) if samples else None
        else:
            gap = first_gap(samples, at, interval)
        if gap is not None:
            start, end, what = gap
            raise MeasurementError(
                f"Prometheus at {url}: {target} {what} from {clock(start)} to {clock(end)} "
                f"({end - start:.0f} s), inside the {span(round(judged))} it judges: the SLIs "
                f"would miss requests; decide after {clock(end + longest)}, when it is older "
                f"than the longest lookback ({span(longest)}), or use scrape mode "
                '(--prometheus-url "")'
            )
    return History(held, interval, tuple(sorted(series)), judged)


def departure(samples: list[tuple[float, float]], interval: float) -> list[tuple[float, float]]:
    """The samples of a target that has left discovery, up to its departure: the failed
    scrapes it ends with dropped when they span at most MISSING_SCRAPES intervals (else they
    were an outage: all kept), and no newest sample is required (its series ended)."""
    kept = list(samples)
    while kept and kept[-1][1] == 0:
        kept.pop()
    failing = samples[-1][0] - samples[len(kept)][0] if len(kept) < len(samples) else 0.0
    return samples if failing > MISSING_SCRAPES * interval else kept


def first_gap(
    samples: list[tuple[float, float]], at: float, interval: float
) -> tuple[float, float, str] | None:
    """(start, end, what) of the first failed scrape or missing stretch, or None."""
    most = MISSING_SCRAPES * interval
    for index, (when, value) in enumerate(samples):
        if value == 0:
            end = next((t for t, v in samples[index:] if v != 0), at)
            return when, end, "failed its scrapes (up == 0)"
        if index and when - samples[index - 1][0] > most:
            return samples[index - 1][0], when, "was not scraped (no samples)"
    if samples and at - samples[-1][0] > most:
        return samples[-1][0], at, "is not being scraped (no samples)"
    return None
