"""Deploy, pipeline rollback and broken-release times, and failed requests, under constant
load: the swarm target (through its edge) or, for comparison, the local target.

Usage (from the repository root; for swarm, an engine, swarm, registry and images as the
swarm tests need them, DOCKER_HOST naming the engine):

    uv run --locked --all-packages python benchmarks/swarm_cutover.py [--target swarm|local]
        [--rounds 3] [--rate 50] [--keepalive-rate 25]

Builds the test releases A (HEAD), B (a later commit), CRASH and NOTREADY (and, for swarm,
their images) as the e2e tests do, deploys A to staging (swarm: named under a unique
prefix), then each round, while ConstantRateLoad sends ``--rate`` requests/s to staging's
URL on new connections, and two keep-alive clients without retries (``requests.Session`` and
an ``http.client`` loop, tests/support/keepalive_load.py, ``--keepalive-rate`` each over 8
kept-alive connections) send theirs on connections they reuse: deploys B, rolls back to A
(`gates rollback`), deploys CRASH and NOTREADY (swarm: Swarm rolls each back by itself;
local: refused at pre-flight; the deploy exits 1 either way). Times are the gates commands'
wall times. Prints Markdown tables for docs/benchmarks.md and removes everything it started.
"""

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))  # the tests' releases and swarm scenarios

from deploy_fixture import Checkout, SharedReleases, scenario  # noqa: E402
from gates.perf.load import ConstantRateLoad  # noqa: E402
from support.keepalive_load import KeepAliveLoad  # noqa: E402
from support.swarm import SwarmScenario, engine_problem  # noqa: E402

# action, seconds, exit code, failed, sent, then failed and sent of the keep-alive clients
Row = tuple[str, float, int, int, int, int, int]


def timed(checkout: Checkout, url: str, rates: tuple[float, float], action: str, *args: str) -> Row:
    """Run a gates command under load; ``rates``: (per-request, each keep-alive client)."""
    rate, keepalive_rate = rates
    load = ConstantRateLoad(url, rate=rate, timeout=10).start()
    keepalive = [
        KeepAliveLoad(url, client, sessions=8, rate=keepalive_rate, timeout=10).start()
        for client in ("requests", "http.client")
    ]
    time.sleep(1.0)
    started = time.monotonic()
    done = checkout.gates(*args, check=False)
    seconds = time.monotonic() - started
    time.sleep(1.0)
    result = load.stop()
    kept = [k.stop() for k in keepalive]
    if done.returncode not in (0, 1):
        sys.exit(f"gates {' '.join(args)} exited {done.returncode}:\n{done.stdout}{done.stderr}")
    for answers in kept:
        if answers.failures:
            print(answers.summary(), file=sys.stderr)
    return (
        action,
        seconds,
        done.returncode,
        len(result.failures),
        len(result.samples),
        sum(len(k.failures) for k in kept),
        sum(len(k.answers) for k in kept),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--rate", type=float, default=50.0)
    parser.add_argument("--target", choices=("swarm", "local"), default="swarm")
    parser.add_argument("--keepalive-rate", type=float, default=25.0)
    args = parser.parse_args()
    rates = (args.rate, args.keepalive_rate)
    problem = engine_problem() if args.target == "swarm" else None
    if problem:
        sys.exit(f"cannot benchmark the swarm target here: {problem}")
    names = ("A", "B", "CRASH", "NOTREADY")
    with tempfile.TemporaryDirectory(prefix="bench-cutover-") as directory:
        shared = SharedReleases(Path(directory))
        swarm = SwarmScenario(Path(directory), shared)
        if args.target == "swarm":
            repo, url = swarm.checkout(*names), swarm.url("staging")
        else:
            repo = scenario(Path(directory) / "local", shared, *names)
            url = f"http://127.0.0.1:{repo.port('staging')}"
        try:
            ids = repo.releases

            def deploy(name: str) -> tuple[str, ...]:
                return ("deploy", "--environment", "staging", "--release", ids[name])

            started = time.monotonic()
            repo.gates(*deploy("A"))
            first = time.monotonic() - started
            rows: list[Row] = []
            for _ in range(args.rounds):
                rows.append(timed(repo, url, rates, "deploy B", *deploy("B")))
                rows.append(
                    timed(repo, url, rates, "pipeline rollback to A", "rollback",
                          "--environment", "staging", "--reason", "benchmark")  # fmt: skip
                )
                rows.append(
                    timed(repo, url, rates, "deploy CRASH: refused, rolled back", *deploy("CRASH"))
                )
                rows.append(
                    timed(
                        repo,
                        url,
                        rates,
                        "deploy NOTREADY: refused, rolled back",
                        *deploy("NOTREADY"),
                    )
                )
        finally:
            if args.target == "swarm":
                swarm.remove_everything()
            else:
                repo.gates("down", "--environment", "staging", check=False)
                repo.kill_leftovers()
    print(f"{args.target}: first deploy to an empty environment: {first:.2f} s\n")
    print("| action | s | exit | failed / sent | keep-alive failed / sent |\n|---|---|---|---|---|")
    for action, seconds, code, failed, sent, kept_failed, kept_sent in rows:
        print(
            f"| {action} | {seconds:.2f} | {code} | {failed} / {sent} | "
            f"{kept_failed} / {kept_sent} |"
        )
    print(
        "\n| action | median s | max s | failed / sent (all rounds) | keep-alive failed / sent |"
        "\n|---|---|---|---|---|"
    )
    for action in dict.fromkeys(r[0] for r in rows):
        mine = [r for r in rows if r[0] == action]
        times = [r[1] for r in mine]
        print(
            f"| {action} | {statistics.median(times):.2f} | {max(times):.2f} | "
            f"{sum(r[3] for r in mine)} / {sum(r[4] for r in mine)} | "
            f"{sum(r[5] for r in mine)} / {sum(r[6] for r in mine)} |"
        )


if __name__ == "__main__":
    main()
