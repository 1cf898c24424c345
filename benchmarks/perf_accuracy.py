"""Does the perf gate's load generator measure what an independent tool measures?

Usage (from the repository root, with an environment running, e.g. after nox -s
deploy-staging; needs hey from Debian: apt-get install hey):

    uv run --locked --all-packages python benchmarks/perf_accuracy.py [--port 8101]

For each rate, alternately runs gates.perf.load.ConstantRateLoad and `hey -q R -c 1
-disable-keepalive` (both a new connection per request, evenly spaced) against the same
server and endpoint, and compares p50 and p99. hey runs one worker: with several, each
worker's rate ticker fires in the same phase and the server sees bursts, a different load.
The agreement criterion: within 20 % or 0.5 ms, whichever is larger.
Prints a Markdown table for docs/benchmarks.md.
"""

import argparse
import re
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from gates.perf.load import ConstantRateLoad  # noqa: E402
from gates.perf.stats import percentile  # noqa: E402


def ours(port, rate, duration):
    """p50 and p99 measured from the scheduled time, as the perf gate judges them."""
    result = ConstantRateLoad(port, ("/api/data",), rate=rate, duration=duration).run()
    latencies = sorted(s.latency * 1000 for s in result.samples)
    return percentile(latencies, 50), percentile(latencies, 99), len(result.failures)


def hey(port, rate, duration, workers):
    out = subprocess.run(
        [
            "hey",
            "-z",
            f"{duration}s",
            "-q",
            f"{rate / workers:g}",
            "-c",
            str(workers),
            "-disable-keepalive",
            f"http://127.0.0.1:{port}/api/data",
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=duration + 60,
    ).stdout
    found = dict(re.findall(r"(\d+)%+ in ([\d.]+) secs", out))
    errors = sum(
        int(n) for code, n in re.findall(r"\[(\d+)\]\s+(\d+) responses", out) if code != "200"
    )
    return float(found["50"]) * 1000, float(found["99"]) * 1000, errors


def agrees(a, b):
    return abs(a - b) <= max(0.2 * b, 0.5)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8101)
    parser.add_argument("--duration", type=int, default=15)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--rates", default="50,200")
    args = parser.parse_args()
    print(
        "| rate/s | round | gates p50 | hey p50 | p50 agrees | gates p99 | hey p99 "
        "| p99 agrees | errors (gates/hey) |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for rate in (int(r) for r in args.rates.split(",")):
        for round_ in range(1, args.rounds + 1):
            g50, g99, gerr = ours(args.port, rate, args.duration)
            h50, h99, herr = hey(args.port, rate, args.duration, workers=1)
            print(
                f"| {rate} | {round_} | {g50:.2f} | {h50:.2f} | "
                f"{'yes' if agrees(g50, h50) else 'NO'} | {g99:.2f} | {h99:.2f} | "
                f"{'yes' if agrees(g99, h99) else 'NO'} | {gerr}/{herr} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
