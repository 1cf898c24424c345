"""Deploy and rollback times, and failed requests during the cutover, under constant load
from connection-per-request and keep-alive clients.

Usage (from the repository root; needs two commits):

    uv run --locked --all-packages python benchmarks/deploy_cutover.py [--rounds 5] [--rate 100]
        [--keepalive-rate 50] [--pause 3] [--releases HEAD HEAD~1]

Builds the two refs of ``--releases`` (A, B; default HEAD and HEAD~1) into a temporary state
directory, starts staging with A, then each round deploys B and rolls back to A while these
clients send GETs to /api/data on staging's port:

- ConstantRateLoad: ``--rate`` requests/s, a new connection per request (its first client);
- keep-alive (tests/support/keepalive_load.py), no retries: ``requests.Session`` and a plain
  ``http.client`` loop, ``--keepalive-rate`` requests/s each over 8 kept-alive connections;
- keep-alive with pauses: 15 ``http.client`` and 15 ``requests.Session`` sessions (no
  retries), each pausing ``--pause`` seconds between requests (default 3: longer than
  gunicorn's own 2 s stop linger, shorter than the service's 5 s keepalive; 5 and more meets
  the keep-alive timeout, deploy or not);
- with ``hey`` on PATH (``apt-get install hey``): ``hey`` with its defaults (Go's HTTP
  client, keep-alive) at ``--keepalive-rate`` over 8 workers.

Each client runs from ``--pause`` + 0.5 s before the command to as long after it, so every
pausing session holds a kept-alive connection when the old workers drain. Deploy time is the
`gates deploy` command's wall time (install, pre-flight, handover, verification); rollback time is
`gates rollback`'s (request to the old release verified serving). Prints Markdown tables for
docs/benchmarks.md and, per client, the kinds of the failures.
"""

import argparse
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))  # the tests' gates CLI runner and keep-alive clients

from gates.config import load_config  # noqa: E402
from gates.targets import probe  # noqa: E402
from gates.perf.load import ConstantRateLoad  # noqa: E402
from support.gates_cli import run_gates  # noqa: E402
from support.keepalive_load import KeepAliveLoad  # noqa: E402

PAUSING_SESSIONS = 15
STEADY_SESSIONS = 8
HEY = shutil.which("hey")


def client_names(pause: float) -> list[str]:
    names = [
        "new connection per request",
        "requests.Session, no retries",
        "http.client loop",
        f"http.client, {pause:g} s pauses",
        f"requests.Session, {pause:g} s pauses",
    ]
    return names + ["hey (keep-alive)"] if HEY else names


class Count:
    def __init__(self) -> None:
        self.failed, self.sent, self.kinds = 0, 0, Counter[str]()

    def add(self, failed: int, sent: int, kinds: Counter[str]) -> None:
        self.failed, self.sent = self.failed + failed, self.sent + sent
        self.kinds.update(kinds)

    def __str__(self) -> str:
        return f"{self.failed} / {self.sent}"


class Hey:
    """``hey`` with its defaults (keep-alive) until stopped: SIGINT makes it print its report."""

    def __init__(self, hey: str, port: int, rate: float, workers: int = 8) -> None:
        url = f"http://127.0.0.1:{port}/api/data"
        argv = [hey, "-z", "3600s", "-c", str(workers), "-q", f"{rate / workers:g}", url]
        self.process = subprocess.Popen(
            argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )

    def stop(self) -> tuple[int, int, Counter[str]]:
        """(failed, sent, failure kinds)."""
        self.process.send_signal(signal.SIGINT)
        report = self.process.communicate(timeout=60)[0]
        statuses = {
            int(code): int(n)
            for code, n in re.findall(r"(?m)^\s+\[(\d+)\]\s+(\d+) responses", report)
        }
        kinds = Counter[str]()  # errors without an HTTP answer, by their last words
        for n, text in re.findall(
            r"(?m)^\s+\[(\d+)\]\s+(.+)$", report.partition("Error distribution:")[2]
        ):
            kinds[text.rsplit(": ", 1)[-1]] += int(n)
        sent = sum(statuses.values()) + sum(kinds.values())
        for code, n in statuses.items():
            if not 200 <= code < 400:
                kinds[f"HTTP {code}"] += n
        return sum(kinds.values()), sent, kinds


def gates(state: Path, *args: str) -> float:
    started = time.monotonic()
    done = run_gates(None, *args, state_dir=state, timeout=600)
    if done.returncode != 0:
        sys.exit(f"gates {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")
    return time.monotonic() - started


def under_load(
    port: int, rate: float, keepalive_rate: float, pause: float, action: Callable[[], float]
) -> tuple[float, list[Count]]:
    per_request = ConstantRateLoad(port, rate=rate).start()
    keepalive = [
        KeepAliveLoad(port, "requests", STEADY_SESSIONS, keepalive_rate),
        KeepAliveLoad(port, "http.client", STEADY_SESSIONS, keepalive_rate),
        KeepAliveLoad(port, "http.client", PAUSING_SESSIONS, PAUSING_SESSIONS / pause),
        KeepAliveLoad(port, "requests", PAUSING_SESSIONS, PAUSING_SESSIONS / pause),
    ]
    for load in keepalive:
        load.start()
    hey = Hey(HEY, port, keepalive_rate) if HEY else None
    lead = pause + 0.5  # every pausing session holds a kept-alive connection
    time.sleep(lead)
    seconds = action()
    time.sleep(lead)
    counts = [Count() for _ in client_names(pause)]
    result = per_request.stop()
    counts[0].add(
        len(result.failures),
        len(result.samples),
        Counter(s.error.split(":")[0] or f"HTTP {s.status}" for s in result.failures),
    )
    for count, load in zip(counts[1:], keepalive):
        answers = load.stop()
        count.add(len(answers.failures), len(answers.answers), answers.failure_kinds())
    if hey:
        counts[-1].add(*hey.stop())
    return seconds, counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--rate", type=float, default=100.0)
    parser.add_argument("--keepalive-rate", type=float, default=50.0)
    parser.add_argument("--releases", nargs=2, default=["HEAD", "HEAD~1"], metavar="REF")
    parser.add_argument("--pause", type=float, default=3.0, help="seconds (pausing clients)")
    args = parser.parse_args()
    port = load_config().environment("staging").port
    if probe.get("/health", port=port).status:
        sys.exit(f"something already answers on 127.0.0.1:{port}; stop it (nox -s down)")

    with tempfile.TemporaryDirectory(prefix="bench-deploy-") as directory:
        state = Path(directory)
        ids: dict[str, str] = {}
        for name, ref in zip("AB", args.releases):
            gates(state, "build", "--ref", ref)
            ids[name] = json.loads((state / "reports" / "build.json").read_text())["details"][
                "release_id"
            ]
        first = gates(state, "deploy", "--environment", "staging", "--release", ids["A"])
        rows: list[tuple[int, float, float, list[Count]]] = []
        try:
            for round_ in range(1, args.rounds + 1):
                deploy, during_deploy = under_load(
                    port,
                    args.rate,
                    args.keepalive_rate,
                    args.pause,
                    lambda: gates(
                        state, "deploy", "--environment", "staging", "--release", ids["B"]
                    ),
                )
                rollback, during_rollback = under_load(
                    port,
                    args.rate,
                    args.keepalive_rate,
                    args.pause,
                    lambda: gates(
                        state, "rollback", "--environment", "staging", "--reason", "benchmark"
                    ),
                )
                for count, other in zip(during_deploy, during_rollback):
                    count.add(other.failed, other.sent, other.kinds)
                rows.append((round_, deploy, rollback, during_deploy))
                print(
                    f"round {round_}: deploy {deploy:.2f} s, rollback {rollback:.2f} s, "
                    + ", ".join(str(c) for c in during_deploy),
                    file=sys.stderr,
                )
        finally:
            gates(state, "down", "--environment", "staging")

    print(
        f"releases A={args.releases[0]} B={args.releases[1]}; load average "
        f"{' '.join(f'{x:.2f}' for x in os.getloadavg())} at the end\n"
    )
    print(f"first deploy (empty environment, includes install): {first:.2f} s\n")
    names = client_names(args.pause)
    print("| round | deploy s | rollback s | " + " | ".join(names) + " |")
    print("|---|---|---|" + "---|" * len(names))
    for round_, d, r, counts in rows:
        print(f"| {round_} | {d:.2f} | {r:.2f} | " + " | ".join(map(str, counts)) + " |")
    deploys = [d for _, d, _, _ in rows]
    rollbacks = [r for _, _, r, _ in rows]
    print(
        f"| median | {statistics.median(deploys):.2f} | {statistics.median(rollbacks):.2f} |\n"
        f"| max | {max(deploys):.2f} | {max(rollbacks):.2f} |\n"
    )
    print(f"failed / sent during all {2 * len(rows)} cutovers (deploys and rollbacks):")
    for index, client in enumerate(names):
        total = Count()
        for _, _, _, counts in rows:
            total.add(counts[index].failed, counts[index].sent, counts[index].kinds)
        kinds = ", ".join(f"{k} x{n}" for k, n in total.kinds.most_common())
        print(f"- {client}: {total}" + (f" ({kinds})" if kinds else ""))
    print(
        f"\nrates: {args.rate:g} req/s per-request, {args.keepalive_rate:g} req/s per steady "
        f"keep-alive client ({STEADY_SESSIONS} sessions), {PAUSING_SESSIONS / args.pause:g} req/s "
        f"per pausing client ({PAUSING_SESSIONS} sessions, {args.pause:g} s pauses)"
    )


if __name__ == "__main__":
    main()
