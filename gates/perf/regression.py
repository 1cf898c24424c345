"""Has a perf run regressed against its baseline? Which earlier runs are the baseline, and
the decision, percentile by percentile.

**Baseline.** The newest *accepted* run of each of the last ``regression_baseline_runs``
*other* deployments (release + service config, ``LiveRelease.deployment``) measured in the
environment, newest first. A run is accepted when it passed every perf check *and* did not
drift: neither percentile slower than its own baseline by half its relative floor (and the
noise floor, significantly). So:

- a run that regressed is never a baseline: the next deployment is still compared with the
  fast one before it;
- nor is one that passed while slower by more than half the floor: steps that each pass
  cannot ratchet the reference up, their sum is judged against the run before them;
- runs of the deployment being judged never are either: running perf twice on a slow
  deployment does not make it its own reference, and a slow *config* push (a new
  deployment of the same release) is compared with the previous config, like slow code;
- with several baseline deployments, each baseline percentile is the *median* of theirs, so
  one unusually fast or slow earlier run does not move the reference.

Records written before deployments were recorded (no ``deployment`` key) count as one
deployment per release (``release:<id>``): usable as the baseline of a *different* release,
never of the same release, since they might be the very deployment being judged. Their
``passed`` flag stands for ``accepted``.

**Decision.** For p50 and for p95 separately, the candidate regressed when it is slower than
the baseline by at least the relative floor (``regression_min_ratio`` for p50,
``regression_tail_ratio`` for p95) *and* by at least the absolute noise floor
(``regression_min_ms``, sized from measured run-to-run spread, docs/benchmarks.md), *and* the
difference is significant (p < ``regression_alpha``): a one-sided Mann-Whitney U test for the
median, a one-sided two-proportion test of how many requests exceed the baseline's p95 for
the tail (a tail-only slowdown moves too few requests for Mann-Whitney to see).

**A busier machine is not a regression.** When a percentile regressed but the generator's
own send lag shows the machine was much busier than during the baseline (``busier``), and
the slowdown is no larger than the lag grew, the comparison cannot tell a slowdown from
contention: the gate could not judge (exit 3), rather than fail the release on noise or
pass it. A slowdown larger than that is the service's: a verdict.
"""

from __future__ import annotations

import json
import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from gates.perf import stats


class Floors(Protocol):
    """The settings the decision reads ([tool.pipeline.perf], gates.config.PerfConfig)."""

    @property
    def regression_alpha(self) -> float: ...
    @property
    def regression_min_ratio(self) -> float: ...
    @property
    def regression_tail_ratio(self) -> float: ...
    @property
    def regression_min_ms(self) -> float: ...


MEDIAN, TAIL = 50, 95
LAG_NOISE_MS = 1.0  # send-lag differences below this are scheduler jitter, not a busier machine


@dataclass(frozen=True)
class Run:
    """One earlier perf run, as recorded."""

    source: str  # where it was read: a file, or the environment's history
    release_id: str
    deployment: str  # "release:<id>" for records older than the deployment key
    measured_at: str  # UTC stamp, sorts in time order
    accepted: bool
    latencies_ms: tuple[float, ...]
    lag_p95_ms: float | None = None  # the generator's send lag (None: an older record)

    def percentile(self, q: int) -> float:
        return stats.percentile(sorted(self.latencies_ms), q)


def run_from(data: Mapping[str, Any], source: str) -> Run | None:
    """The run a record describes; None for a record too damaged to judge against."""
    try:
        release_id = str(data["release_id"])
        latencies = tuple(float(ms) for ms in data["latencies_ms"])
        measured_at = str(data["measured_at"])
    except (KeyError, TypeError, ValueError):
        return None
    if len(latencies) < 2:
        return None
    deployment = data.get("deployment") or f"release:{release_id}"
    accepted = bool(data.get("accepted", data.get("passed", False)))
    summary = data.get("summary")
    lag = summary.get("lag_p95_ms") if isinstance(summary, dict) else None
    lag_p95 = float(lag) if isinstance(lag, (int, float)) else None
    return Run(source, release_id, str(deployment), measured_at, accepted, latencies, lag_p95)


def load_runs(directory: Path, kept: Iterable[Mapping[str, Any]] = ()) -> list[Run]:
    """Runs recorded as files in ``directory`` and ``kept`` with the environment's history
    (a run found in both counts once), oldest first."""
    found: dict[tuple[str, str], Run] = {}
    for path in sorted(directory.glob("*.json")):
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        if isinstance(data, dict) and (run := run_from(data, str(path))) is not None:
            found.setdefault((run.measured_at, run.release_id), run)
    for data in kept:
        source = f"the environment's history ({data.get('measured_at')})"
        if (run := run_from(data, source)) is not None:
            found.setdefault((run.measured_at, run.release_id), run)
    return sorted(found.values(), key=lambda r: r.measured_at)


def baseline_runs(runs: Sequence[Run], release_id: str, deployment: str, count: int) -> list[Run]:
    """The newest accepted run of each of the last ``count`` other deployments, newest
    first (see the module docstring)."""
    chosen: dict[str, Run] = {}
    for run in sorted(runs, key=lambda r: r.measured_at, reverse=True):
        if not run.accepted or run.deployment == deployment or run.deployment in chosen:
            continue
        if run.deployment == f"release:{run.release_id}" and run.release_id == release_id:
            continue  # an old record of this release: perhaps this very deployment
        chosen[run.deployment] = run
        if len(chosen) == count:
            break
    return list(chosen.values())


@dataclass(frozen=True)
class Comparison:
    """One percentile of the candidate against the baseline's."""

    percentile: int
    new_ms: float
    base_ms: float
    p_value: float
    test: str  # the significance test behind p_value
    min_ratio: float
    min_ms: float
    alpha: float

    @property
    def slower_ms(self) -> float:
        return self.new_ms - self.base_ms

    @property
    def slower_ratio(self) -> float:
        return self.new_ms / self.base_ms - 1 if self.base_ms > 0 else 0.0

    @property
    def regressed(self) -> bool:
        return (
            self.p_value < self.alpha
            and self.slower_ratio >= self.min_ratio
            and self.slower_ms >= self.min_ms
        )

    @property
    def drifted(self) -> bool:
        """Slower by half the relative floor or more (and the noise floor, significantly):
        not a regression, but too far to become a later run's baseline (no ratchet)."""
        return (
            self.p_value < self.alpha
            and self.slower_ratio >= self.min_ratio / 2
            and self.slower_ms >= self.min_ms
        )

    @property
    def measured(self) -> str:
        return (
            f"p{self.percentile} {self.new_ms:.2f} ms vs {self.base_ms:.2f} ms "
            f"({self.slower_ratio:+.0%}, {self.slower_ms:+.2f} ms), "
            f"{self.test} p={self.p_value:.2g}"
        )

    @property
    def limit(self) -> str:
        return (
            f"regressed if slower by >= {self.min_ratio:.0%} and >= {self.min_ms:g} ms "
            f"with p < {self.alpha:g}"
        )


def compare(
    latencies_ms: Sequence[float], baseline: Sequence[Run], perf: Floors
) -> list[Comparison]:
    """p50 and p95 of ``latencies_ms`` against ``baseline`` (at least one run)."""
    if not baseline:
        raise ValueError("no baseline runs")
    new = sorted(latencies_ms)
    pooled = [ms for run in baseline for ms in run.latencies_ms]
    base_median = statistics.median([run.percentile(MEDIAN) for run in baseline])
    base_tail = statistics.median([run.percentile(TAIL) for run in baseline])
    _, median_p, _ = stats.mann_whitney_greater(new, pooled)
    tail_p, _, _ = stats.exceedance_greater(new, pooled, base_tail)
    common = {"min_ms": perf.regression_min_ms, "alpha": perf.regression_alpha}
    return [
        Comparison(
            MEDIAN,
            stats.percentile(new, MEDIAN),
            base_median,
            median_p,
            "Mann-Whitney",
            perf.regression_min_ratio,
            **common,
        ),
        Comparison(
            TAIL,
            stats.percentile(new, TAIL),
            base_tail,
            tail_p,
            f"share above baseline p{TAIL}",
            perf.regression_tail_ratio,
            **common,
        ),
    ]


def limits_ms(baseline: Sequence[Run], perf: Floors) -> dict[str, float]:
    """The latency above which each judged percentile is slower by both floors (for the
    chart: the significance test decides too, so a point above it may still not regress)."""
    floors = ((MEDIAN, perf.regression_min_ratio), (TAIL, perf.regression_tail_ratio))
    found = {}
    for q, ratio in floors:
        base = statistics.median([run.percentile(q) for run in baseline])
        found[f"p{q} regression limit"] = max(base * (1 + ratio), base + perf.regression_min_ms)
    return found


def busier(lag_p95_ms: float | None, baseline: Sequence[Run], max_ratio: float) -> float:
    """How many ms more the generator's send lag p95 was than the baseline's, when the
    machine was much busier (more than ``max_ratio`` times and ``LAG_NOISE_MS`` more); 0.0
    when it was not, or when a run does not know its lag.

    The send lag (slot to send) is time the generator waited for the CPU, so its p95 shows
    how contended the machine was. On a shared machine the service's latency rises with it
    (measured: p50 x2.9 between two runs of the same release), by about as much as the lag
    did (docs/benchmarks.md); a slowdown no larger than that cannot be told from contention.
    """
    known = [run.lag_p95_ms for run in baseline if run.lag_p95_ms is not None]
    if lag_p95_ms is None or not known:
        return 0.0
    base = statistics.median(known)
    if lag_p95_ms > base * max_ratio and lag_p95_ms - base > LAG_NOISE_MS:
        return lag_p95_ms - base
    return 0.0
