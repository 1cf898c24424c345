"""The SLO gate decides on evidence: the one-sided 95 % Clopper-Pearson bounds on
the error ratio against the error budget, and the burn-rate conditions over the lookback
windows the objectives file declares (in Prometheus), or over the gate's own window, said so.
"""

import json
import math
import threading
from argparse import Namespace
from http.server import BaseHTTPRequestHandler, HTTPServer
from urllib.parse import parse_qs, urlparse

import pytest

from gates.slo import bounds as binomial_bounds, gate as slo, evidence as slo_evidence
from gates.targets import LiveRelease
from gates.config import load_config
from gates.outcome import MeasurementError
from gates.report import Report


def binomial_cdf(k, n, p):
    """P(X <= k), X ~ Binomial(n, p), summed term by term: an independent reference."""
    return math.fsum(math.comb(n, i) * p**i * (1 - p) ** (n - i) for i in range(k + 1))


# --- the bounds -------------------------------------------------------------------------------


def test_no_errors_in_350_requests_bound_the_error_ratio_at_0_85_percent():
    # The rule of three: with no errors the 95 % upper bound is 1 - 0.05^(1/n), about 3/n.
    assert binomial_bounds.upper(0, 350) == pytest.approx(1 - 0.05 ** (1 / 350), rel=1e-9)
    assert binomial_bounds.upper(0, 350) == pytest.approx(0.008523, abs=1e-6)
    assert binomial_bounds.lower(0, 350) == 0.0


@pytest.mark.parametrize(
    "bad, total, confidence, bound, expected",
    [
        # R: binom.test(1, 10, alternative = "less")$conf.int
        (1, 10, 0.95, "upper", 0.3941633),
        # R: binom.test(5, 20)$conf.int (two-sided 95 %: each side 97.5 %)
        (5, 20, 0.975, "lower", 0.08657147),
        (5, 20, 0.975, "upper", 0.49104587),
    ],
)
def test_bounds_match_published_clopper_pearson_values(bad, total, confidence, bound, expected):
    found = getattr(binomial_bounds, bound)(bad, total, confidence)
    assert found == pytest.approx(expected, abs=1e-7)


@pytest.mark.parametrize(
    "bad, total", [(1, 10), (10, 350), (3, 3000), (7, 20), (50, 100_000), (299, 300)]
)
def test_bounds_are_where_the_binomial_tail_is_5_percent(bad, total):
    upper, lower = binomial_bounds.upper(bad, total), binomial_bounds.lower(bad, total)
    assert lower < bad / total < upper
    assert binomial_cdf(bad, total, upper) == pytest.approx(0.05, rel=1e-6)
    assert 1 - binomial_cdf(bad - 1, total, lower) == pytest.approx(0.05, rel=1e-6)


def test_all_requests_bad_bound_from_below_only():
    assert binomial_bounds.upper(20, 20) == 1.0
    assert binomial_bounds.lower(20, 20) == pytest.approx(0.05 ** (1 / 20), rel=1e-9)


def test_large_counts_are_quick_and_near_the_observed_ratio():
    upper = binomial_bounds.upper(10_000, 10_000_000)
    assert 0.001 < upper < 0.00102


@pytest.mark.parametrize(
    "bad, budget, needed", [(0, 0.001, 2995), (0, 0.01, 299), (1, 0.001, 4742)]
)
def test_requests_needed_is_the_smallest_total_that_shows_the_target(bad, budget, needed):
    assert binomial_bounds.requests_needed(bad, budget) == needed
    assert binomial_bounds.upper(bad, needed) <= budget < binomial_bounds.upper(bad, needed - 1)


# --- the decision on one SLO --------------------------------------------------------------


@pytest.mark.parametrize(
    "good, total, decision",
    [
        (350, 350, "inconclusive"),  # 0.85 % could still be the error ratio: not shown
        (3000, 3000, "met"),  # upper bound 0.0998 %
        (340, 350, "violated"),  # 10 errors of 350: at least 1.5 % with 95 % confidence
        (2998, 3000, "inconclusive"),  # 0.067 % seen, but up to 0.21 % is possible
        (100, 100, "inconclusive"),  # under the floor: never decided
    ],
)
def test_the_decision_follows_the_bounds(good, total, decision):
    evidence = slo_evidence.weigh(good, total, target=0.999, floor=300)
    assert evidence.decision == decision


def test_inconclusive_says_how_many_more_requests_would_be_needed():
    evidence = slo_evidence.weigh(350, 350, target=0.999, floor=300)
    assert evidence.needed == 2995 and evidence.more == 2645


# --- the gate's verdict -------------------------------------------------------------------


def objectives():
    return slo.objectives_for(
        load_config(), Namespace(availability_target=None, latency_target=None)
    )


def judged(availability, latency=None, window=30.0):
    report = Report("slo")
    counts = {"availability": availability, "latency": latency or availability}
    slo.judge(report, objectives(), counts, window, load_config())
    return report


def test_350_clean_requests_against_99_9_is_inconclusive_not_a_pass():
    with pytest.raises(MeasurementError) as caught:
        judged((350.0, 350.0))
    message = str(caught.value)
    assert "Availability: inconclusive" in message
    assert "0 bad of 350" in message and "0.852 %" in message
    assert "2,645 more requests" in message


def test_3000_clean_requests_against_99_9_pass():
    report = judged((3000.0, 3000.0))
    assert report.exit_code == 0, report.checks
    availability = {c.name: c for c in report.checks}["Availability"]
    assert "upper bound 0.0998 %" in availability.measured


def test_10_errors_in_350_requests_against_99_9_fail():
    report = judged((340.0, 350.0), latency=(350.0, 350.0))
    assert report.exit_code == 1
    availability = {c.name: c for c in report.checks}["Availability"]
    assert not availability.passed and "lower bound 1.5" in availability.measured


def test_a_violation_fails_even_when_another_slo_is_inconclusive():
    report = judged((340.0, 350.0), latency=(300.0, 300.0))
    assert report.exit_code == 1


# --- burn rate over the declared windows (Prometheus) -------------------------------------


class FakePrometheus(BaseHTTPRequestHandler):
    """/api/v1/query with fixed vectors: ``ratios`` maps a range in seconds to the error
    ratio of the requests in it (100,000 requests in every range)."""

    ratios: dict[int, float] = {}
    queries: list[str] = []
    total = 100_000

    def do_GET(self):
        params = parse_qs(urlparse(self.path).query)
        query = params["query"][0]
        self.queries.append(query)
        seconds = int(query.rsplit("[", 1)[1].split("s]", 1)[0]) if "[" in query else 0
        if query == "time()":
            body = {"status": "success", "data": {"resultType": "scalar", "result": [
                1_800_000_000, "1800000000"
            ]}}  # fmt: skip
        elif query.startswith("up{"):  # the gap check: a clean scrape every 15 s, long enough
            at = float(params["time"][0])
            values = [[at - ago, "1"] for ago in range(seconds, -1, -15)]
            body = {"status": "success", "data": {"resultType": "matrix", "result": [
                {"metric": {"job": "production", "instance": "x:1"}, "values": values}
            ]}}  # fmt: skip
        else:
            total = self.total
            good = total * (1 - self.ratios.get(seconds, 0.0))
            value = good if ('status!~"5.."' in query or 'le="0.2"' in query) else total
            body = {"status": "success", "data": {"resultType": "vector", "result": [
                {"metric": {}, "value": [0, str(value)]}
            ]}}  # fmt: skip
        encoded = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(encoded)))
        self.end_headers()
        self.wfile.write(encoded)

    def log_message(self, *args):
        pass


@pytest.fixture
def prometheus():
    FakePrometheus.ratios, FakePrometheus.queries, FakePrometheus.total = {}, [], 100_000
    server = HTTPServer(("127.0.0.1", 0), FakePrometheus)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


def prometheus_verdict(url):
    found = objectives()
    counts = slo.measure_prometheus(url, 900, found)
    report = Report("slo")
    slo.judge(report, found, counts, 900, load_config(), slo.burn_windows(url, found))
    return {c.name: c for c in report.checks}, report


def test_the_burn_queries_use_the_declared_lookbacks_and_a_twelfth_of_them(prometheus):
    prometheus_verdict(prometheus)
    ranges = {q.rsplit("[", 1)[1].split("]")[0] for q in FakePrometheus.queries}
    # --window 900s for the SLI; 1h/5m for fast-burn, 6h/30m for slow-burn
    assert ranges == {"900s", "3600s", "300s", "21600s", "1800s"}
    assert 'sum(increase(http_requests_total{route!="/metrics"}[3600s]))' in (
        FakePrometheus.queries
    )


@pytest.mark.parametrize(
    "long_ratio, short_ratio, fires",
    [
        (0.02, 0.02, True),  # 20x over 1 h and over 5 m: page
        (0.02, 0.001, False),  # the burn stopped: 1x over the last 5 m
        (0.001, 0.02, False),  # a short blip: 1x over the hour
    ],
)
def test_the_page_fires_only_when_both_windows_burn(prometheus, long_ratio, short_ratio, fires):
    FakePrometheus.ratios = {3600: long_ratio, 300: short_ratio}
    checks, _ = prometheus_verdict(prometheus)
    page = checks["Availability burn rate (fast-burn, page)"]
    assert page.passed is not fires
    assert "over 1h" in page.measured and "over 5m" in page.measured
    assert checks["Availability burn rate (slow-burn, ticket)"].passed  # 6 h and 30 m: clean


def test_the_ticket_fires_when_6h_and_30m_burn_over_6x(prometheus):
    FakePrometheus.ratios = {21600: 0.008, 1800: 0.008}  # 8x
    checks, report = prometheus_verdict(prometheus)
    assert not checks["Availability burn rate (slow-burn, ticket)"].passed
    assert checks["Availability burn rate (fast-burn, page)"].passed
    assert report.exit_code == 1


def run_against(monkeypatch, url):
    """``gates slo --prometheus-url url --window 15min`` on a live production, in process."""
    release = LiveRelease("production", 18102, "1" * 12, "1.0.0", {}, "1" * 12 + "-config")
    monkeypatch.setattr(slo, "live_release", lambda config, name: release)
    report = Report("slo")
    args = Namespace(
        environment="production",
        window="15min",
        prometheus_url=url,
        availability_target=None,
        latency_target=None,
    )
    slo.run(load_config(), report, args)
    return report


def test_the_command_evaluates_the_declared_windows_with_prometheus(monkeypatch, prometheus):
    FakePrometheus.ratios = {3600: 0.02, 300: 0.02}
    report = run_against(monkeypatch, prometheus)
    assert report.exit_code == 1
    assert report.details["burn_windows"]["evaluated"] == "the declared windows"
    page = {c.name: c for c in report.checks}["Availability burn rate (fast-burn, page)"]
    assert page.measured == "20.00x over 1h and 20.00x over 5m" and not page.passed
    assert not any("could not be evaluated" in section for section in report.sections)


def test_too_little_traffic_in_prometheus_is_inconclusive(monkeypatch, prometheus):
    FakePrometheus.total = 1000  # no errors, but 99.9 % needs 2,995 requests to show
    with pytest.raises(MeasurementError) as caught:
        run_against(monkeypatch, prometheus)
    assert "Availability: inconclusive: 0 bad of 1,000 requests" in str(caught.value)
    assert str(caught.value).endswith("measure over a longer --window (at most 6h)")


# --- burn rate in scrape mode: the gate's own window, said so ------------------------------


def test_scrape_mode_judges_the_burn_over_its_own_window_and_says_so():
    report = judged((3000.0, 3000.0), window=62.0)
    checks = {c.name: c for c in report.checks}
    page = checks["Availability burn rate (fast-burn, page)"]
    assert "over the gate's own 62 s window" in page.measured
    assert "not the declared 1h and 5m" in page.measured
    assert "could not be evaluated" in "".join(report.sections)
    assert report.details["burn_windows"]["evaluated"] == "the gate's own 62 s window"
