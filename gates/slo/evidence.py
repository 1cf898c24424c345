"""What counts of good and total requests show about an SLO: the decision rule of the SLO
gate, on numbers only.

An objective ``target`` (e.g. 0.999) leaves an error budget of ``1 - target``. From ``bad``
errors in ``total`` requests, the one-sided 95 % Clopper-Pearson bounds on the error ratio
(gates.slo.bounds) decide:

- **met** when the upper bound is within the budget (the data show the objective);
- **violated** when the lower bound exceeds it (the data show it is broken);
- **inconclusive** otherwise, or under the floor of ``floor`` requests: never a pass. The
  evidence says how many requests (all good) the total would have to reach to show it.

Burn rate is the error ratio over a window divided by the budget; a burn-rate condition with
a lookback (e.g. 1h) fires when both that window and one a twelfth as long (5m) burn faster
than its threshold (the SRE Workbook's multiwindow alerts: page at 14.4x over 1h and 5m,
ticket at 6x over 6h and 30m).
"""

from dataclasses import dataclass
from typing import Literal

from gates.slo import bounds as binomial_bounds

__all__ = ["Evidence", "WindowCounts", "fires", "short_window", "span", "weigh"]
CONFIDENCE = binomial_bounds.CONFIDENCE
SHORT_WINDOW_DIVISOR = 12  # the Workbook's short window: 1h -> 5m, 6h -> 30m
Decision = Literal["met", "violated", "inconclusive"]


@dataclass(frozen=True)
class Evidence:
    """The bounds on one SLO's error ratio, and the decision they allow."""

    bad: int
    total: int
    target: float
    floor: int  # never decide on fewer requests, whatever the bounds say
    lower: float  # one-sided 95 % bounds on the error ratio
    upper: float
    needed: int  # the total that would show the target if no more requests failed

    @property
    def budget(self) -> float:
        return 1 - self.target

    @property
    def decision(self) -> Decision:
        if self.total < self.floor:
            return "inconclusive"
        if self.lower > self.budget:
            return "violated"
        if self.upper <= self.budget:
            return "met"
        return "inconclusive"

    @property
    def more(self) -> int:
        """Requests still needed (all good) to show the target; 0 once decided."""
        return 0 if self.decision != "inconclusive" else max(self.needed - self.total, 1)

    @property
    def sli(self) -> float:
        return 1 - self.bad / self.total if self.total else 0.0

    def why_inconclusive(self) -> str:
        """One sentence: why no decision, and what would allow one."""
        if self.total < self.floor:
            return (
                f"{self.total:,} requests, under the floor of {self.floor:,} "
                f"([tool.pipeline.slo] min_requests); {self.more:,} more requests needed to "
                "decide"
            )
        return (
            f"{self.bad:,} bad of {self.total:,} requests: the error ratio could be as high as "
            f"{percent(self.upper)} (95 % upper bound) and as low as {percent(self.lower)}, "
            f"against a budget of {percent(self.budget)} ({percent(self.target)} objective); "
            f"{self.more:,} more requests, none failing, would be needed to show it "
            f"({self.needed:,} in all)"
        )


def weigh(good: float, total: float, target: float, floor: int) -> Evidence:
    """The evidence in ``good`` of ``total`` requests about an objective of ``target``.

    Counts are rounded to whole requests: Prometheus's increase() extrapolates to the edges
    of its range, so it may return fractions of a request."""
    requests, bad = round(total), round(total) - round(good)
    budget = 1 - target
    needed = max(floor, binomial_bounds.requests_needed(bad, budget))
    if requests == 0:
        return Evidence(0, 0, target, floor, 0.0, 1.0, needed)
    return Evidence(
        bad,
        requests,
        target,
        floor,
        binomial_bounds.lower(bad, requests),
        binomial_bounds.upper(bad, requests),
        needed,
    )


@dataclass(frozen=True)
class WindowCounts:
    """Good and total requests over one window ending now."""

    seconds: float
    good: float
    total: float

    def burn(self, target: float) -> float:
        """The error ratio over the window divided by the error budget; 0 without requests
        (nothing was served, so nothing burned)."""
        if self.total <= 0:
            return 0.0
        return max(0.0, 1 - self.good / self.total) / (1 - target)


def fires(long: WindowCounts, short: WindowCounts, target: float, threshold: float) -> bool:
    """A multiwindow burn-rate condition: both windows burn faster than ``threshold``."""
    return long.burn(target) > threshold and short.burn(target) > threshold


def short_window(lookback: float) -> float:
    """The short window paired with a lookback, in whole seconds (at least one)."""
    return max(1.0, float(round(lookback / SHORT_WINDOW_DIVISOR)))


def span(seconds: float) -> str:
    """``3600`` as ``1h``, ``300`` as ``5m``, ``62`` as ``62s``: the largest whole unit."""
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{seconds / size:g}{unit}"
    return f"{seconds:g}s"


def percent(ratio: float) -> str:
    """``0.008523`` as ``0.852 %``: three significant digits."""
    return f"{ratio * 100:.3g} %"
