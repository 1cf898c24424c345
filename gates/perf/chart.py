"""The perf gate's chart: one SVG that answers "is the candidate slower than the baseline, and
is it within the limits?".

Contract::

    Run(label, latencies_ms, scheduled_s=(), failed=())     one load run
    render(candidate, baseline, limits, title) -> str       the SVG text
    write(path, candidate, baseline, limits, title) -> Path render() written to path
    run_from_samples(label, samples) -> Run                 from gates.perf.load's Sample objects

``latencies_ms`` are per request, measured from the request's scheduled time; ``scheduled_s``
(seconds since the run started) and ``failed`` (no 2xx/3xx answer), when given, are in the
same order and as long. ``baseline`` may be None, and needs only its latencies. ``limits``
maps a label to a latency in ms, e.g. ``{"p95 limit": 200.0, "p50 regression limit": 2.4}``.

Two panels, one latency scale (log, 1-2-5 ticks, from the data and the limits, so a 2 ms and a
1.5 s service are both readable and a 2x change is the same height anywhere):

- **Percentile distribution** (HdrHistogram style): x is the percentile on a "nines" axis,
  x = -log10(1 - q) (p50, p90, p99, p99.9 ... equally spaced), y the latency at that percentile.
  The candidate and the baseline are drawn side by side, the limits as labelled dashed lines,
  and the percentiles the gate judges (p50, p95, p99) are marked on each curve with the values
  the gate computes (``gates.perf.stats.percentile``, nearest rank, failed requests included).
- **Time series**: the candidate's latency per request over its scheduled time, failed
  requests in red, the same limits.

Latencies at or below zero (or below 1 us) are drawn on the axis floor. Nothing here raises on
odd data (no baseline, one sample, equal values, all failed, huge outliers); an empty run is
drawn as "no samples". Only a programming error (lengths that differ) raises ValueError.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol
from xml.sax.saxutils import escape, quoteattr

from gates.perf import stats

JUDGED = (50.0, 95.0, 99.0)  # the percentiles the perf gate decides on
FLOOR_MS = 0.001  # the lowest latency the axis shows: 1 us

WIDTH = 1040
LEFT, RIGHT = 78, WIDTH - 190  # the limits' labels go in the right margin, clear of the data
DIST_TOP, DIST_BOTTOM = 126, 416  # the distribution panel's plot area
SERIES_TOP, SERIES_BOTTOM = 506, 706  # the time series panel's plot area
HEIGHT = SERIES_BOTTOM + 48
LABEL_GAP = 16  # px between two tick labels, and between two limit labels

CANDIDATE, BASELINE, FAILED, LIMIT, GRID, INK = (
    "#1f5fa8",
    "#8a8a8a",
    "#d62728",
    "#e07b00",
    "#e6e6e6",
    "#333333",
)


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
    runs = [candidate] + ([baseline] if baseline is not None else [])
    scale = LatencyScale.fit([v for r in runs for v in r.latencies_ms] + list(limits.values()))
    # the highest percentile a sample of n can show is 1 - 1/n: log10(n) nines; a quarter of a
    # nine more gives its maximum a visible step at the right-hand end
    most = max(1, *(len(r.latencies_ms) for r in runs))
    nines = max(2, math.ceil(math.log10(most) + 0.25))
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" '
        f'viewBox="0 0 {WIDTH} {HEIGHT}" font-family="DejaVu Sans, Arial, sans-serif" '
        f'font-size="12" fill="{INK}">',
        f'<rect width="{WIDTH}" height="{HEIGHT}" fill="white"/>',
        _text(LEFT, 24, title, size=15, weight="bold"),
        _legend(candidate, baseline),
        _distribution(runs, scale, nines, limits),
        _series(candidate, scale, limits),
        "</svg>\n",
    ]
    return "".join(parts)


class LatencyScale:
    """A log latency axis from lo to hi ms, with its tick values (inside, a little short of
    both ends)."""

    def __init__(self, lo: float, hi: float, ticks: Sequence[float]) -> None:
        self.lo, self.hi, self.ticks = lo, hi, tuple(ticks)

    @classmethod
    def fit(cls, values: Iterable[float]) -> LatencyScale:
        shown = [v for v in values if math.isfinite(v) and v > 0]
        lo = max(FLOOR_MS, min(shown, default=1.0))
        hi = max(lo, max(shown, default=1.0))
        if hi / lo < 10:  # at least a decade, centred on the data, so there are ticks to read
            middle = math.sqrt(lo * hi)
            lo, hi = max(FLOOR_MS, middle / math.sqrt(10)), middle * math.sqrt(10)
        # 1-2-5 ticks while the smaller panel leaves room for their labels, else decades
        decades_room = (SERIES_BOTTOM - SERIES_TOP) / LABEL_GAP * math.log10(2)
        steps: Sequence[float] = (1, 2, 5) if math.log10(hi / lo) <= decades_room else (1,)
        lo, hi = _step_below(lo, steps), _step_above(hi, steps)
        ticks = list(_steps_between(lo, hi, steps))
        if len(steps) == 1:  # many decades: every k-th decade, so labels never collide
            every = max(1, math.ceil(len(ticks) / ((SERIES_BOTTOM - SERIES_TOP) / LABEL_GAP)))
            spans = math.ceil(round(math.log10(hi / lo), 6) / every)
            hi = _clean(lo * 10 ** (spans * every))
            ticks = [_clean(lo * 10 ** (k * every)) for k in range(spans + 1)]
        margin = 10 ** (0.03 * math.log10(hi / lo))  # so no tick or limit sits on the frame
        return cls(lo / margin, hi * margin, ticks)

    def fraction(self, ms: float) -> float:
        """0 at lo, 1 at hi; values outside are clamped to the axis."""
        ms = min(max(ms, self.lo), self.hi) if math.isfinite(ms) else self.hi
        return math.log10(ms / self.lo) / math.log10(self.hi / self.lo)

    def y(self, ms: float, top: float, bottom: float) -> float:
        return bottom - (bottom - top) * self.fraction(ms)


def _steps_between(lo: float, hi: float, steps: Sequence[float]) -> Iterable[float]:
    decade = 10 ** math.floor(math.log10(lo) - 1e-9)
    while decade <= hi * 1.000001:
        for s in steps:
            v = _clean(s * decade)
            if lo * 0.999999 <= v <= hi * 1.000001:
                yield v
        decade *= 10


def _step_below(v: float, steps: Sequence[float]) -> float:
    decade = 10 ** math.floor(math.log10(v) + 1e-9)
    return _clean(max(s * decade for s in steps if s * decade <= v * 1.000001))


def _step_above(v: float, steps: Sequence[float]) -> float:
    decade = 10 ** math.floor(math.log10(v) - 1e-9)
    return _clean(min(s * decade for s in (*steps, 10) if s * decade >= v * 0.999999))


def _clean(v: float) -> float:
    return float(f"{v:.6g}")


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


def _legend(candidate: Run, baseline: Run | None) -> str:
    columns = [LEFT + 400 + 120 * i for i in range(5)]
    out = [
        _text(x, 44, name, fill=BASELINE)
        for x, name in zip(columns, ("p50", "p95", "p99", "max", "requests"))
    ]
    before = _judged(baseline) if baseline is not None else {}
    for i, run in enumerate([candidate] + ([baseline] if baseline is not None else [])):
        y, colour = 64 + 20 * i, CANDIDATE if i == 0 else BASELINE
        dash = ' stroke-dasharray="7 4"' if i else ""
        out.append(
            f'<line x1="{LEFT}" y1="{y - 4}" x2="{LEFT + 26}" y2="{y - 4}" stroke="{colour}" '
            f'stroke-width="3"{dash}/>'
            + _text(LEFT + 34, y, _short(run.label, 44), weight="bold", fill=colour)
        )
        judged = _judged(run)
        cells = [
            ms_label(v) + (_change(v, before.get(q)) if i == 0 else "") for q, v in judged.items()
        ]
        if run.latencies_ms:
            cells.append(ms_label(max(run.latencies_ms)))
        cells.append(str(len(run.latencies_ms)))
        out += [_text(x, y, cell) for x, cell in zip(columns[-len(cells) :], cells)]
    if baseline is None:
        out.append(
            _text(LEFT + 34, 84, "no baseline: nothing earlier to compare with", italic=True)
        )
    return '<g id="legend">' + "".join(out) + "</g>"


def _judged(run: Run) -> dict[float, float]:
    ordered = sorted(run.latencies_ms)
    return {q: stats.percentile(ordered, q) for q in JUDGED} if ordered else {}


def _change(value: float, before: float | None) -> str:
    if before is None or before <= 0:
        return ""
    ratio = value / before
    return f" (\u00d7{_figure(ratio)})" if ratio >= 2 else f" ({ratio - 1:+.0%})"


def _distribution(
    runs: Sequence[Run], scale: LatencyScale, nines: int, limits: Mapping[str, float]
) -> str:
    def x(n: float) -> float:
        return LEFT + (RIGHT - LEFT) * min(n, nines) / nines

    def y(ms: float) -> float:
        return scale.y(ms, DIST_TOP, DIST_BOTTOM)

    out = ['<g id="distribution">']
    out.append(
        _text(
            LEFT,
            DIST_TOP - 14,
            "Latency by percentile (from each request's scheduled time; failed requests included)",
            weight="bold",
        )
    )
    out.append(_y_axis(scale, DIST_TOP, DIST_BOTTOM))
    for n in range(nines + 1):
        out.append(_x_tick(f'data-nines="{n}"', x(n), DIST_TOP, DIST_BOTTOM, percentile_label(n)))
    between = [q for q in JUDGED if abs(nines_of(q) - round(nines_of(q))) > 1e-6]  # p50, p95
    for q in between:
        at = x(nines_of(q))
        out.append(
            _x_tick(f'data-percentile="{q:g}"', at, DIST_TOP, DIST_BOTTOM, f"p{q:g}", dashed=True)
        )
    out.append(_frame(DIST_TOP, DIST_BOTTOM))
    out.append(
        _text(
            (LEFT + RIGHT) / 2,
            DIST_BOTTOM + 36,
            "percentile (log scale: each step right is one more nine)",
            anchor="middle",
        )
    )
    out.append(_limits(limits, scale, DIST_TOP, DIST_BOTTOM))
    for label, ms in limits.items():  # where a "pNN ..." limit applies: its percentile
        named = percentile_named(label)
        if named is not None:
            lx, ly = x(nines_of(named)), y(ms)
            out.append(
                f'<path class="limit-at" data-percentile="{named:g}" '
                f'd="M{lx:.1f},{ly - 6:.1f} l6,6 l-6,6 l-6,-6 z" fill="{LIMIT}"/>'
            )
    roles = list(zip(runs, ("candidate", "baseline")))
    # the candidate's thick line under the baseline's thin dashes: both show where they agree
    for run, role in roles:
        out.append(_quantile_path(run, role, x, y, nines))
    for run, role in reversed(roles):  # the candidate's markers and values on top
        colour = CANDIDATE if role == "candidate" else BASELINE
        for q, v in _judged(run).items():
            cx, cy = x(nines_of(q)), y(v)
            out.append(
                f'<circle class="marker {role}" data-percentile="{q:g}" data-ms="{v:.6g}" '
                f'cx="{cx:.1f}" cy="{cy:.1f}" r="4.5" '
                f'fill="{colour if role == "candidate" else "white"}" stroke="{colour}" '
                f'stroke-width="2"/>'
            )
            if role == "candidate":
                out.append(
                    _text(cx + 7, cy - 8, ms_label(v), fill=colour, weight="bold", halo=True)
                )
    if not any(run.latencies_ms for run in runs):
        out.append(_no_samples(DIST_TOP, DIST_BOTTOM))
    return "".join(out) + "</g>"


def _quantile_path(
    run: Run,
    role: str,
    x: Callable[[float], float],
    y: Callable[[float], float],
    nines: int,
) -> str:
    """The run's quantile function, evaluated once per pixel column (so the path stays small
    however many requests), drawn as the step function it is."""
    ordered = sorted(run.latencies_ms)
    if not ordered:
        return ""
    points: list[tuple[float, float]] = []
    for px in range(LEFT, RIGHT + 1):
        q = 100 * (1 - 10 ** -((px - LEFT) / (RIGHT - LEFT) * nines))
        py = round(y(stats.percentile(ordered, q)), 1)
        if points and points[-1][1] != py:
            points.append((px, points[-1][1]))
        points.append((px, py))
    path = " ".join(
        f"{'M' if i == 0 else 'L'}{px},{py}" for i, (px, py) in enumerate(_drop_collinear(points))
    )
    style = (
        f'stroke="{CANDIDATE}" stroke-width="3"'
        if role == "candidate"
        else f'stroke="{BASELINE}" stroke-width="1.8" stroke-dasharray="7 4"'
    )
    return f'<path class="run {role}" d="{path}" fill="none" {style}/>'


def _drop_collinear(points: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """Keep the corners of a path of horizontal and vertical segments."""
    kept: list[tuple[float, float]] = []
    for p in points:
        if len(kept) >= 2 and (kept[-2][1] == kept[-1][1] == p[1]):
            kept[-1] = p
        else:
            kept.append(p)
    return kept


def _series(candidate: Run, scale: LatencyScale, limits: Mapping[str, float]) -> str:
    times = list(candidate.scheduled_s)
    span = max((t for t in times if math.isfinite(t)), default=0.0)
    step = _linear_step(span if span > 0 else 1.0)
    end = step * math.ceil((span if span > 0 else 1.0) / step - 1e-9)

    def x(t: float) -> float:
        return LEFT + (RIGHT - LEFT) * (min(max(t, 0.0), end) if math.isfinite(t) else end) / end

    def y(ms: float) -> float:
        return scale.y(ms, SERIES_TOP, SERIES_BOTTOM)

    failed = list(candidate.failed) or [False] * len(candidate.latencies_ms)
    n_failed = sum(failed)
    out = ['<g id="series">']
    out.append(
        _text(LEFT, SERIES_TOP - 30, "Latency over the run (candidate)", weight="bold")
        + f'<circle cx="{LEFT + 6}" cy="{SERIES_TOP - 14}" r="3" fill="{CANDIDATE}"/>'
        + _text(LEFT + 14, SERIES_TOP - 10, "answered 2xx/3xx")
        + f'<circle cx="{LEFT + 146}" cy="{SERIES_TOP - 14}" r="3.5" fill="{FAILED}"/>'
        + _text(
            LEFT + 154,
            SERIES_TOP - 10,
            f"failed: {n_failed} of {len(candidate.latencies_ms)} requests",
            fill=FAILED if n_failed else INK,
        )
    )
    out.append(_y_axis(scale, SERIES_TOP, SERIES_BOTTOM))
    ticks = [i * step for i in range(int(round(end / step)) + 1)]
    for t in ticks:
        out.append(_x_tick(f'data-seconds="{t:g}"', x(t), SERIES_TOP, SERIES_BOTTOM, f"{t:g}"))
    out.append(_frame(SERIES_TOP, SERIES_BOTTOM))
    out.append(
        _text(
            (LEFT + RIGHT) / 2,
            SERIES_BOTTOM + 36,
            "seconds since the run started (each request at its scheduled time)",
            anchor="middle",
        )
    )
    latencies = candidate.latencies_ms
    if times:
        # one dot per pixel and kind, each a round-capped zero-length stroke in one path per
        # kind: a run of 100,000 requests stays a small file and looks the same
        dots = {(bad, round(x(t)), round(y(ms))) for bad, t, ms in zip(failed, times, latencies)}
        for kind, bad, colour, size in (("ok", False, CANDIDATE, 3.4), ("failed", True, FAILED, 5)):
            mine = sorted((cx, cy) for b, cx, cy in dots if b == bad)
            if mine:
                out.append(
                    f'<path class="dots {kind}" data-count="{sum(f == bad for f in failed)}" '
                    f'd="{"".join(f"M{cx} {cy}h0" for cx, cy in mine)}" stroke="{colour}" '
                    f'stroke-width="{size}" stroke-linecap="round" fill="none"/>'
                )
    else:
        out.append(_no_samples(SERIES_TOP, SERIES_BOTTOM, "no samples with a scheduled time"))
    out.append(_limits(limits, scale, SERIES_TOP, SERIES_BOTTOM))  # over the dots
    return "".join(out) + "</g>"


def _linear_step(span: float) -> float:
    """A 1-2-5 step giving 5 to 12 ticks over span."""
    decade = 10 ** math.floor(math.log10(span))
    for s in (0.1, 0.2, 0.5, 1, 2, 5, 10):
        if span / (s * decade) <= 12:
            return _clean(s * decade)
    return _clean(10 * decade)


def _y_axis(scale: LatencyScale, top: float, bottom: float) -> str:
    out = []
    for v in scale.ticks:
        ty = scale.y(v, top, bottom)
        out.append(
            f'<g class="y-tick" data-ms="{v:g}">'
            f'<line x1="{LEFT}" y1="{ty:.1f}" x2="{RIGHT}" y2="{ty:.1f}" stroke="{GRID}"/>'
            + _text(LEFT - 6, ty + 4, ms_label(v), anchor="end")
            + "</g>"
        )
    middle = (top + bottom) / 2
    out.append(
        f'<text x="18" y="{middle:.1f}" text-anchor="middle" '
        f'transform="rotate(-90 18 {middle:.1f})">latency (log scale)</text>'
    )
    return "".join(out)


def _x_tick(
    data: str, at: float, top: float, bottom: float, label: str, dashed: bool = False
) -> str:
    """A vertical grid line at ``at`` with its label below; ``data`` names its value."""
    dash = ' stroke-dasharray="3 3"' if dashed else ""
    return (
        f'<g class="x-tick" {data}>'
        f'<line x1="{at:.1f}" y1="{top}" x2="{at:.1f}" y2="{bottom}" stroke="{GRID}"{dash}/>'
        + _text(at, bottom + 16, label, anchor="middle")
        + "</g>"
    )


def _frame(top: float, bottom: float) -> str:
    return (
        f'<rect x="{LEFT}" y="{top}" width="{RIGHT - LEFT}" height="{bottom - top}" '
        f'fill="none" stroke="{INK}"/>'
    )


def _limits(limits: Mapping[str, float], scale: LatencyScale, top: float, bottom: float) -> str:
    """Each limit a dashed line across the plot, its label in the right margin beside it
    (moved past a neighbour's label, with a leader line, rather than over it)."""
    ordered = sorted(limits.items(), key=lambda item: -item[1])
    lines = [scale.y(ms, top, bottom) for _, ms in ordered]
    step = 13 + LABEL_GAP  # a label is two lines: its name, then its value
    labels: list[float] = []  # the baseline of each label's first line
    for ly in lines:
        labels.append(max(ly - 2, labels[-1] + step) if labels else max(ly - 2, top + 10))
    for i in reversed(range(len(labels))):  # pushed off the bottom: back up, keeping the gaps
        labels[i] = min(labels[i], bottom - 12 if i == len(labels) - 1 else labels[i + 1] - step)
    out = []
    for (label, ms), ly, ty in zip(ordered, lines, labels):
        out.append(
            f'<g class="limit" data-ms="{ms:g}">'
            f'<line x1="{LEFT}" y1="{ly:.1f}" x2="{RIGHT + 4}" y2="{ly:.1f}" stroke="{LIMIT}" '
            f'stroke-width="1.5" stroke-dasharray="8 4"/>'
            f'<line x1="{RIGHT + 4}" y1="{ly:.1f}" x2="{RIGHT + 8}" y2="{ty + 2:.1f}" '
            f'stroke="{LIMIT}"/>'
            + _text(RIGHT + 10, ty, _short(label, 26), fill=LIMIT)
            + _text(RIGHT + 10, ty + 13, ms_label(ms), fill=LIMIT)
            + "</g>"
        )
    return "".join(out)


def _no_samples(top: float, bottom: float, words: str = "no samples") -> str:
    return _text((LEFT + RIGHT) / 2, (top + bottom) / 2, words, anchor="middle", size=14, halo=True)


def _short(label: str, limit: int) -> str:
    return label if len(label) <= limit else label[: limit - 1] + "\u2026"


def _text(
    x: float,
    y: float,
    words: str,
    *,
    anchor: str = "start",
    size: int = 12,
    weight: str = "normal",
    fill: str = INK,
    italic: bool = False,
    halo: bool = False,
) -> str:
    style = ' font-style="italic"' if italic else ""
    if halo:  # a white outline so a label stays readable over lines and dots
        style += ' stroke="white" stroke-width="3" paint-order="stroke"'
    return (
        f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}" font-size="{size}" '
        f'font-weight="{weight}" fill={quoteattr(fill)}{style}>{escape(words)}</text>'
    )
