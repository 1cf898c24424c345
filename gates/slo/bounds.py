"""One-sided Clopper-Pearson ("exact") confidence bounds on a binomial proportion, here the
error ratio of ``bad`` failed requests out of ``total``.

``upper(bad, total)`` is the largest error ratio still consistent with what was seen: the ``p``
at which seeing ``bad`` or fewer errors has probability 1 - confidence. ``lower`` is its mirror
image. Clopper-Pearson never covers less than its confidence (Wilson's interval can, at small
ratios), which is what a gate that must not pass on luck needs. With no errors the 95 % upper
bound is 1 - 0.05^(1/total), about 3/total (the "rule of three").

The binomial tail is the regularized incomplete beta function, P(X <= k) = I_{1-p}(n-k, k+1),
evaluated by its continued fraction (Numerical Recipes, ``betacf``); the bound is found by
bisection on ``p``, the tail being monotonic in it. Standard library only: none of the gates'
runtime dependencies provides a beta quantile, and scipy's (``scipy.special.betaincinv``)
would add 113 MB installed to the sessions that judge SLOs for these hundred lines. scipy is
in the test group: tests/unit/test_statistics_against_scipy.py checks ``upper``, ``lower``
and ``requests_needed`` against it over many counts and confidences. They agree to 1e-9
relative up to ~10^4 requests; beyond, to a few ulps of lgamma(total) (the rounding of the
lgamma differences below), magnified up to 1 / (1 - confidence) where the tail is taken as
1 - I: 1.4e-9 for 1 error in 32,765 at 99.9 %, far under the four digits a report shows.
"""

import math
from collections.abc import Callable

__all__ = ["CONFIDENCE", "lower", "requests_needed", "upper"]
CONFIDENCE = 0.95
_BISECTIONS = 100  # halvings of [0, 1]: far below any ratio the gate reports
_EPSILON = 1e-15
_TINY = 1e-300


def upper(bad: int, total: int, confidence: float = CONFIDENCE) -> float:
    """The one-sided upper confidence bound on the error ratio."""
    _check(bad, total, confidence)
    alpha = 1 - confidence
    if bad == total:
        return 1.0
    if bad == 0:
        return -math.expm1(math.log(alpha) / total)  # 1 - alpha^(1/n), exactly
    # P(X <= bad) falls as p grows: the bound is where it reaches alpha.
    return _solve(lambda p: _at_most(bad, total, p) > alpha)


def lower(bad: int, total: int, confidence: float = CONFIDENCE) -> float:
    """The one-sided lower confidence bound on the error ratio."""
    _check(bad, total, confidence)
    alpha = 1 - confidence
    if bad == 0:
        return 0.0
    if bad == total:
        return math.exp(math.log(alpha) / total)  # alpha^(1/n)
    # P(X >= bad) grows with p: the bound is where it reaches alpha.
    return _solve(lambda p: 1 - _at_most(bad - 1, total, p) < alpha)


def requests_needed(bad: int, budget: float, confidence: float = CONFIDENCE) -> int:
    """The smallest total whose upper bound, with ``bad`` errors in it, is within ``budget``:
    how many requests show an objective of 1 - budget when no more of them fail."""
    if not 0 < budget < 1 or bad < 0:
        raise ValueError(f"need 0 < budget < 1 and bad >= 0, got {budget!r}, {bad!r}")
    alpha = 1 - confidence
    if bad == 0:
        return math.ceil(math.log(alpha) / math.log1p(-budget))
    # upper(bad, n) <= budget  <=>  P(X <= bad; n, budget) <= alpha, which falls as n grows.
    low, high = bad, max(bad + 1, 2 * math.ceil(bad / budget))
    while _at_most(bad, high, budget) > alpha:
        low, high = high, high * 2
    while high - low > 1:  # invariant: low shows too little, high enough
        middle = (low + high) // 2
        if _at_most(bad, middle, budget) > alpha:
            low = middle
        else:
            high = middle
    return high


def _check(bad: int, total: int, confidence: float) -> None:
    if not 0 <= bad <= total or total < 1 or not 0 < confidence < 1:
        raise ValueError(f"need 0 <= bad <= total, total >= 1: got {bad!r} of {total!r}")


def _solve(below: Callable[[float], bool]) -> float:
    """The boundary in (0, 1) of a monotone predicate true below it."""
    low, high = 0.0, 1.0
    for _ in range(_BISECTIONS):
        middle = (low + high) / 2
        if below(middle):
            low = middle
        else:
            high = middle
    return (low + high) / 2


def _at_most(bad: int, total: int, p: float) -> float:
    """P(X <= bad) for X ~ Binomial(total, p)."""
    if bad >= total:
        return 1.0
    return _incomplete_beta(total - bad, bad + 1, 1 - p)


def _incomplete_beta(a: float, b: float, x: float) -> float:
    """The regularized incomplete beta function I_x(a, b)."""
    if x <= 0:
        return 0.0
    if x >= 1:
        return 1.0
    log_front = (
        math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x)
    )
    front = math.exp(log_front)
    # The continued fraction converges quickly only on this side of the mean.
    if x < (a + 1) / (a + b + 2):
        return front * _fraction(a, b, x) / a
    return 1 - front * _fraction(b, a, 1 - x) / b


def _fraction(a: float, b: float, x: float) -> float:
    """The continued fraction of I_x(a, b), by the modified Lentz method."""
    c, d = 1.0, 1 - (a + b) * x / (a + 1)
    d = 1 / (d if abs(d) > _TINY else _TINY)
    value = d
    # It takes about sqrt(max(a, b)) terms: 10^5 covers counts up to ~10^10.
    for m in range(1, 100_000):
        for numerator in (
            m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m)),
            -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1)),
        ):
            d = 1 + numerator * d
            d = 1 / (d if abs(d) > _TINY else _TINY)
            c = 1 + numerator / c
            c = c if abs(c) > _TINY else _TINY
            step = c * d
            value *= step
        if abs(step - 1) < _EPSILON:
            return value
    raise ArithmeticError(f"the incomplete beta I_{x}({a}, {b}) did not converge")
