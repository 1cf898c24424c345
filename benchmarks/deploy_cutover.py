"""Deploy and rollback times, and failed requests during the cutover, under constant load.

Usage (from the repository root; needs two commits):

    uv run --locked --all-packages python benchmarks/deploy_cutover.py [--rounds 5] [--rate 100]

Builds HEAD (A) and HEAD~1 (B) into a temporary state directory, starts staging with A,
then each round deploys B and rolls back to A while ConstantRateLoad sends `--rate`
requests/s to staging's port on new connections. Deploy time is the `gates deploy` command's
wall time (install, pre-flight, handover, verification); rollback time is `gates rollback`'s
(request to the old release verified serving). Prints a Markdown table for docs/benchmarks.md.
"""

import argparse
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))  # the tests' gates CLI runner

from gates.config import load_config  # noqa: E402
from gates.targets import probe  # noqa: E402
from gates.load import ConstantRateLoad  # noqa: E402
from support.gates_cli import run_gates  # noqa: E402


def gates(state: Path, *args: str) -> float:
    started = time.monotonic()
    done = run_gates(None, *args, state_dir=state, timeout=600)
    if done.returncode != 0:
        sys.exit(f"gates {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")
    return time.monotonic() - started


def under_load(port: int, rate: float, action: Callable[[], float]) -> tuple[float, int, int]:
    load = ConstantRateLoad(port, rate=rate).start()
    time.sleep(1.0)
    seconds = action()
    time.sleep(1.0)
    result = load.stop()
    return seconds, len(result.failures), len(result.samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--rate", type=float, default=100.0)
    args = parser.parse_args()
    port = load_config().environment("staging").port
    if probe.get("/health", port=port).status:
        sys.exit(f"something already answers on 127.0.0.1:{port}; stop it (nox -s down)")

    with tempfile.TemporaryDirectory(prefix="bench-deploy-") as directory:
        state = Path(directory)
        ids: dict[str, str] = {}
        for name, ref in (("A", "HEAD"), ("B", "HEAD~1")):
            gates(state, "build", "--ref", ref)
            ids[name] = json.loads((state / "reports" / "build.json").read_text())["details"][
                "release_id"
            ]
        first = gates(state, "deploy", "--environment", "staging", "--release", ids["A"])
        rows: list[tuple[int, tuple[float, int, int], tuple[float, int, int]]] = []
        try:
            for round_ in range(1, args.rounds + 1):
                deploy = under_load(
                    port,
                    args.rate,
                    lambda: gates(
                        state, "deploy", "--environment", "staging", "--release", ids["B"]
                    ),
                )
                rollback = under_load(
                    port,
                    args.rate,
                    lambda: gates(
                        state, "rollback", "--environment", "staging", "--reason", "benchmark"
                    ),
                )
                rows.append((round_, deploy, rollback))
                print(
                    f"round {round_}: deploy {deploy[0]:.2f} s, rollback {rollback[0]:.2f} s",
                    file=sys.stderr,
                )
        finally:
            gates(state, "down", "--environment", "staging")

    print(f"first deploy (empty environment, includes install): {first:.2f} s\n")
    print("| round | deploy s | failed / sent | rollback s | failed / sent |")
    print("|---|---|---|---|---|")
    for round_, (d, df, dn), (r, rf, rn) in rows:
        print(f"| {round_} | {d:.2f} | {df} / {dn} | {r:.2f} | {rf} / {rn} |")
    deploys = [d[0] for _, d, _ in rows]
    rollbacks = [r[0] for _, _, r in rows]
    failed = sum(d[1] + r[1] for _, d, r in rows)
    sent = sum(d[2] + r[2] for _, d, r in rows)
    print(
        f"| median | {statistics.median(deploys):.2f} | | {statistics.median(rollbacks):.2f} | |\n"
        f"| max | {max(deploys):.2f} | | {max(rollbacks):.2f} | |\n\n"
        f"failed requests during all cutovers: {failed} of {sent} at {args.rate:g} req/s"
    )


if __name__ == "__main__":
    main()
