"""gates.perf.chart: the perf chart shows the latency distribution beside the baseline's, on a
latency axis scaled to the data, with ticks, limits and the judged percentiles where they are.

The SVG is read back as XML and positions are checked against the chart's own tick marks, the
way a reader reads them off the axes.
"""

import math
import xml.etree.ElementTree as ET
from statistics import NormalDist

import pytest

from gates.perf import chart as perf_chart, stats
from gates.perf.load import Sample
from gates.perf.chart import Run

SVG = "{http://www.w3.org/2000/svg}"
LIMITS = {"p95 limit": 200.0}


def service(median_ms, n=1500, spread=0.25, rate=50.0, failed_every=0, label="candidate"):
    """A run whose latencies follow a log-normal shape, spread over time in a fixed order."""
    shape = NormalDist()
    ordered = [median_ms * math.exp(spread * shape.inv_cdf((i + 0.5) / n)) for i in range(n)]
    latencies = [ordered[(i * 7919) % n] for i in range(n)]
    failed = [bool(failed_every) and i % failed_every == 0 for i in range(n)]
    return Run(label, latencies, [i / rate for i in range(n)], failed)


def draw(candidate, baseline=None, limits=LIMITS):
    return ET.fromstring(perf_chart.render(candidate, baseline, limits, "perf staging"))


def panel(root, name):
    found = root.find(f".//{SVG}g[@id='{name}']")
    assert found is not None, f"no panel {name}"
    return found


def y_ticks(group):
    """{latency ms: y} of the labelled latency ticks in a panel."""
    ticks = {}
    for tick in group.iter(f"{SVG}g"):
        if tick.get("class") == "y-tick":
            ticks[float(tick.get("data-ms"))] = float(tick.find(f"{SVG}line").get("y1"))
    return ticks


def y_of(ticks, ms):
    """Where ms sits on a log axis, read off its two outermost ticks."""
    (lo, y_lo), (hi, y_hi) = min(ticks.items()), max(ticks.items())
    return y_lo + (y_hi - y_lo) * math.log10(ms / lo) / math.log10(hi / lo)


def x_ticks(group):
    """{label: x} of the percentile ticks."""
    out = {}
    for tick in group.iter(f"{SVG}g"):
        if tick.get("class") == "x-tick":
            out[tick.find(f"{SVG}text").text] = float(tick.find(f"{SVG}line").get("x1"))
    return out


def markers(root, role):
    return {
        float(c.get("data-percentile")): c
        for c in root.iter(f"{SVG}circle")
        if c.get("class") == f"marker {role}"
    }


def path_ys(path):
    return [float(point.split(",")[1]) for point in path.get("d").replace("M", "L").split("L")[1:]]


def runs(root):
    return {p.get("class"): p for p in root.iter(f"{SVG}path") if "run" in p.get("class", "")}


def test_a_13ms_service_spans_the_latency_axis_with_labelled_ticks():
    # The old chart drew 0-240 ms linearly without ticks: a 13 ms service used 13 % of the height.
    root = draw(service(13.0))
    distribution = panel(root, "distribution")
    ticks = y_ticks(distribution)
    assert len(ticks) >= 5
    assert {"5 ms", "10 ms", "20 ms", "200 ms"} <= {
        t.find(f"{SVG}text").text
        for t in distribution.iter(f"{SVG}g")
        if t.get("class") == "y-tick"
    }
    ys = path_ys(runs(root)["run candidate"])
    height = max(ticks.values()) - min(ticks.values())
    assert (max(ys) - min(ys)) / height > 0.3


@pytest.mark.parametrize("median_ms", [0.05, 2.0, 13.0, 1500.0, 40000.0])
def test_the_ticks_cover_the_data_and_the_limits(median_ms):
    run = service(median_ms)
    root = draw(run)
    shown = [*run.latencies_ms, *LIMITS.values()]
    for name in ("distribution", "series"):
        ticks = y_ticks(panel(root, name))
        assert min(ticks) <= min(shown) and max(ticks) >= max(shown)
        assert min(ticks) >= min(shown) / 10 and max(ticks) <= max(shown) * 10  # and no more


@pytest.mark.parametrize("low, high", [(0.001, 0.002), (0.3, 4.0), (1.0, 60000.0), (0.01, 1e7)])
def test_tick_labels_never_touch(low, high):
    root = draw(Run("c", [low, high], [0.0, 1.0], [False, False]), limits={})
    for name in ("distribution", "series"):
        ys = sorted(y_ticks(panel(root, name)).values())
        assert len(ys) >= 2
        assert min(b - a for a, b in zip(ys, ys[1:])) >= 16


def test_a_limit_line_sits_at_its_latency():
    limits = {"p95 limit": 200.0, "p50 regression limit": 2.6}
    root = draw(service(2.0), limits=limits)
    for name in ("distribution", "series"):
        group = panel(root, name)
        ticks = y_ticks(group)
        drawn = {
            float(g.get("data-ms")): float(g.find(f"{SVG}line").get("y1"))
            for g in group.iter(f"{SVG}g")
            if g.get("class") == "limit"
        }
        assert drawn.keys() == {200.0, 2.6}
        assert drawn[200.0] == pytest.approx(ticks[200.0], abs=0.1)
        assert ticks[2.0] > drawn[2.6] > ticks[5.0]
        assert drawn[2.6] == pytest.approx(y_of(ticks, 2.6), abs=0.6)
        labels = [t.text for g in group.iter(f"{SVG}g") if g.get("class") == "limit" for t in g]
        assert "p50 regression limit" in labels and "2.6 ms" in labels


def test_close_limits_get_labels_that_do_not_overlap():
    limits = {f"limit {i}": 2.0 + 0.1 * i for i in range(5)}
    group = panel(draw(service(2.0), limits=limits), "distribution")
    firsts = sorted(
        float(g.findall(f"{SVG}text")[0].get("y"))
        for g in group.iter(f"{SVG}g")
        if g.get("class") == "limit"
    )
    assert min(b - a for a, b in zip(firsts, firsts[1:])) >= 26  # two lines of 12 px each


def test_a_baseline_adds_a_second_distribution_drawn_lower_when_faster():
    alone = draw(service(4.0))
    assert set(runs(alone)) == {"run candidate"}
    root = draw(service(4.0), service(2.0, label="baseline"))
    assert set(runs(root)) == {"run candidate", "run baseline"}
    new, old = markers(root, "candidate"), markers(root, "baseline")
    assert set(new) == set(old) == {50.0, 95.0, 99.0}
    ticks = y_ticks(panel(root, "distribution"))
    two_times = y_of(ticks, 2.0) - y_of(ticks, 4.0)  # the height of a 2x slowdown
    assert two_times > 25  # visible even with the 200 ms limit on the same axis
    for q in new:
        rise = float(old[q].get("cy")) - float(new[q].get("cy"))
        assert rise == pytest.approx(two_times, abs=1.0)


def test_the_judged_percentiles_are_marked_at_the_gates_values():
    run = service(13.0, spread=0.6)
    root = draw(run)
    distribution = panel(root, "distribution")
    ticks, columns = y_ticks(distribution), x_ticks(distribution)
    ordered = sorted(run.latencies_ms)
    found = markers(root, "candidate")
    assert set(found) == set(perf_chart.JUDGED)
    for q, marker in found.items():
        expected = stats.percentile(ordered, q)
        assert float(marker.get("data-ms")) == pytest.approx(expected, rel=1e-5)
        assert float(marker.get("cy")) == pytest.approx(y_of(ticks, expected), abs=0.6)
        assert float(marker.get("cx")) == pytest.approx(columns[f"p{q:g}"], abs=0.1)
    # the nines axis: p90, p99, p99.9 equally spaced, p95 a log10(2) of a nine past p90
    nine = columns["p99"] - columns["p90"]
    assert columns["p99.9"] - columns["p99"] == pytest.approx(nine, abs=0.2)
    assert columns["p95"] - columns["p90"] == pytest.approx(nine * math.log10(2), abs=0.2)
    assert columns["p50"] - columns["min"] == pytest.approx(nine * math.log10(2), abs=0.2)


def test_the_percentile_axis_reaches_the_nines_the_sample_can_show():
    assert "p99.99" in x_ticks(panel(draw(service(2.0, n=1500)), "distribution"))
    few = x_ticks(panel(draw(service(2.0, n=40)), "distribution"))
    assert "p99" in few and "p99.9" not in few


def test_a_p99_only_regression_shows_in_the_tail_not_the_median():
    base = service(2.0, spread=0.2, label="baseline")
    tail = sorted(base.latencies_ms)
    slow = [ms * 8 if ms >= tail[int(0.985 * len(tail))] else ms for ms in base.latencies_ms]
    root = draw(Run("candidate", slow, base.scheduled_s, base.failed), base)
    new, old = markers(root, "candidate"), markers(root, "baseline")
    assert new[50.0].get("cy") == old[50.0].get("cy")
    assert float(old[99.0].get("cy")) - float(new[99.0].get("cy")) > 50


def test_failed_requests_have_their_own_colour_in_the_time_series():
    root = draw(service(13.0, failed_every=10))
    series = panel(root, "series")
    dots = {p.get("class"): p for p in series.iter(f"{SVG}path")}
    assert dots.keys() == {"dots ok", "dots failed"}
    assert dots["dots ok"].get("stroke") != dots["dots failed"].get("stroke")
    assert (dots["dots ok"].get("data-count"), dots["dots failed"].get("data-count")) == (
        "1350",
        "150",
    )
    assert "failed: 150 of 1500 requests" in [t.text for t in series.iter(f"{SVG}text")]


def test_the_time_axis_is_labelled_in_seconds_of_the_run():
    columns = x_ticks(panel(draw(service(2.0)), "series"))  # 1500 requests at 50/s
    assert {"0", "10", "20", "30"} <= columns.keys()
    assert columns["20"] - columns["10"] == pytest.approx(columns["10"] - columns["0"], abs=0.2)


def test_a_long_run_stays_a_small_file():
    big = service(13.0, n=100_000, rate=1000.0)
    assert len(perf_chart.render(big, big, LIMITS, "perf")) < 600_000


EDGES = {
    "no samples": Run("c", []),
    "one sample": Run("c", [13.0], [0.0], [False]),
    "all equal": Run("c", [7.0] * 100, [i / 50 for i in range(100)], [False] * 100),
    "zero latencies": Run("c", [0.0, 0.0, 1.5], [0.0, 0.1, 0.2], [False] * 3),
    "only zeros": Run("c", [0.0] * 3, [0.0, 0.1, 0.2]),
    "sub-microsecond": Run("c", [0.0004, 0.0007], [0.0, 0.0]),
    "huge outlier": Run("c", [1.0] * 999 + [3_600_000.0], [i / 50 for i in range(1000)]),
    "not finite": Run("c", [1.0, math.inf, math.nan], [0.0, 1.0, 2.0]),
    "times not finite": Run("c", [1.0, 2.0, 3.0], [0.0, math.inf, math.nan]),
    "negative": Run("c", [-1.0, 2.0], [-0.5, 1.0]),
    "all failed": Run("c", [30000.0] * 20, [i / 2 for i in range(20)], [True] * 20),
    "no times": Run("c", [1.0, 2.0, 3.0]),
    "odd label": Run("<script>&\"'", [1.0, 2.0], [0.0, 1.0]),
}


@pytest.mark.parametrize("name", EDGES)
@pytest.mark.parametrize("with_baseline", [False, True])
def test_odd_data_still_draws_a_chart(name, with_baseline):
    run = EDGES[name]
    root = draw(run, EDGES["one sample"] if with_baseline else None, {"p95 limit": 200.0})
    assert root.tag == f"{SVG}svg"
    for group in ("legend", "distribution", "series"):
        assert len(y_ticks(panel(root, group))) >= 2 or group == "legend"
    assert [t.text for t in root.iter(f"{SVG}text")][0] == "perf staging"


def test_an_empty_run_says_so():
    texts = [t.text for t in draw(Run("c", [])).iter(f"{SVG}text")]
    assert "no samples" in texts


def test_a_run_with_lengths_that_differ_is_a_programming_error():
    with pytest.raises(ValueError, match="scheduled_s has 1 values, not 2"):
        Run("c", [1.0, 2.0], [0.0])


def test_a_run_from_load_samples_marks_what_got_no_2xx_or_3xx_answer():
    samples = [
        Sample(0.0, 0.002, 0.0, "/health", 200),
        Sample(0.02, 0.004, 0.0, "/api/data", 302),
        Sample(0.04, 0.5, 0.0, "/api/data", 500),
        Sample(0.06, 5.0, 0.0, "/api/data", 0, "timed out"),
    ]
    run = perf_chart.run_from_samples("candidate", samples)
    assert run.latencies_ms == pytest.approx([2.0, 4.0, 500.0, 5000.0])
    assert list(run.scheduled_s) == [0.0, 0.02, 0.04, 0.06]
    assert list(run.failed) == [False, False, True, True]


def test_write_puts_the_svg_where_asked(tmp_path):
    path = perf_chart.write(tmp_path / "c.svg", service(2.0), None, LIMITS, "perf")
    assert path == tmp_path / "c.svg"
    assert ET.parse(path).getroot().tag == f"{SVG}svg"


@pytest.mark.parametrize("n", [100, 1000, 1500])
def test_the_maximum_is_drawn_at_the_right_hand_end(n):
    run = service(2.0, n=n)
    root = draw(run)
    ticks = y_ticks(panel(root, "distribution"))
    points = runs(root)["run candidate"].get("d").replace("M", "L").split("L")[1:]
    xs = [float(p.split(",")[0]) for p in points]
    top = [
        x
        for x, y in zip(xs, path_ys(runs(root)["run candidate"]))
        if y < y_of(ticks, max(run.latencies_ms)) + 0.6
    ]
    assert max(xs) - min(top) > 0.05 * (max(xs) - min(xs))  # the max holds a visible stretch


def test_a_limit_named_for_a_percentile_is_marked_where_it_applies():
    root = draw(service(2.0), limits={"p99 regression limit": 4.0, "budget": 50.0})
    distribution = panel(root, "distribution")
    columns, ticks = x_ticks(distribution), y_ticks(distribution)
    (mark,) = [p for p in distribution.iter(f"{SVG}path") if p.get("class") == "limit-at"]
    assert mark.get("data-percentile") == "99"
    x, y = (float(v) for v in mark.get("d")[1:].split(" ")[0].split(","))
    assert x == pytest.approx(columns["p99"], abs=0.1)
    assert y + 6 == pytest.approx(y_of(ticks, 4.0), abs=0.6)


@pytest.mark.parametrize(
    "ms, label",
    [
        (0.0, "0 ms"),
        (0.0004, "< 0.001 ms"),
        (0.05, "0.05 ms"),
        (2.0, "2 ms"),
        (13.46, "13.5 ms"),
        (200.0, "200 ms"),
        (1500.0, "1.5 s"),
        (3_600_000.0, "3600 s"),
    ],
)
def test_latency_labels_are_plain_numbers(ms, label):
    assert perf_chart.ms_label(ms) == label
