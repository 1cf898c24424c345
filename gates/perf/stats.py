"""Percentiles and one-sided tests for latency samples: is a new sample slower than a baseline
overall (Mann-Whitney U), or in its tail (exceedance of a percentile)?

Hand-written, and checked against numpy's and scipy's over many inputs
(tests/unit/test_statistics_against_scipy.py): none of the gates' runtime dependencies computes
them, and scipy would add 113 MB installed (scipy and scipy.libs, measured) to the perf, SLO
and drill sessions for the fifty lines below; it is in the test group only. Medians are the
standard library's (``statistics.median``).
"""

import math
from collections.abc import Sequence


def percentile(sorted_values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100) of an already sorted list."""
    if not sorted_values:
        raise ValueError("no values")
    rank = max(1, math.ceil(q / 100 * len(sorted_values)))
    return sorted_values[rank - 1]


def mann_whitney_greater(new: Sequence[float], base: Sequence[float]) -> tuple[float, float, float]:
    """One-sided Mann-Whitney U: is ``new`` stochastically greater than ``base``?

    Returns (U of new, p-value, probability that a new value exceeds a base value). Normal
    approximation with tie correction and continuity correction (fine for samples > 20).
    """
    n1, n2 = len(new), len(base)
    if n1 < 2 or n2 < 2:
        raise ValueError("each sample needs at least 2 values")
    combined = sorted([(v, 0) for v in new] + [(v, 1) for v in base])
    ranks = [0.0] * len(combined)
    tie_term = 0.0
    i = 0
    while i < len(combined):
        j = i
        while j + 1 < len(combined) and combined[j + 1][0] == combined[i][0]:
            j += 1
        average = (i + j) / 2 + 1
        for k in range(i, j + 1):
            ranks[k] = average
        ties = j - i + 1
        tie_term += ties**3 - ties
        i = j + 1
    rank_sum = sum(r for r, (_, group) in zip(ranks, combined) if group == 0)
    u = rank_sum - n1 * (n1 + 1) / 2
    n = n1 + n2
    variance = n1 * n2 / 12 * ((n + 1) - tie_term / (n * (n - 1)))
    if variance <= 0:
        return u, 1.0, u / (n1 * n2)
    z = (u - n1 * n2 / 2 - 0.5) / math.sqrt(variance)
    return u, 0.5 * math.erfc(z / math.sqrt(2)), u / (n1 * n2)


def exceedance_greater(
    new: Sequence[float], base: Sequence[float], threshold: float
) -> tuple[float, float, float]:
    """One-sided two-proportion z-test: do more ``new`` values than ``base`` values exceed
    ``threshold``? For a tail: with ``threshold`` the baseline's p95, an unchanged service
    puts about 5 % of each sample above it; a slower tail puts more of ``new`` there.

    Returns (p-value, share of new above, share of base above); pooled variance.
    """
    n1, n2 = len(new), len(base)
    if n1 < 2 or n2 < 2:
        raise ValueError("each sample needs at least 2 values")
    above_new = sum(1 for v in new if v > threshold)
    above_base = sum(1 for v in base if v > threshold)
    share_new, share_base = above_new / n1, above_base / n2
    pooled = (above_new + above_base) / (n1 + n2)
    variance = pooled * (1 - pooled) * (1 / n1 + 1 / n2)
    if variance <= 0:
        return (0.0 if share_new > share_base else 1.0), share_new, share_base
    z = (share_new - share_base) / math.sqrt(variance)
    return 0.5 * math.erfc(z / math.sqrt(2)), share_new, share_base
