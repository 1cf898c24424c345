"""A swarm environment's edge broken under load, and the swarm failure drill's restore.

Usage (from the repository root; an engine, swarm, registry and images as the swarm tests
need them, DOCKER_HOST naming the engine):

    uv run --locked --all-packages python benchmarks/swarm_edge_and_restore.py
        [--rounds 3] [--drills 10] [--rate 50]

Builds the test releases A and B (and their images) as the e2e tests do and deploys A to a
swarm staging named under a unique prefix. Then, while ConstantRateLoad sends ``--rate``
requests/s through staging's URL, each round:

- removes the edge (``docker rm -f <stack>-edge``) and runs the next command on the
  environment at once: ``gates status``, then (edge removed again) a no-op deploy of the
  live release;
- kills the edge (``docker kill``) when a deploy of the other release reports Swarm
  ``updating``; the deploy must repair it and keep the healthy new release.

For each: the command's exit code, the requests that failed, the seconds from the break to
recovery (the first request of the run of successes that lasts to the end; 0 if none
failed), and whether a healthy release was rolled back. Then ``--drills`` failure drills
(``gates drill --environment staging``, the scrape detector, at its own 80 requests/s, its
limits as configured: 30 s and 10 s): detect and restore times, median and worst, failed
requests. Prints Markdown tables for docs/benchmarks.md and removes everything it started.
"""

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))  # the tests' releases and swarm scenarios

from deploy_fixture import Checkout, SharedReleases  # noqa: E402
from gates.perf.load import ConstantRateLoad, LoadResult  # noqa: E402
from support.swarm import SwarmScenario, docker, engine_problem  # noqa: E402

COMMAND_TIMEOUT = 600.0  # s: a bound on a hung command, not a limit on its time
ROLLED_BACK = ("rolling back", "rolled back")
STATUS = "edge removed, then gates status"
NOOP = "edge removed, then a no-op deploy of the live release"


@dataclass(frozen=True)
class Break:
    what: str
    exit_code: int
    failed: int
    sent: int
    recovered_s: float
    rolled_back: bool


def recovery(result: LoadResult, broken_at: float) -> float:
    """Seconds from ``broken_at`` (since the load began) to the first request of the run of
    successes that lasts to the end; 0 when none failed after the break."""
    after = [s for s in result.samples if s.scheduled >= broken_at]
    failed = [s for s in after if not 200 <= s.status < 400]
    if not failed:
        return 0.0
    last = max(s.scheduled for s in failed)
    ok = [s.scheduled for s in after if s.scheduled > last]
    return (min(ok) if ok else last) - broken_at


def removed_edge(swarm: SwarmScenario, repo: Checkout, rate: float, what: str, *args: str) -> Break:
    """Remove the edge under load, then run the gates command ``args`` at once."""
    edge = f"{swarm.prefix}-staging-edge"
    load = ConstantRateLoad(swarm.url("staging"), rate=rate, timeout=10).start()
    began = time.monotonic()
    time.sleep(1.0)  # traffic before the break
    broken_at = time.monotonic() - began
    docker("container", "rm", "--force", edge)
    done = repo.gates(*args, check=False, timeout=COMMAND_TIMEOUT)
    time.sleep(2.0)  # traffic after the command
    result = load.stop()
    said = done.stdout + done.stderr
    return Break(
        what,
        done.returncode,
        len(result.failures),
        len(result.samples),
        recovery(result, broken_at),
        any(word in said for word in ROLLED_BACK),
    )


def killed_mid_deploy(swarm: SwarmScenario, repo: Checkout, rate: float, release: str) -> Break:
    """Kill the edge when the deploy of ``release`` reports Swarm updating."""
    edge = f"{swarm.prefix}-staging-edge"
    load = ConstantRateLoad(swarm.url("staging"), rate=rate, timeout=10).start()
    began = time.monotonic()
    time.sleep(1.0)
    broken_at = None
    process = repo.popen("deploy", "--environment", "staging", "--release", release)
    assert process.stdout is not None
    output = []
    for line in process.stdout:
        output.append(line)
        if broken_at is None and "swarm: updating" in line:
            broken_at = time.monotonic() - began
            docker("container", "kill", edge)
    process.wait(timeout=COMMAND_TIMEOUT)
    process.stdout.close()
    time.sleep(2.0)
    result = load.stop()
    said = "".join(output)
    if broken_at is None:
        sys.exit(f"the deploy of {release} never reported Swarm updating:\n{said}")
    spec = docker("service", "inspect", "--format", "{{index .Spec.Labels \"gates.release\"}}",
                  f"{swarm.prefix}-staging").strip()  # fmt: skip
    return Break(
        "edge killed mid-deploy",
        process.returncode,
        len(result.failures),
        len(result.samples),
        recovery(result, broken_at),
        any(word in said for word in ROLLED_BACK) or spec != release,
    )


def drill(repo: Checkout) -> dict[str, Any]:
    done = repo.gates("drill", "--environment", "staging", check=False, timeout=COMMAND_TIMEOUT)
    if done.returncode not in (0, 1):
        sys.exit(f"gates drill exited {done.returncode}:\n{done.stdout}{done.stderr}")
    details: dict[str, Any] = repo.report("drill-staging")["details"]
    details["exit_code"] = done.returncode
    details["said_none"] = "None" in done.stdout + done.stderr
    return details


def spread(values: list[float]) -> str:
    return f"{statistics.median(values):.2f} | {max(values):.2f}" if values else "- | -"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--drills", type=int, default=10)
    parser.add_argument("--rate", type=float, default=50.0)
    args = parser.parse_args()
    problem = engine_problem()
    if problem:
        sys.exit(f"cannot benchmark the swarm target here: {problem}")
    breaks: list[Break] = []
    drills: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="bench-edge-") as directory:
        shared = SharedReleases(Path(directory))
        swarm = SwarmScenario(Path(directory), shared)
        repo = swarm.checkout("A", "B")
        a, b = repo.releases["A"], repo.releases["B"]
        try:
            repo.gates("deploy", "--environment", "staging", "--release", a)
            live = a
            for _ in range(args.rounds):
                status = ("status", "--environment", "staging")
                breaks.append(removed_edge(swarm, repo, args.rate, STATUS, *status))
                noop = ("deploy", "--environment", "staging", "--release", live)
                breaks.append(removed_edge(swarm, repo, args.rate, NOOP, *noop))
                live = b if live == a else a
                breaks.append(killed_mid_deploy(swarm, repo, args.rate, live))
            for _ in range(args.drills):
                drills.append(drill(repo))
        except subprocess.TimeoutExpired as exc:
            sys.exit(f"a command hung: {exc}")
        finally:
            swarm.remove_everything()
    print(
        f"| break ({args.rate:g} requests/s) | exit | failed / sent | s to recover | "
        "healthy release rolled back |\n|---|---|---|---|---|"
    )
    for row in breaks:
        print(
            f"| {row.what} | {row.exit_code} | {row.failed} / {row.sent} | "
            f"{row.recovered_s:.2f} | {'yes' if row.rolled_back else 'no'} |"
        )
    print("\n| break | median s to recover | worst s | failed / sent (all rounds) |")
    print("|---|---|---|---|")
    for what in dict.fromkeys(row.what for row in breaks):
        mine = [row for row in breaks if row.what == what]
        print(
            f"| {what} | {spread([row.recovered_s for row in mine])} | "
            f"{sum(row.failed for row in mine)} / {sum(row.sent for row in mine)} |"
        )
    if not drills:
        return
    detect = [float(d["time_to_detect_s"]) for d in drills if d["time_to_detect_s"] is not None]
    restore = [float(d["time_to_restore_s"]) for d in drills if d["time_to_restore_s"] is not None]
    failed = sum(int(d["failed_requests"]) for d in drills)
    sent = sum(int(d["requests_sent"]) for d in drills)
    passed = sum(d["exit_code"] == 0 for d in drills)
    print(
        "\n| swarm drill | runs | passed | detect median s | worst | restore median s | worst | "
        "failed / sent | printed None |\n|---|---|---|---|---|---|---|---|---|"
    )
    print(
        f"| scrape detector | {len(drills)} | {passed} | {spread(detect)} | {spread(restore)} | "
        f"{failed} / {sent} | {'yes' if any(d['said_none'] for d in drills) else 'no'} |"
    )
    for number, d in enumerate(drills, 1):
        print(
            f"drill {number}: exit {d['exit_code']}, detect {d['time_to_detect_s']} s, restore "
            f"{d['time_to_restore_s']} s, {d['failed_requests']} of {d['requests_sent']} failed",
            file=sys.stderr,
        )


if __name__ == "__main__":
    main()
