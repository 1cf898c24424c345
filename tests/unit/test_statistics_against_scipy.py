"""The hand-written statistics against scipy's, over many inputs: gates.perf.stats (nearest-rank
percentile, one-sided Mann-Whitney U, one-sided two-proportion test) and gates.slo.bounds
(one-sided Clopper-Pearson bounds, the requests an objective needs).

They stay hand-written because nothing in the gates' runtime dependencies computes them and the
perf, SLO and drill sessions should not install scipy (and numpy) for a few dozen lines; scipy
is in the test group only. It is imported inside each test, so only the workers that run these
tests pay for it, and from scipy.special (a fifth of scipy.stats' import time) wherever the
same function is there: only Mann-Whitney needs scipy.stats. The example counts are the
hypothesis profile's (tests/conftest.py).

Tolerances:

- percentile: exact (both pick an element of the sample).
- Mann-Whitney U: U exact (a sum of half-integer ranks); the p-value to 1e-9 relative (and
  1e-300 absolute, for p-values that underflow): both are the same normal approximation with
  tie and continuity corrections, computed in a different order, so they may differ by
  rounding only, a few ulps amplified by the normal tail.
- two-proportion test: Pearson's chi-square of the 2x2 table (sum of (O - E)^2 / E, no
  continuity correction; its p-value from scipy) is the square of the pooled z, so its p-value
  halved is the one-sided p when the new share is larger; to 1e-9 relative, the same rounding
  argument.
- Clopper-Pearson: the bound is a beta quantile (scipy.special.betaincinv); ours is bisection on
  a continued fraction of the incomplete beta. Its prefactor exp(lgamma(n + 1) - lgamma(k + 1)
  - lgamma(n - k) + ...) subtracts numbers as large as lgamma(n), so it carries an error of a
  few ulps of lgamma(n), and the tail taken as 1 - I (the lower bound; the upper one beyond
  the mean) magnifies it by up to 1 / (1 - confidence): ``precision(total, confidence)``.
  Found by the deep profile: the upper bound of 1 in 506,280 at 80 % 1.1e-9 off, the lower
  bound of 1 in 32,765 at 99.9 % 1.4e-9 off (scipy's matches the closed form exactly). The
  gate reports four significant digits and compares with budgets of 1e-6 or more, so that
  is far below what it can see.
- requests needed: exact (an integer), checked by scipy's binomial CDF on both sides of it,
  within the same precision of the 1 - confidence it must reach.
"""

import math
import sys

from hypothesis import assume, example, given
from hypothesis import strategies as st

from gates.perf import stats
from gates.slo import bounds


def precision(total, confidence):
    """The relative precision of gates.slo.bounds at ``total`` requests: 1e-9, and four ulps of
    lgamma(total) magnified by the smaller tail (see the module docstring)."""
    ulps = 4 * math.lgamma(total + 2) * sys.float_info.epsilon
    return 1e-9 + ulps / min(confidence, 1 - confidence)


# latencies with many ties (a coarse clock) and without (floats), up to 300 of each
COARSE = st.lists(st.integers(min_value=0, max_value=20).map(float), min_size=2, max_size=300)
FINE = st.lists(
    st.floats(min_value=0.0, max_value=1e6, allow_nan=False, allow_subnormal=False),
    min_size=2,
    max_size=300,
)
SAMPLES = COARSE | FINE


@given(SAMPLES, st.floats(min_value=0.0, max_value=100.0))
@example([1.0, 2.0, 3.0, 4.0], 50.0)
@example([float(v) for v in range(1, 101)], 99.0)
def test_percentile_is_numpys_inverted_cdf(values, q):
    # numpy's "inverted_cdf" (Hyndman & Fan's definition 1) is the nearest-rank percentile
    import numpy

    ordered = sorted(values)
    rank = q / 100 * len(ordered)
    # on an exact rank boundary the two may round q * n / 100 to different sides of it
    assume(abs(rank - round(rank)) > 1e-9 or rank == 0)
    expected = numpy.percentile(ordered, q, method="inverted_cdf")
    assert stats.percentile(ordered, q) == expected


@given(SAMPLES, SAMPLES)
def test_mann_whitney_is_scipys_asymptotic_test(new, base):
    from scipy.stats import mannwhitneyu

    assume(len(set(new) | set(base)) > 1)  # all equal: no ranks to compare (p = 1 below)
    u, p_value, superiority = stats.mann_whitney_greater(new, base)
    expected = mannwhitneyu(
        new, base, alternative="greater", use_continuity=True, method="asymptotic"
    )
    assert u == expected.statistic
    assert math.isclose(p_value, expected.pvalue, rel_tol=1e-9, abs_tol=1e-300)
    assert superiority == u / (len(new) * len(base))


def test_mann_whitney_of_identical_values_is_no_evidence():
    assert stats.mann_whitney_greater([3.0, 3.0], [3.0, 3.0, 3.0])[1] == 1.0


@st.composite
def proportions(draw):
    """(above_new, n_new, above_base, n_base) with some but not all values above."""
    n_new, n_base = draw(st.integers(2, 5000)), draw(st.integers(2, 5000))
    above_new, above_base = draw(st.integers(0, n_new)), draw(st.integers(0, n_base))
    assume(0 < above_new + above_base < n_new + n_base)  # else no variance: no test
    return above_new, n_new, above_base, n_base


@given(proportions())
@example((2, 10, 1, 10))
def test_exceedance_is_scipys_two_proportion_chi_square(counts):
    from scipy.special import chdtrc

    above_new, n_new, above_base, n_base = counts
    new = [2.0] * above_new + [1.0] * (n_new - above_new)
    base = [2.0] * above_base + [1.0] * (n_base - above_base)
    p_value, share_new, share_base = stats.exceedance_greater(new, base, threshold=1.5)
    table = [[above_new, n_new - above_new], [above_base, n_base - above_base]]
    n, rows, columns = n_new + n_base, [n_new, n_base], [sum(c) for c in zip(*table)]
    chi2 = sum(
        (table[i][j] - rows[i] * columns[j] / n) ** 2 / (rows[i] * columns[j] / n)
        for i in range(2)
        for j in range(2)
    )
    two_sided = chdtrc(1, chi2)  # Pearson's chi-square test of the table, 1 degree of freedom
    expected = two_sided / 2 if share_new > share_base else 1 - two_sided / 2
    assert (share_new, share_base) == (above_new / n_new, above_base / n_base)
    assert math.isclose(p_value, expected, rel_tol=1e-9, abs_tol=1e-300)


CONFIDENCES = st.sampled_from([0.5, 0.8, 0.9, 0.95, 0.975, 0.99, 0.999])


@st.composite
def counts(draw):
    """(bad, total): few errors (what the SLO gate mostly sees) as often as any count."""
    total = draw(st.integers(min_value=1, max_value=1_000_000))
    return draw(st.integers(0, min(total, 20)) | st.integers(0, total)), total


@given(counts(), CONFIDENCES)
@example((0, 350), 0.95)
@example((5, 20), 0.975)
@example((10_000, 10_000_000), 0.95)
@example((1, 506_280), 0.8)  # found by the deep profile: 1.1e-9 apart (lgamma's precision)
@example((1, 32_765), 0.999)  # and 1.4e-9 apart (the same, magnified by 1 - I)
def test_clopper_pearson_bounds_are_scipys_beta_quantiles(count, confidence):
    from scipy.special import betaincinv  # the beta quantile (what scipy.stats.beta.ppf calls)

    bad, total = count
    upper = bounds.upper(bad, total, confidence)
    lower = bounds.lower(bad, total, confidence)
    expected_upper = 1.0 if bad == total else betaincinv(bad + 1, total - bad, confidence)
    expected_lower = 0.0 if bad == 0 else betaincinv(bad, total - bad + 1, 1 - confidence)
    assert math.isclose(upper, expected_upper, rel_tol=precision(total, confidence), abs_tol=1e-300)
    assert math.isclose(lower, expected_lower, rel_tol=precision(total, confidence), abs_tol=1e-300)


@given(
    st.integers(min_value=0, max_value=30),
    st.floats(min_value=1e-4, max_value=0.5),
    CONFIDENCES,
)
def test_requests_needed_is_the_smallest_total_scipy_agrees_shows_the_budget(
    bad, budget, confidence
):
    from scipy.special import bdtr  # the binomial CDF (what scipy.stats.binom.cdf calls)

    needed = bounds.requests_needed(bad, budget, confidence)
    alpha = 1 - confidence
    # shown: seeing `bad` or fewer errors in `needed` at the budget is unlikely enough ...
    assert bdtr(bad, needed, budget) <= alpha * (1 + precision(needed, confidence))
    # ... and one request fewer would not show it
    assert needed - 1 <= bad or bdtr(bad, needed - 1, budget) > alpha * (
        1 - precision(needed, confidence)
    )
