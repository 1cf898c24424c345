"""What does the perf gate's chart cost: importing it, drawing it cold and warm, and its size?

Usage (from the repository root, in an environment with the chart's dependencies, e.g. the
test session's):

    .nox/test/bin/python benchmarks/perf_chart.py [--repeat 7] [--root DIR]

``--root`` measures the gates package found in DIR instead of this checkout's (e.g. an
earlier commit exported with ``git archive <commit> gates | tar -x -C DIR``), so two
versions can be measured one after the other on the same machine.

Each figure is the median of ``--repeat`` fresh processes (cold) or calls (warm):

- import: ``import gates.perf.chart`` in a new interpreter (what every gates command pays:
  the CLI imports every stage's module);
- first chart: the first render() in a new interpreter, after the import (what one perf gate
  run pays: lazy imports, font lookup);
- warm chart: a further render() in the same process;

for the gate's default run (50 requests/s for 10 s against 3 pooled baseline runs) and a
long run (100,000 requests against as many). Prints a Markdown table.

Measured 2026-12-07 on the shared 2-core machine in a quiet moment (load average 1.4; the
pairs were run back to back), the hand-written chart (669dae9) against matplotlib 3.11.2's:

    git archive 669dae9 gates | tar -x -C /tmp/before
    .nox/test/bin/python benchmarks/perf_chart.py --repeat 5 --root /tmp/before
    .nox/test/bin/python benchmarks/perf_chart.py --repeat 5

| chart | case | import ms | first chart ms | warm chart ms | SVG bytes |
|---|---|---|---|---|---|
| hand-written | default run | 44 | 5 | 4 | 32,761 |
| matplotlib | default run | 20 | 1,395 | 141 | 134,172 |
| hand-written | long run | 45 | 275 | 259 | 370,460 |
| matplotlib | long run | 20 | 1,559 | 312 | 119,906 |

(Under load average 8-20 earlier the same pairs gave first chart 16 vs 2,541 ms and warm 9
vs 261 ms.) So matplotlib costs the perf gate about 1.4 s once per run, nearly all of it
importing matplotlib and numpy and loading the font list (a fresh machine builds the font
cache once more), against a load run of 10 s or more; a long run costs about the same as
before, and its file is a third of the size (the dots are an image). Importing the chart,
which every gates command does, imports no matplotlib and got cheaper (no xml.sax). The
default run's SVG is 4x larger (each dot a <use> element): 134 KB.
"""

import argparse
import json
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# Runs in a fresh interpreter: prints {"import": s, "first": s, "warm": [s...], "bytes": n}.
PROBE = r"""
import json, math, sys, time
from statistics import NormalDist
sys.path.insert(0, sys.argv[1])
n, base_n, warm = int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
began = time.perf_counter()
from gates.perf import chart
imported = time.perf_counter() - began

def run(label, median, n, rate, failed_every):
    shape = NormalDist()
    ordered = [median * math.exp(0.3 * shape.inv_cdf((i + 0.5) / n)) for i in range(n)]
    latencies = [ordered[(i * 7919) % n] for i in range(n)]
    failed = [bool(failed_every) and i % failed_every == 0 for i in range(n)]
    return chart.Run(label, latencies, [i / rate for i in range(n)], failed)

candidate = run("candidate", 2.4, n, 50.0 if n <= 500 else 1000.0, 97)
baseline = chart.Run("baseline", run("b", 2.0, base_n, 50.0, 0).latencies_ms)
limits = {"p95 limit": 200.0, "p50 regression limit": 3.0, "p95 regression limit": 6.5}
began = time.perf_counter()
svg = chart.render(candidate, baseline, limits, "perf staging")
first = time.perf_counter() - began
times = []
for _ in range(warm):
    began = time.perf_counter()
    again = chart.render(candidate, baseline, limits, "perf staging")
    times.append(time.perf_counter() - began)
    assert again == svg, "the same data drew different bytes"
print(json.dumps({"import": imported, "first": first, "warm": times, "bytes": len(svg)}))
"""

CASES = {
    "default run: 500 requests, baseline 1,500": (500, 1500),
    "long run: 100,000 requests, baseline 100,000": (100_000, 100_000),
}


def probe(root: Path, n: int, base_n: int, warm: int) -> dict:
    out = subprocess.run(
        [sys.executable, "-c", PROBE, str(root), str(n), str(base_n), str(warm)],
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(out.stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--root", type=Path, default=ROOT)
    args = parser.parse_args()
    print(f"gates from {args.root}, {args.repeat} processes per case, medians\n")
    print("| case | import ms | first chart ms | warm chart ms | SVG bytes |")
    print("|---|---|---|---|---|")
    for case, (n, base_n) in CASES.items():
        found = [probe(args.root, n, base_n, 3) for _ in range(args.repeat)]
        imported = statistics.median(f["import"] for f in found) * 1000
        first = statistics.median(f["first"] for f in found) * 1000
        warm = statistics.median(t for f in found for t in f["warm"]) * 1000
        sizes = {f["bytes"] for f in found}
        print(f"| {case} | {imported:.0f} | {first:.0f} | {warm:.0f} | {max(sizes):,} |")


if __name__ == "__main__":
    main()
