"""The three-node swarm's faults, each run ``--rounds`` times: the scenarios of
tests/faults/test_node_faults.py (a worker lost mid-deploy, the leader lost mid-deploy, a node
partitioned during a rollback, the node running the edge lost), under 50 requests/s through
the edge.

Usage, as root, from the repository root, with the engine and the nodes up
(``nox -s engine -- up`` then ``nox -s engine -- up --nodes 3``):

    .nox/test/bin/python benchmarks/swarm_faults.py [--rounds 5] [--keep FILE] [--only EXPR]

Runs the scenarios with ``GATES_FAULTS_ROUNDS`` set, each appending its measurements to a
JSON-lines file (``GATES_FAULTS_RECORD``), then prints a Markdown table for
docs/benchmarks.md: per fault, the rounds, failed requests / sent (all rounds and the worst
round), seconds to recover (median and worst), the pipeline's verdicts (exit codes) and how
many rounds ended with the history naming the release that serves. A scenario that failed
its assertions is still counted from what it recorded; pytest's exit code is printed.
"""

import argparse
import collections
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


def run(rounds: int, record: Path, only: str) -> int:
    env = {**os.environ, "GATES_FAULTS_ROUNDS": str(rounds), "GATES_FAULTS_RECORD": str(record)}
    argv = [sys.executable, "-m", "pytest", "tests/faults/test_node_faults.py", "-k",
            f"({only}) and not reaped and not whole", "-p", "no:cacheprovider", "-q"]  # fmt: skip
    return subprocess.run(argv, cwd=ROOT, env=env, check=False).returncode


def table(lines: list[dict[str, Any]]) -> str:
    by_fault: dict[str, list[dict[str, Any]]] = collections.defaultdict(list)
    for line in lines:
        by_fault[line["fault"]].append(line)
    rows = [
        "| fault | rounds | failed / sent (all) | worst round | recovery s, median (worst) "
        "| verdicts (exit) | history = live |",
        "|---|---:|---:|---:|---:|---|---:|",
    ]
    for fault, runs in by_fault.items():
        failed, sent = sum(r["failed"] for r in runs), sum(r["sent"] for r in runs)
        worst = max(runs, key=lambda r: r["failed"] / max(r["sent"], 1))
        recovery = [r["recovered_s"] for r in runs]
        verdicts = collections.Counter(str(r["exit"]) for r in runs)
        agreed = sum(1 for r in runs if r["history"] == r["serving"])
        rows.append(
            f"| {fault} | {len(runs)} | {failed} / {sent} | {worst['failed']} / {worst['sent']} "
            f"| {statistics.median(recovery):.1f} ({max(recovery):.1f}) | "
            + ", ".join(f"{code}: {n}" for code, n in sorted(verdicts.items()))
            + f" | {agreed} of {len(runs)} |"
        )
    return "\n".join(rows)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--keep", type=Path, help="keep the JSON lines here")
    parser.add_argument("--only", default="test", help="a pytest -k expression: which faults")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as directory:
        record = args.keep or Path(directory) / "faults.jsonl"
        record.unlink(missing_ok=True)
        code = run(args.rounds, record, args.only)
        lines = [json.loads(line) for line in record.read_text().splitlines() if line.strip()]
    print(f"\npytest exit {code}; {len(lines)} scenario runs recorded\n")
    print(table(lines))
    for line in lines:
        print(f"- {line['fault']}: exit {line['exit']}: {line['said'][:160]}")
    return code


if __name__ == "__main__":
    sys.exit(main())
