"""Soak: hundreds of consecutive deploys and rollbacks under constant load; what grows?

Usage (from the repository root; the committed HEAD is what runs):

    uv run --locked --all-packages python benchmarks/soak_deploys.py [--operations 200] [--rate 50]

Builds release A (HEAD) and B (a later commit) once in clones of this repository and starts
staging with A and config X, the way the end-to-end scenarios do (tests/deploy_fixture.py).
Then runs --operations consecutive `gates deploy` / `gates rollback` commands on the local
target, cycling through CYCLE: two releases (A, B) and two configs (X and Y: two values of
GREETING in staging's `env`), release-only, config-only and release-and-config changes, each
way. Y is the config that gets rolled back: a rollback marks the deployment it left as failed,
so it is never a rollback target again, and the rollbacks return to the newest X deployment.
ConstantRateLoad sends --rate requests/s to /api/data on staging's port for the whole run.

After every operation: the command's exit, the ledger against what runs (one master, nothing
in flight, the newest succeeded deployment is the master's, the one `current` names and the
one answering on the port, X-Deployment-ID), and whether a rollback went where expected.
Every --sample-every operations: the RSS of the environment's gunicorn master(s) and workers,
the ledger's size, the live master's open file descriptors, the entries of deployments/ and
run/ under the environment, /tmp/gates-preflight-* directories and the environment's gunicorn
processes (processes whose working directory is the environment's). Progress goes to stderr
every 10 operations; a Markdown summary for docs/benchmarks.md goes to stdout.
"""

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
from dataclasses import dataclass
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))  # the e2e scenarios' helpers

from deploy_fixture import Checkout, SharedReleases, scenario  # noqa: E402
from gates.ledger import Ledger  # noqa: E402
from gates.perf.load import ConstantRateLoad  # noqa: E402
from kill9_config_deploys import agreement  # noqa: E402  (this directory: the same check)

CONFIGS = {"X": "soak-x", "Y": "soak-y"}  # GREETING in staging's env
# (operation, release, config); a rollback's pair is where it must land. Starts from (A, X).
CYCLE = (
    ("deploy", "B", "X"),  # release only
    ("deploy", "B", "Y"),  # config only
    ("rollback", "B", "X"),  # config only
    ("deploy", "A", "Y"),  # release and config
    ("rollback", "B", "X"),  # release and config
    ("deploy", "A", "X"),  # release only
    ("deploy", "A", "Y"),  # config only
    ("rollback", "A", "X"),  # config only
)


@dataclass
class Sample:
    operation: int
    rss_mib: float  # gunicorn masters + workers of the environment
    ledger_kib: float  # ledger.sqlite with its -wal and -shm
    fds: int  # open file descriptors of the live master
    deployments: int  # entries of <environment>/deployments
    run: int  # entries of <environment>/run
    preflight: int  # /tmp/gates-preflight-* (any environment on this machine)
    processes: int  # processes whose working directory is the environment's
    logs_kib: float  # <environment>/logs


def environment_processes(root: Path) -> list[psutil.Process]:
    """Processes running in the environment's directory (gunicorn masters and workers)."""
    found = []
    for process in psutil.process_iter(["cwd"]):
        cwd = process.info["cwd"]
        if cwd and (cwd == str(root) or cwd.startswith(str(root) + "/")):
            found.append(process)
    return found


def size(paths: list[Path]) -> int:
    return sum(p.stat().st_size for p in paths if p.is_file())


def sample(repo: Checkout, operation: int) -> Sample:
    root = repo.state / "environments" / "staging"
    processes = environment_processes(root)
    rss = 0
    for process in processes:
        try:
            rss += process.memory_info().rss
        except psutil.Error:
            pass
    live = [m for m in repo.masters("staging") if m["deployment"] == repo.current("staging")]
    try:
        fds = psutil.Process(live[0]["pid"]).num_fds() if live else -1
    except psutil.Error:
        fds = -1
    ledger = repo.state / "ledger.sqlite"
    return Sample(
        operation=operation,
        rss_mib=rss / 2**20,
        ledger_kib=size([ledger, Path(f"{ledger}-wal"), Path(f"{ledger}-shm")]) / 1024,
        fds=fds,
        deployments=len(list((root / "deployments").iterdir())),
        run=len(list((root / "run").iterdir())),
        preflight=len(list(Path(tempfile.gettempdir()).glob("gates-preflight-*"))),
        processes=len(processes),
        logs_kib=size(list((root / "logs").rglob("*"))) / 1024,
    )


@dataclass
class Operation:
    number: int
    kind: str
    target: str
    exit: int
    seconds: float
    agree: bool
    seen: str
    landed: bool  # a rollback went to the expected deployment (deploys: True)
    noop: bool
    failed: int  # failed requests completed during the operation and its check
    sent: int


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--operations", type=int, default=200)
    parser.add_argument("--rate", type=float, default=50.0)
    parser.add_argument("--sample-every", type=int, default=10)
    args = parser.parse_args()
    operations: list[Operation] = []
    samples: list[Sample] = []
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="bench-soak-") as directory:
        base = Path(directory)
        repo = scenario(base / "repo", SharedReleases(base), "A", "B")
        ledger = Ledger(repo.state / "ledger.sqlite")
        keys: dict[tuple[str, str], str] = {}
        load = None
        try:
            repo.set_service_env("staging", GREETING=CONFIGS["X"])
            repo.gates("deploy", "--environment", "staging", "--release", repo.releases["A"])
            ok, key = agreement(repo, ledger)
            if not ok:
                sys.exit(f"the first deploy does not serve what the ledger says: {key}")
            keys[("A", "X")] = key
            samples.append(sample(repo, 0))
            load = ConstantRateLoad(repo.port("staging"), rate=args.rate, timeout=10).start()
            time.sleep(1.0)
            for number in range(1, args.operations + 1):
                kind, release, config = CYCLE[(number - 1) % len(CYCLE)]
                with load._lock:
                    failed0, sent0 = len(load.result.failures), len(load.result.samples)
                op_started = time.monotonic()
                if kind == "deploy":
                    repo.set_service_env("staging", GREETING=CONFIGS[config])
                    argv = (
                        "deploy",
                        "--environment",
                        "staging",
                        "--release",
                        repo.releases[release],
                    )
                else:
                    argv = ("rollback", "--environment", "staging", "--reason", f"soak {number}")
                try:
                    done = repo.gates(*argv, check=False)
                    code, out = done.returncode, done.stdout
                except subprocess.TimeoutExpired:
                    code, out = -1, "timed out"
                seconds = time.monotonic() - op_started
                agree, seen = agreement(repo, ledger)
                expected = keys.get((release, config))
                landed = True
                if agree and kind == "deploy":
                    keys.setdefault((release, config), seen)
                    landed = keys[(release, config)] == seen
                elif kind == "rollback":
                    landed = agree and seen == expected
                with load._lock:
                    failed1, sent1 = len(load.result.failures), len(load.result.samples)
                operations.append(
                    Operation(
                        number,
                        kind,
                        f"{release}/{config}",
                        code,
                        seconds,
                        agree,
                        seen,
                        landed,
                        "nothing to do" in out,
                        failed1 - failed0,
                        sent1 - sent0,
                    )
                )
                if code != 0 or not agree or not landed:
                    print(
                        f"op {number} {kind} {release}/{config}: exit {code}, agree {agree}, "
                        f"landed {landed}: {seen}\n{out[-2000:]}",
                        file=sys.stderr,
                    )
                if number % args.sample_every == 0 or number == args.operations:
                    samples.append(sample(repo, number))
                if number % 10 == 0 or number == args.operations:
                    s = samples[-1]
                    ok_ops = sum(o.exit == 0 for o in operations)
                    print(
                        f"[{time.monotonic() - started:6.0f} s] {number}/{args.operations} ops: "
                        f"{ok_ops} succeeded, mismatches "
                        f"{sum(not o.agree for o in operations)}, failed requests "
                        f"{failed1} / {sent1}; rss {s.rss_mib:.1f} MiB, ledger "
                        f"{s.ledger_kib:.0f} KiB, fds {s.fds}, deployments {s.deployments}, "
                        f"run {s.run}, preflight dirs {s.preflight}, processes {s.processes}",
                        file=sys.stderr,
                        flush=True,
                    )
        except KeyboardInterrupt:
            print("interrupted: reporting the operations done so far", file=sys.stderr)
        except Exception:  # report what was measured before the failure
            traceback.print_exc()
        finally:
            result = load.stop() if load is not None else None
            repo.gates("down", "--environment", "staging", check=False)
            repo.kill_leftovers()
            ledger.close()
            shutil.rmtree(base, ignore_errors=True)

    report(args, operations, samples, result, time.monotonic() - started)


def report(args, operations, samples, result, elapsed) -> None:  # type: ignore[no-untyped-def]
    n = len(operations)
    succeeded = sum(o.exit == 0 for o in operations)
    mismatches = [o for o in operations if not o.agree]
    misplaced = [o for o in operations if o.agree and not o.landed]
    failed = len(result.failures) if result else 0
    sent = len(result.samples) if result else 0
    deploys = [o.seconds for o in operations if o.kind == "deploy"]
    rollbacks = [o.seconds for o in operations if o.kind == "rollback"]
    print(
        f"operations: {n} of {args.operations} ({len(deploys)} deploys, {len(rollbacks)} "
        f"rollbacks) in {elapsed / 60:.1f} min, load {args.rate:g} req/s\n"
    )
    print("| measure | result | goal |")
    print("|---|---|---|")
    print(
        f"| deploy/rollback success | {succeeded} / {n} "
        f"({100 * succeeded / n if n else 0:.1f} %) | 100 % |"
    )
    print(f"| failed requests | {failed} / {sent} | 0 |")
    print(f"| ledger-vs-running mismatches after an operation | {len(mismatches)} | 0 |")
    print(f"| rollbacks landing elsewhere than expected | {len(misplaced)} | 0 |")
    print(f'| no-op deploys ("already live") | {sum(o.noop for o in operations)} | 0 |')
    if deploys:
        print(
            f"| deploy s: median / max (first 10 → last 10 median) | "
            f"{statistics.median(deploys):.1f} / {max(deploys):.1f} "
            f"({statistics.median(deploys[:10]):.1f} → {statistics.median(deploys[-10:]):.1f})"
            " | |"
        )
    if rollbacks:
        print(
            f"| rollback s: median / max (first 10 → last 10 median) | "
            f"{statistics.median(rollbacks):.1f} / {max(rollbacks):.1f} "
            f"({statistics.median(rollbacks[:10]):.1f} → "
            f"{statistics.median(rollbacks[-10:]):.1f}) | |"
        )
    if result is not None and result.failures:
        errors: dict[str, int] = {}
        for s in result.failures:
            errors[s.error or f"HTTP {s.status}"] = errors.get(s.error or f"HTTP {s.status}", 0) + 1
        print("\nfailed requests by error: " + "; ".join(f"{e}: {c}" for e, c in errors.items()))
    for o in mismatches + misplaced:
        print(f"\nop {o.number} ({o.kind} {o.target}, exit {o.exit}): {o.seen}")
    print(
        "\n| after op | RSS MiB (gunicorn) | ledger KiB | live master fds | deployments/ "
        "| run/ | /tmp/gates-preflight-* | env processes | logs KiB |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for s in samples:
        print(
            f"| {s.operation} | {s.rss_mib:.1f} | {s.ledger_kib:.0f} | {s.fds} | "
            f"{s.deployments} | {s.run} | {s.preflight} | {s.processes} | {s.logs_kib:.0f} |"
        )
    if len(samples) >= 2:
        first, last = samples[0], samples[-1]
        print(
            f"\ngrowth, op {first.operation} → op {last.operation}: "
            f"RSS {first.rss_mib:.1f} → {last.rss_mib:.1f} MiB; ledger {first.ledger_kib:.0f} "
            f"→ {last.ledger_kib:.0f} KiB; fds {first.fds} → {last.fds}; deployments/ "
            f"{first.deployments} → {last.deployments}; run/ {first.run} → {last.run}; "
            f"preflight dirs {first.preflight} → {last.preflight}; processes "
            f"{first.processes} → {last.processes}; logs {first.logs_kib:.0f} → "
            f"{last.logs_kib:.0f} KiB"
        )
    good = n and succeeded == n and not mismatches and not misplaced and failed == 0
    sys.exit(0 if good else 1)


if __name__ == "__main__":
    main()
