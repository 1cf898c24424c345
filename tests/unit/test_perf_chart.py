"""gates.perf.chart: the perf chart shows the latency distribution beside the baseline's, on a
latency axis scaled to the data, with ticks, limits and the judged percentiles where they are.

Positions are read off the chart's matplotlib Figure in pixels and checked against its own tick
marks, the way a reader reads them off the axes; the SVG it writes is checked for what a reader
(or a search) finds in it, and for being the same bytes for the same data. matplotlib is
imported by the chart when it draws, so only these tests pay for it (and the CLI never does:
test_declared_dependencies).
"""

import math
import xml.etree.ElementTree as ET
from functools import cache
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
    return perf_chart.figure(candidate, baseline, limits, "perf staging")


@cache
def svg_of_a_run_with_a_baseline():
    """One SVG for the tests that read the file (drawing one costs about as much as the rest)."""
    candidate = service(2.4, failed_every=10, label="candidate relB (staging)")
    baseline = service(2.0, label="baseline: newest relA at 20261207T060000Z")
    limits = {"p95 limit": 200.0, "p50 regression limit": 3.0, "p95 regression limit": 3.7}
    return perf_chart.render(candidate, baseline, limits, "perf staging: relB at 50 requests/s")


def panel(fig, name):
    found = [ax for ax in fig.axes if ax.get_gid() == name]
    assert len(found) == 1, f"no panel {name}"
    return found[0]


def px_y(ax, ms):
    """The pixel height of a latency on a panel (up is more)."""
    return float(ax.transData.transform((0, ms))[1])


def px_x(ax, x):
    return float(ax.transData.transform((x, 1))[0])


def y_ticks(ax):
    """{latency ms: y px} of the labelled latency ticks a panel shows."""
    low, high = ax.get_ylim()
    return {
        float(v): px_y(ax, v)
        for v in ax.yaxis.get_majorticklocs()
        if low * (1 - 1e-9) <= v <= high * (1 + 1e-9)
    }


def tick_labels(ax):
    formatter = ax.yaxis.get_major_formatter()
    return {formatter(v, 0) for v in y_ticks(ax)}


def x_ticks(ax):
    """{label: x px} of the x ticks (major and minor) a panel shows."""
    out = {}
    for minor in (False, True):
        locations = ax.get_xticks(minor=minor)
        for v, label in zip(locations, ax.get_xticklabels(minor=minor)):
            out[label.get_text()] = px_x(ax, v)
    return out


def y_of(ticks, ms):
    """Where ms sits on a log axis, read off its two outermost ticks."""
    (lo, y_lo), (hi, y_hi) = min(ticks.items()), max(ticks.items())
    return y_lo + (y_hi - y_lo) * math.log10(ms / lo) / math.log10(hi / lo)


def lines(ax, prefix):
    """{gid: Line2D} of a panel's lines whose gid starts with prefix."""
    return {line.get_gid(): line for line in ax.lines if (line.get_gid() or "").startswith(prefix)}


def markers(fig, role):
    found = lines(panel(fig, "distribution"), f"marker {role} ")
    return {float(gid.split(" p")[-1]): line for gid, line in found.items()}


def marker_px(line):
    x, y = line.get_xdata()[0], line.get_ydata()[0]
    return tuple(float(v) for v in line.axes.transData.transform((x, y)))


def runs(fig):
    return lines(panel(fig, "distribution"), "run ")


def limit_labels(ax):
    """The limits' labels in the margin: {text: centre y px}."""
    height = ax.get_position().height * perf_chart.HEIGHT
    bottom = ax.get_position().y0 * perf_chart.HEIGHT
    return {
        t.get_text(): bottom + t.xyann[1] * height
        for t in ax.texts
        if (t.get_gid() or "").startswith("limit label ")
    }


def test_a_13ms_service_spans_the_latency_axis_with_labelled_ticks():
    # The old chart drew 0-240 ms linearly without ticks: a 13 ms service used 13 % of the height.
    fig = draw(service(13.0))
    distribution = panel(fig, "distribution")
    ticks = y_ticks(distribution)
    assert len(ticks) >= 5
    assert {"5 ms", "10 ms", "20 ms", "200 ms"} <= tick_labels(distribution)
    ys = [px_y(distribution, ms) for ms in runs(fig)["run candidate"].get_ydata()]
    height = max(ticks.values()) - min(ticks.values())
    assert (max(ys) - min(ys)) / height > 0.3


@pytest.mark.parametrize("median_ms", [0.05, 2.0, 13.0, 1500.0, 40000.0])
def test_the_ticks_cover_the_data_and_the_limits(median_ms):
    run = service(median_ms)
    fig = draw(run)
    shown = [*run.latencies_ms, *LIMITS.values()]
    for name in ("distribution", "series"):
        ticks = y_ticks(panel(fig, name))
        assert min(ticks) <= min(shown) and max(ticks) >= max(shown)
        assert min(ticks) >= min(shown) / 10 and max(ticks) <= max(shown) * 10  # and no more


@pytest.mark.parametrize("low, high", [(0.001, 0.002), (0.3, 4.0), (1.0, 60000.0), (0.01, 1e7)])
def test_tick_labels_never_touch(low, high):
    fig = draw(Run("c", [low, high], [0.0, 1.0], [False, False]), limits={})
    for name in ("distribution", "series"):
        ys = sorted(y_ticks(panel(fig, name)).values())
        assert len(ys) >= 2
        assert min(b - a for a, b in zip(ys, ys[1:])) >= 16


def test_a_limit_line_sits_at_its_latency():
    limits = {"p95 limit": 200.0, "p50 regression limit": 2.6}
    fig = draw(service(2.0), limits=limits)
    for name in ("distribution", "series"):
        ax = panel(fig, name)
        ticks = y_ticks(ax)
        drawn = {gid: px_y(ax, line.get_ydata()[0]) for gid, line in lines(ax, "limit ").items()}
        assert drawn.keys() == {"limit p95 limit", "limit p50 regression limit"}
        assert drawn["limit p95 limit"] == pytest.approx(ticks[200.0], abs=0.1)
        assert ticks[2.0] < drawn["limit p50 regression limit"] < ticks[5.0]
        assert drawn["limit p50 regression limit"] == pytest.approx(y_of(ticks, 2.6), abs=0.6)
        assert "p50 regression limit\n2.6 ms" in limit_labels(ax)


def test_close_limits_get_labels_that_do_not_overlap():
    limits = {f"limit {i}": 2.0 + 0.1 * i for i in range(5)}
    ys = sorted(limit_labels(panel(draw(service(2.0), limits=limits), "distribution")).values())
    assert len(ys) == 5
    assert min(b - a for a, b in zip(ys, ys[1:])) >= 26  # two lines of 12 px each


def test_a_baseline_adds_a_second_distribution_drawn_lower_when_faster():
    assert set(runs(draw(service(4.0)))) == {"run candidate"}
    fig = draw(service(4.0), service(2.0, label="baseline"))
    assert set(runs(fig)) == {"run candidate", "run baseline"}
    new, old = markers(fig, "candidate"), markers(fig, "baseline")
    assert set(new) == set(old) == {50.0, 95.0, 99.0}
    ticks = y_ticks(panel(fig, "distribution"))
    two_times = y_of(ticks, 4.0) - y_of(ticks, 2.0)  # the height of a 2x slowdown
    assert two_times > 25  # visible even with the 200 ms limit on the same axis
    for q in new:
        rise = marker_px(new[q])[1] - marker_px(old[q])[1]
        assert rise == pytest.approx(two_times, abs=1.0)


def test_the_judged_percentiles_are_marked_at_the_gates_values():
    run = service(13.0, spread=0.6)
    fig = draw(run)
    distribution = panel(fig, "distribution")
    ticks, columns = y_ticks(distribution), x_ticks(distribution)
    ordered = sorted(run.latencies_ms)
    found = markers(fig, "candidate")
    assert set(found) == set(perf_chart.JUDGED)
    for q, marker in found.items():
        expected = stats.percentile(ordered, q)
        assert marker.get_ydata()[0] == pytest.approx(expected, rel=1e-9)
        x, y = marker_px(marker)
        assert y == pytest.approx(y_of(ticks, expected), abs=0.6)
        assert x == pytest.approx(columns[f"p{q:g}"], abs=0.1)
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
    fig = draw(Run("candidate", slow, base.scheduled_s, base.failed), base)
    new, old = markers(fig, "candidate"), markers(fig, "baseline")
    assert marker_px(new[50.0]) == marker_px(old[50.0])
    assert marker_px(new[99.0])[1] - marker_px(old[99.0])[1] > 50


def test_failed_requests_have_their_own_colour_in_the_time_series():
    series = panel(draw(service(13.0, failed_every=10)), "series")
    dots = lines(series, "dots ")
    assert dots.keys() == {"dots ok", "dots failed"}
    assert dots["dots ok"].get_color() != dots["dots failed"].get_color()
    assert (len(dots["dots ok"].get_xdata()), len(dots["dots failed"].get_xdata())) == (1350, 150)
    assert series.get_title(loc="right") == "failed: 150 of 1500 requests"


def test_the_time_axis_is_labelled_in_seconds_of_the_run():
    columns = x_ticks(panel(draw(service(2.0)), "series"))  # 1500 requests at 50/s
    assert {"0", "10", "20", "30"} <= columns.keys()
    assert columns["20"] - columns["10"] == pytest.approx(columns["10"] - columns["0"], abs=0.2)


def test_the_svg_shows_the_title_runs_percentiles_and_limits_as_text():
    root = ET.fromstring(svg_of_a_run_with_a_baseline())
    assert root.tag == f"{SVG}svg"
    panels = {g.get("id") for g in root.iter(f"{SVG}g")}
    assert {"legend", "distribution", "series", "run candidate", "run baseline"} <= panels
    assert {"dots ok", "dots failed", "limit p95 limit", "limit-at p95"} <= panels
    texts = {"".join(t.itertext()).strip() for t in root.iter(f"{SVG}text")}
    assert {
        "perf staging: relB at 50 requests/s",
        "candidate relB (staging)",
        "baseline: newest relA at 20261207T060000Z",
        "p50",
        "p99.9",
        "200 ms",
        "failed: 150 of 1500 requests",
    } <= texts
    assert {"p95 limit", "p50 regression limit", "3 ms", "3.7 ms"} <= {
        line for t in texts for line in t.splitlines()
    }


def test_the_same_data_gives_the_same_svg_bytes():
    again = perf_chart.render(
        service(2.4, failed_every=10, label="candidate relB (staging)"),
        service(2.0, label="baseline: newest relA at 20261207T060000Z"),
        {"p95 limit": 200.0, "p50 regression limit": 3.0, "p95 regression limit": 3.7},
        "perf staging: relB at 50 requests/s",
    )
    assert again == svg_of_a_run_with_a_baseline()
    assert "<dc:date>" not in again  # no timestamp in the metadata


def test_a_long_run_stays_a_small_file():
    big = service(13.0, n=100_000, rate=1000.0)
    svg = perf_chart.render(big, big, LIMITS, "perf")
    assert len(svg) < 600_000
    assert "<image" in svg  # the dots: one picture, not 100,000 marks


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
    fig = draw(EDGES[name], EDGES["one sample"] if with_baseline else None, {"p95 limit": 200.0})
    for group in ("distribution", "series"):
        assert len(y_ticks(panel(fig, group))) >= 2
    assert fig.texts[0].get_text() == "perf staging"


@pytest.mark.parametrize("name", ["no samples", "not finite", "odd label"])
def test_odd_data_still_writes_an_svg(name):
    root = ET.fromstring(perf_chart.render(EDGES[name], None, LIMITS, "perf staging"))
    texts = ["".join(t.itertext()) for t in root.iter(f"{SVG}text")]
    assert "perf staging" in texts
    assert EDGES[name].label in texts  # escaped in the file, the same text read back
    assert ("no samples" in texts) == (name == "no samples")


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
    path = perf_chart.write(tmp_path / "c.svg", Run("c", [1.0, 2.0]), None, LIMITS, "perf")
    assert path == tmp_path / "c.svg"
    assert ET.parse(path).getroot().tag == f"{SVG}svg"


@pytest.mark.parametrize("n", [100, 1000, 1500])
def test_the_maximum_is_drawn_at_the_right_hand_end(n):
    run = service(2.0, n=n)
    curve = runs(draw(run))["run candidate"]
    xs, ys = list(curve.get_xdata()), list(curve.get_ydata())
    top = [x for x, y in zip(xs, ys) if y == max(run.latencies_ms)]
    assert max(xs) - min(top) > 0.05 * (max(xs) - min(xs))  # the max holds a visible stretch


def test_a_limit_named_for_a_percentile_is_marked_where_it_applies():
    distribution = panel(
        draw(service(2.0), limits={"p99 regression limit": 4.0, "budget": 50.0}), "distribution"
    )
    (mark,) = lines(distribution, "limit-at").values()
    assert mark.get_gid() == "limit-at p99"
    x, y = marker_px(mark)
    assert x == pytest.approx(x_ticks(distribution)["p99"], abs=0.1)
    assert y == pytest.approx(y_of(y_ticks(distribution), 4.0), abs=0.6)


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
