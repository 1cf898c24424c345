"""The perf gate's chart: one SVG that answers "is the candidate slower than the baseline, and
is it within the limits?", drawn by matplotlib.

Contract::

    Run(label, latencies_ms, scheduled_s=(), failed=())     one load run
    figure(candidate, baseline, limits, title) -> Figure    the chart (a report page reuses it)
    render(candidate, baseline, limits, title) -> str       its SVG text
    write(path, candidate, baseline, limits, title) -> Path render() written to path
    run_from_samples(label, samples) -> Run                 from gates.perf.load's Sample objects

``latencies_ms`` are per request, measured from the request's scheduled time; ``scheduled_s``
(seconds since the run started) and ``failed`` (no 2xx/3xx answer), when given, are in the
same order and as long. ``baseline`` may be None, and needs only its latencies. ``limits``
maps a label to a latency in ms, e.g. ``{"p95 limit": 200.0, "p50 regression limit": 2.4}``.

A legend table (p50, p95, p99, max and requests of each run, the candidate's change against
the baseline), then two panels on one latency scale (log, 1-2-5 ticks while there is room for
their labels, from the data and the limits, so a 2 ms and a 1.5 s service are both readable
and a 2x change is the same height anywhere):

- **Percentile distribution** (HdrHistogram style): x is the percentile on a "nines" axis,
  x = -log10(1 - q) (p50, p90, p99, p99.9 ... equally spaced), y the latency at that percentile.
  The candidate and the baseline are drawn side by side, the limits as labelled dashed lines
  (a limit named for a percentile, "p95 ...", marked where it applies), and the percentiles the
  gate judges (p50, p95, p99) are marked on each curve with the values the gate computes
  (``gates.perf.stats.percentile``, nearest rank, failed requests included).
- **Time series**: the candidate's latency per request over its scheduled time, failed
  requests in red, the same limits. Beyond ``RASTER_ABOVE`` requests the dots are one embedded
  image, so a run of 100,000 requests stays a small file.

Latencies at or below zero (or below 1 us) are drawn on the axis floor, infinite or unknown
ones at its top. Nothing here raises on odd data (no baseline, one sample, equal values, all
failed, huge outliers); an empty run is drawn as "no samples". Only a programming error
(lengths that differ) raises ValueError.

The output is deterministic: the same data gives the same bytes (``svg.hashsalt`` fixed, no
date in the metadata), and text stays text (``svg.fonttype = "none"``), so the file is small
and its labels can be searched. matplotlib is imported when a chart is drawn, not with this
module: every gates command imports the perf gate, only the perf gate draws. It replaced 538
hand-written lines of SVG layout; what that costs is measured by benchmarks/perf_chart.py.
"""

from __future__ import annotations

import io
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from gates.perf import stats

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure
    from matplotlib.typing import RcKeyType

JUDGED = (50.0, 95.0, 99.0)  # the percentiles the perf gate decides on
FLOOR_MS = 0.001  # the lowest latency the axis shows: 1 us
RASTER_ABOVE = 5_000  # time series dots beyond this many requests are drawn as an image
LABEL_GAP = 18  # px between two tick labels on the latency axis
LIMIT_LABEL_GAP = 30  # px between two limit labels (each two lines)
CURVE_POINTS = 1_000  # the quantile function is evaluated this often across the nines axis

DPI = 100
WIDTH, HEIGHT = 1040, 754  # px
# [left, bottom, width, height] of each panel, in figure fractions
LEGEND_BOX = (0.075, 0.86, 0.742, 0.08)
DISTRIBUTION_BOX = (0.075, 0.45, 0.742, 0.385)
SERIES_BOX = (0.075, 0.065, 0.742, 0.265)

CANDIDATE, BASELINE, FAILED, LIMIT, GRID, INK = (
    "#1f5fa8",
    "#8a8a8a",
    "#d62728",
    "#e07b00",
    "#e6e6e6",
    "#333333",
)
STYLE: dict[RcKeyType, object] = {
    "svg.hashsalt": "gates.perf.chart",  # fixed ids: the same data gives the same bytes
    "svg.fonttype": "none",  # text stays text: small, searchable, selectable
    "font.family": ["DejaVu Sans"],
    "font.size": 9,
    "text.color": INK,
    "axes.edgecolor": INK,
    "axes.labelcolor": INK,
    "xtick.color": INK,
    "ytick.color": INK,
}


@dataclass(frozen=True)
class Run:
    """One load run; ``scheduled_s`` and ``failed`` may be empty (a baseline needs neither)."""

    label: str
    latencies_ms: Sequence[float]
    scheduled_s: Sequence[float] = ()
    failed: Sequence[bool] = ()

    def __post_init__(self) -> None:
        n = len(self.latencies_ms)
        for name, values in (("scheduled_s", self.scheduled_s), ("failed", self.failed)):
            if len(values) and len(values) != n:
                raise ValueError(f"Run {self.label!r}: {name} has {len(values)} values, not {n}")


class Sample(Protocol):
    """What run_from_samples reads of a gates.perf.load.Sample."""

    @property
    def scheduled(self) -> float: ...
    @property
    def latency(self) -> float: ...
    @property
    def status(self) -> int: ...


def run_from_samples(label: str, samples: Iterable[Sample]) -> Run:
    """A Run from a load result's samples (seconds, HTTP status; 0 is no answer)."""
    taken = list(samples)
    return Run(
        label,
        [s.latency * 1000 for s in taken],
        [s.scheduled for s in taken],
        [not 200 <= s.status < 400 for s in taken],
    )


def write(
    path: Path,
    candidate: Run,
    baseline: Run | None,
    limits: Mapping[str, float],
    title: str,
) -> Path:
    path.write_text(render(candidate, baseline, limits, title), encoding="utf-8")
    return path


def render(
    candidate: Run,
    baseline: Run | None,
    limits: Mapping[str, float],
    title: str,
) -> str:
    import matplotlib

    out = io.StringIO()
    with matplotlib.rc_context(STYLE):
        figure(candidate, baseline, limits, title).savefig(
            out, format="svg", metadata={"Date": None}
        )
    return out.getvalue()


def figure(
    candidate: Run,
    baseline: Run | None,
    limits: Mapping[str, float],
    title: str,
) -> Figure:
    """The chart as a matplotlib Figure (no pyplot: no global state, no GUI backend). Save it
    inside ``matplotlib.rc_context(STYLE)``, as render() does, for the same bytes."""
    import matplotlib
    from matplotlib.figure import Figure

    with matplotlib.rc_context(STYLE):
        fig = Figure(figsize=(WIDTH / DPI, HEIGHT / DPI), dpi=DPI)
        fig.text(LEGEND_BOX[0], 0.985, title, fontsize=11.5, fontweight="bold", va="top")
        runs = [candidate] + ([baseline] if baseline is not None else [])
        ordered = [sorted(r.latencies_ms) for r in runs]
        span = latency_span([*(v for r in runs for v in r.latencies_ms), *limits.values()])
        _legend(fig.add_axes(LEGEND_BOX), runs, ordered)
        _distribution(fig.add_axes(DISTRIBUTION_BOX), runs, ordered, span, limits)
        _series(fig.add_axes(SERIES_BOX), candidate, span, limits)
    return fig


def latency_span(values: Iterable[float]) -> tuple[float, float]:
    """The latencies (ms) the axis must show: the finite positive values and at least a
    decade, centred on them, so there are ticks to read."""
    shown = [v for v in values if math.isfinite(v) and v > 0]
    lo = max(FLOOR_MS, min(shown, default=1.0))
    hi = max(lo, max(shown, default=1.0))
    if hi / lo < 10:
        middle = math.sqrt(lo * hi)
        lo, hi = max(FLOOR_MS, middle / math.sqrt(10)), middle * math.sqrt(10)
    return lo, hi


def _latency_axis(ax: Axes, span: tuple[float, float]) -> None:
    """A log latency axis from the tick at or below ``span`` to the one at or above it: 1-2-5
    ticks while their labels are LABEL_GAP apart, else decades (every k-th as matplotlib's
    LogLocator decides)."""
    from matplotlib.ticker import FixedLocator, FuncFormatter, LogLocator, NullLocator

    lo, hi = span
    room = max(2, int(ax.get_position().height * HEIGHT / LABEL_GAP))
    decades = math.log10(hi / lo)
    subs = (1.0, 2.0, 5.0) if 3 * (decades + 1) <= room else (1.0,)
    # a decade past each end, so that there is a tick beyond both
    ticks = [float(t) for t in LogLocator(subs=subs, numticks=room).tick_values(lo / 10, hi * 10)]
    low = max(t for t in ticks if t <= lo * (1 + 1e-9))
    high = min(t for t in ticks if t >= hi * (1 - 1e-9))
    ax.set_yscale("log")
    ax.set_ylim(low, high)
    ax.yaxis.set_major_locator(FixedLocator([t for t in ticks if low <= t <= high]))
    ax.yaxis.set_minor_locator(NullLocator())
    ax.yaxis.set_major_formatter(FuncFormatter(lambda ms, _: ms_label(ms)))
    ax.set_ylabel("latency (log scale)")
    ax.grid(True, axis="y", color=GRID)
    ax.set_axisbelow(True)


def _shown(values: Iterable[float], ax: Axes) -> list[float]:
    """Where latencies are drawn: on the axis floor at or below it, at its top when unknown."""
    low, high = ax.get_ylim()
    return [min(max(ms, low), high) if math.isfinite(ms) else high for ms in values]


def ms_label(ms: float) -> str:
    """A latency for a label: '0.5 ms', '13.2 ms', '1.5 s', '3600 s'; never an exponent."""
    if not math.isfinite(ms):
        return f"{ms} ms"
    if 0 < ms < FLOOR_MS:
        return f"< {FLOOR_MS:g} ms"
    return f"{_figure(ms / 1000)} s" if ms >= 1000 else f"{_figure(ms)} ms"


def _figure(v: float) -> str:
    """Three significant digits, or the whole number when it has more."""
    return f"{v:.0f}" if v >= 100 else f"{v:.3g}"


def nines_of(percentile: float) -> float:
    """The x of a percentile (0..100) on the nines axis: -log10(1 - q)."""
    return -math.log10(1 - min(percentile, 99.9999999) / 100)


def percentile_named(label: str) -> float | None:
    """The percentile a limit's label starts with ("p95 limit" -> 95), or None."""
    found = re.match(r"p(\d+(?:\.\d+)?)\b", label)
    return float(found.group(1)) if found and 0 < float(found.group(1)) < 100 else None


def percentile_label(nines: int) -> str:
    return "min" if nines == 0 else f"p{100 - 10 ** (2 - nines):.{max(0, nines - 2)}f}"


def judged(ordered: Sequence[float]) -> dict[float, float]:
    """The percentiles the gate judges of sorted latencies, as it computes them (none of
    none)."""
    return {q: stats.percentile(ordered, q) for q in JUDGED} if ordered else {}


def _change(value: float, before: float | None) -> str:
    if before is None or before <= 0:
        return ""
    ratio = value / before
    return f" (\u00d7{_figure(ratio)})" if ratio >= 2 else f" ({ratio - 1:+.0%})"


def _short(label: str, limit: int) -> str:
    return label if len(label) <= limit else label[: limit - 1] + "\u2026"


def _legend(ax: Axes, runs: Sequence[Run], ordered: Sequence[Sequence[float]]) -> None:
    ax.set_gid("legend")
    ax.set_axis_off()
    ax.set_xlim(0, 1)
    ax.set_ylim(3, 0)  # rows top down: header, candidate, baseline
    columns = [0.52 + 0.156 * i for i in range(5)]  # 120 px apart
    for x, name in zip(columns, ("p50", "p95", "p99", "max", "requests")):
        ax.text(x, 0.5, name, color=BASELINE, va="center")
    before = judged(ordered[1]) if len(runs) > 1 else {}
    for row, (run, latencies) in enumerate(zip(runs, ordered), 1):
        colour = CANDIDATE if row == 1 else BASELINE
        ax.plot([0, 0.035], [row, row], color=colour, lw=3, ls="-" if row == 1 else (0, (7, 4)))
        ax.text(0.045, row, _short(run.label, 44), color=colour, fontweight="bold", va="center")
        cells = [
            ms_label(v) + (_change(v, before.get(q)) if row == 1 else "")
            for q, v in judged(latencies).items()
        ]
        if latencies:
            cells.append(ms_label(latencies[-1]))
        cells.append(str(len(run.latencies_ms)))
        for x, cell in zip(columns[-len(cells) :], cells):
            ax.text(x, row, cell, va="center")
    if len(runs) == 1:
        ax.text(0.045, 2, "no baseline: nothing earlier to compare with", style="italic")


def _distribution(
    ax: Axes,
    runs: Sequence[Run],
    ordered: Sequence[Sequence[float]],
    span: tuple[float, float],
    limits: Mapping[str, float],
) -> None:
    ax.set_gid("distribution")
    # the highest percentile a sample of n can show is 1 - 1/n: log10(n) nines; a quarter of a
    # nine more gives its maximum a visible step at the right-hand end
    most = max(1, *(len(r.latencies_ms) for r in runs))
    nines = max(2, math.ceil(math.log10(most) + 0.25))
    ax.set_title(
        "Latency by percentile (from each request's scheduled time; failed requests included)",
        loc="left",
        fontweight="bold",
    )
    _latency_axis(ax, span)
    ax.set_xlim(0, nines)
    between = [q for q in JUDGED if abs(nines_of(q) - round(nines_of(q))) > 1e-6]  # p50, p95
    ax.set_xticks(range(nines + 1), [percentile_label(n) for n in range(nines + 1)])
    ax.set_xticks([nines_of(q) for q in between], [f"p{q:g}" for q in between], minor=True)
    ax.grid(True, axis="x", which="major", color=GRID)
    ax.grid(True, axis="x", which="minor", color=GRID, ls=(0, (3, 3)))
    ax.set_xlabel("percentile (log scale: each step right is one more nine)")
    _limits(ax, limits)
    for label, ms in limits.items():  # where a "pNN ..." limit applies: its percentile
        named = percentile_named(label)
        if named is not None:
            ax.plot(
                nines_of(named),
                *_shown([ms], ax),
                "D",
                color=LIMIT,
                ms=7,
                gid=f"limit-at p{named:g}",
            )
    roles = list(zip(ordered, ("candidate", "baseline")))
    # the candidate's thick line under the baseline's thin dashes: both show where they agree
    for latencies, role in roles:
        if not latencies:
            continue
        xs = [nines * i / (CURVE_POINTS - 1) for i in range(CURVE_POINTS)]
        ys = _shown([stats.percentile(latencies, 100 * (1 - 10**-x)) for x in xs], ax)
        if role == "candidate":
            ax.plot(xs, ys, drawstyle="steps-post", color=CANDIDATE, lw=3, gid="run candidate")
        else:
            ax.plot(
                xs,
                ys,
                drawstyle="steps-post",
                color=BASELINE,
                lw=1.8,
                ls=(0, (7, 4)),
                gid="run baseline",
            )
    from matplotlib import patheffects

    halo = [patheffects.withStroke(linewidth=3, foreground="white")]
    for latencies, role in reversed(roles):  # the candidate's markers and values on top
        colour = CANDIDATE if role == "candidate" else BASELINE
        for q, v in judged(latencies).items():
            x, (y,) = nines_of(q), _shown([v], ax)
            face = colour if role == "candidate" else "white"
            ax.plot(x, y, "o", ms=9, mfc=face, mec=colour, mew=2, gid=f"marker {role} p{q:g}")
            if role == "candidate":
                ax.annotate(
                    ms_label(v),
                    (x, y),
                    xytext=(5, 6),
                    textcoords="offset points",
                    color=colour,
                    fontweight="bold",
                    path_effects=halo,
                )
    if not any(ordered):
        _no_samples(ax, "no samples")


def _series(
    ax: Axes, candidate: Run, span: tuple[float, float], limits: Mapping[str, float]
) -> None:
    ax.set_gid("series")
    failed = list(candidate.failed) or [False] * len(candidate.latencies_ms)
    n_failed = sum(failed)
    ax.set_title("Latency over the run (candidate)", loc="left", fontweight="bold", pad=18)
    ax.set_title(
        f"failed: {n_failed} of {len(candidate.latencies_ms)} requests",
        loc="right",
        color=FAILED if n_failed else INK,
        pad=18,
    )
    from matplotlib.ticker import MaxNLocator

    _latency_axis(ax, span)
    times = list(candidate.scheduled_s)
    # 0 to the first tick past the last request, 1-2-5 steps: 5 to 12 ticks
    locator = MaxNLocator(nbins=12, steps=[1, 2, 5, 10])
    last = max((t for t in times if math.isfinite(t) and t > 0), default=1.0)
    end = min(float(t) for t in locator.tick_values(0, last) if t >= last * (1 - 1e-9))
    ax.set_xlim(0, end)
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter("{x:g}")
    ax.grid(True, axis="x", color=GRID)
    ax.set_xlabel("seconds since the run started (each request at its scheduled time)")
    if times:
        rasterized = len(times) > RASTER_ABOVE
        for kind, bad, colour, size in (("ok", False, CANDIDATE, 3.4), ("failed", True, FAILED, 5)):
            mine = [i for i, b in enumerate(failed) if b == bad]
            ax.plot(
                [
                    min(max(t, 0.0), end) if math.isfinite(t) else end
                    for t in map(times.__getitem__, mine)
                ],
                _shown(map(candidate.latencies_ms.__getitem__, mine), ax),
                "o",
                ms=size,
                mew=0,
                color=colour,
                rasterized=rasterized,
                gid=f"dots {kind}",
                label="failed (no 2xx/3xx answer)" if bad else "answered 2xx/3xx",
            )
        ax.legend(loc="lower left", bbox_to_anchor=(0, 1), ncols=2, frameon=False, borderpad=0)
    else:
        _no_samples(ax, "no samples with a scheduled time")
    _limits(ax, limits)


def _limits(ax: Axes, limits: Mapping[str, float]) -> None:
    """Each limit a dashed line across the plot, its label in the right margin beside it
    (moved past a neighbour's label, with a leader line, rather than over it)."""
    low, high = (math.log10(v) for v in ax.get_ylim())
    height = ax.get_position().height * HEIGHT  # px
    step = LIMIT_LABEL_GAP / height  # in axes fractions

    def fraction(ms: float) -> float:
        return (math.log10(*_shown([ms], ax)) - low) / (high - low)

    ordered = sorted(limits.items(), key=lambda item: -item[1])
    places: list[float] = []  # each label's centre, top down, in axes fractions
    for _, ms in ordered:
        f = min(fraction(ms), 1 - step / 2)
        places.append(min(f, places[-1] - step) if places else f)
    for i in reversed(range(len(places))):  # pushed off the bottom: back up, keeping the gaps
        places[i] = max(places[i], step / 2 if i == len(places) - 1 else places[i + 1] + step)
    for (label, ms), at in zip(ordered, places):
        ax.axhline(*_shown([ms], ax), color=LIMIT, lw=1.5, ls=(0, (8, 4)), gid=f"limit {label}")
        ax.annotate(
            f"{_short(label, 26)}\n{ms_label(ms)}",
            xy=(1, fraction(ms)),
            xycoords="axes fraction",
            xytext=(1.015, at),
            textcoords="axes fraction",
            va="center",
            color=LIMIT,
            arrowprops={"arrowstyle": "-", "color": LIMIT, "shrinkA": 0, "shrinkB": 0},
            annotation_clip=False,
            gid=f"limit label {label}",
        )


def _no_samples(ax: Axes, words: str) -> None:
    ax.text(0.5, 0.5, words, transform=ax.transAxes, ha="center", va="center", fontsize=11)
