"""The perf gate's noise floor: how much an unchanged release's p50 and p95 vary run to run,
and the smallest slowdown the gate catches.

Usage (from the repository root; the committed HEAD is what runs):

    uv run --locked --all-packages python benchmarks/perf_noise.py [--runs 10] \\
        [--steps 0.5,1,1.5,2,3,5] [--keep runs.json]

Builds release A (HEAD) in a scratch clone of this repository (tests/deploy_fixture.py, as the
end-to-end scenarios do, perf at the shipped 50 requests/s for 10 s), deploys it to staging
(local target) and runs `gates perf --environment staging` --runs times. Reports the spread
of p50 and p95 over those runs (min / median / max, max/min) and judges every ordered pair of
runs with the gate's own decision (gates.perf.gate.regression, the clone's config): how
many comparisons of the unchanged release with itself would have failed.

Then, for each FAULT_LATENCY_MS step (milliseconds added to every /api/data answer, four in
five requests of the mix), pushes staging a config with that fault (a new deployment of the
same release) and runs the gate: its exit code, p50 and p95, and its regression checks. Steps
go up; a step the gate does not catch is accepted and joins later steps' baselines, as it
would in real use. Each step is also judged against every clean run alone (how many of
those comparisons catch it). The load average is read before and after. Progress goes to
stderr; a Markdown summary for docs/benchmarks.md to stdout.
"""

import argparse
import itertools
import json
import os
import platform
import re
import shutil
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))  # the e2e scenarios' helpers

from deploy_fixture import Checkout, SharedReleases, scenario  # noqa: E402
from gates.perf import gate  # noqa: E402
from gates.perf import regression as perf_regression  # noqa: E402
from gates.config import load_config  # noqa: E402
from gates.outcome import MeasurementError  # noqa: E402
from gates.report import Report  # noqa: E402


@dataclass
class Measured:
    label: str
    exit: int
    p50: float
    p95: float
    lag_p95: float  # the generator's own send lag
    latencies: list[float]
    regression: str  # the gate's regression checks, as its report words them


def perf_run(repo: Checkout, label: str) -> Measured:
    done = repo.gates("perf", "--environment", "staging", check=False)
    report = repo.report("perf-staging")
    summary = report["details"].get("summary", {})
    sample = report["details"].get("sample")
    latencies = json.loads(Path(sample).read_text())["latencies_ms"] if sample else []
    checks = [c for c in report["checks"] if c["name"].endswith("regression")]
    words = "; ".join(
        f"{c['name']} {'pass' if c['passed'] else 'FAIL'}: {c['measured']}" for c in checks
    )
    if done.returncode not in (0, 1):
        words = report.get("error") or done.stderr.strip()[-300:]
    measured = Measured(
        label,
        done.returncode,
        summary.get("p50", float("nan")),
        summary.get("p95", float("nan")),
        summary.get("lag_p95_ms", float("nan")),
        latencies,
        words or "no baseline (same deployment)",
    )
    print(
        f"{label}: exit {measured.exit}, p50 {measured.p50:.2f} ms, p95 {measured.p95:.2f} ms, "
        f"generator lag p95 {measured.lag_p95:.2f} ms, "
        f"load {os.getloadavg()[0]:.2f}",
        file=sys.stderr,
        flush=True,
    )
    return measured


def spread(values: list[float]) -> str:
    low, mid, high = min(values), statistics.median(values), max(values)
    return f"{low:.2f} / {mid:.2f} / {high:.2f} | ×{high / low:.2f}"


def judge(new: Measured, base: Measured, config_path: Path) -> str:
    """The gate's decision (gates.perf.gate.regression) on ``new`` against ``base`` alone: ""
    (pass), the percentiles it calls regressed (exit 1), or "busier" (exit 3)."""
    perf = load_config(config_path).perf
    base_run = perf_regression.Run(
        "benchmark", "A", "base", "0", True, tuple(base.latencies), base.lag_p95
    )
    try:
        report = Report("perf")
        gate.regression(report, perf, new.latencies, [base_run], new.lag_p95)
    except MeasurementError:
        return "busier"
    return "+".join(c.name.split()[0] for c in report.checks if not c.passed)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--steps", default="0.5,1,1.5,2,3,5")
    parser.add_argument("--keep", type=Path, help="write every run's latencies here (JSON)")
    args = parser.parse_args()
    steps = [float(s) for s in args.steps.split(",")]
    load_before = os.getloadavg()
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="bench-perf-noise-") as directory:
        base = Path(directory)
        repo = scenario(base / "repo", SharedReleases(base), "A")
        config_path = repo.path / "pyproject.toml"
        # the shipped perf duration, not the tests' short one
        config_path.write_text(
            re.sub(r"(?m)^duration = 3$", "duration = 10", config_path.read_text())
        )
        clean: list[Measured] = []
        faulty: list[Measured] = []
        try:
            repo.gates("deploy", "--environment", "staging", "--release", repo.releases["A"])
            for n in range(1, args.runs + 1):
                clean.append(perf_run(repo, f"clean {n}"))
            for ms in steps:
                repo.set_service_env("staging", FAULT_LATENCY_MS=f"{ms:g}")
                repo.gates(
                    "deploy", "--environment", "staging", "--release", repo.releases["A"]
                )  # fmt: skip
                faulty.append(perf_run(repo, f"FAULT_LATENCY_MS={ms:g}"))
        finally:
            repo.gates("down", "--environment", "staging", check=False)
            repo.kill_leftovers()
            load_after = os.getloadavg()
            elapsed = time.monotonic() - started
            perf = load_config(config_path).perf
            # judged before the clone is removed: the decision reads the clone's config
            pairs = [
                judge(a, b, config_path)
                for a, b in itertools.permutations(clean, 2)
                if a.latencies and b.latencies
            ]
            # a run that could not judge (exit 3) keeps no record, so has no latencies
            caught = [
                [judge(f, c, config_path) for c in clean if c.latencies] if f.latencies else []
                for f in faulty
            ]
            shutil.rmtree(base, ignore_errors=True)
    if args.keep:
        args.keep.write_text(json.dumps([m.__dict__ for m in clean + faulty]))

    print(
        f"{platform.node()}: {os.cpu_count()} cores, Python {platform.python_version()}; "
        f"load average (1/5/15 min) {'/'.join(f'{x:.2f}' for x in load_before)} before, "
        f"{'/'.join(f'{x:.2f}' for x in load_after)} after; {elapsed / 60:.1f} min\n"
    )
    print(
        f"floors: p50 +{perf.regression_min_ratio:.0%}, p95 +{perf.regression_tail_ratio:.0%}, "
        f"and +{perf.regression_min_ms:g} ms, p < {perf.regression_alpha:g}\n"
    )
    print("| run | exit | p50 ms | p95 ms | generator lag p95 ms |")
    print("|---|---|---|---|---|")
    for m in clean:
        print(f"| {m.label} | {m.exit} | {m.p50:.2f} | {m.p95:.2f} | {m.lag_p95:.2f} |")
    print(
        f"\n| unchanged release, {len(clean)} runs | min / median / max ms | max/min |\n"
        "|---|---|---|"
    )
    print(f"| p50 | {spread([m.p50 for m in clean])} |")
    print(f"| p95 | {spread([m.p95 for m in clean])} |")
    print(f"| generator lag p95 | {spread([m.lag_p95 for m in clean])} |")
    alarms = [p for p in pairs if p and p != "busier"]
    busy = sum(1 for p in pairs if p == "busier")
    print(
        f"\nEvery ordered pair of unchanged runs judged by the gate's decision: {len(alarms)} of "
        f"{len(pairs)} called a regression (exit 1)"
        + (f" ({', '.join(alarms)})" if alarms else "")
        + f", {busy} inconclusive on a busier machine (exit 3), the rest passed\n"
    )
    print(
        "| slowdown | exit | p50 ms | p95 ms | generator lag p95 ms | caught (exit 1) / busier "
        "(exit 3) vs each clean run | the gate's checks |"
    )
    print("|---|---|---|---|---|---|---|")
    for m, judged in zip(faulty, caught):
        hits = sum(1 for j in judged if j and j != "busier")
        busy = sum(1 for j in judged if j == "busier")
        offline = f"{hits} / {busy} of {len(judged)}" if judged else "no record (exit 3)"
        print(
            f"| {m.label} | {m.exit} | {m.p50:.2f} | {m.p95:.2f} | {m.lag_p95:.2f} | "
            f"{offline} | {m.regression} |"
        )


if __name__ == "__main__":
    main()
