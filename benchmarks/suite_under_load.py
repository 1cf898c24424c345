"""CI's own run (`.ci/run`, `CI=true`) in fresh clones, several times in a row, optionally while
busy loops occupy cores; the wall time of every nox session of each run.

Usage (from the repository root, as root like CI; standard library only):

    python3 benchmarks/suite_under_load.py --runs 3 --busy 0   # CI as it runs: 3 in a row
    python3 benchmarks/suite_under_load.py --runs 3 --busy 2   # the same beside 2 busy loops

Each run clones ``--ref`` into a new temporary directory and runs ``bash .ci/run`` there with
``CI=true``, exactly as CI does: the distribution's packages, the project venv, the engine
(`nox -s engine -- up`), the README's test command (`nox -t tests`) and `engine down`. Every
line it prints goes to the log with the seconds since the run started, and the nox sessions'
start and end lines give each session's wall time. ``--busy N`` starts N processes running
``while True: pass`` before the first run and stops them by pid after the last, whatever
happened. Prints one Markdown row per run: exit code, wall time of the run and of each
session, and the suites' counts and coverage read from the reports the gates wrote.
"""

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BUSY_LOOP = "while True: pass"
SESSIONS = ("engine", "test", "e2e", "coverage")
STARTED = re.compile(r"^nox > Running session (\S+)")
ENDED = re.compile(r"^nox > Session (\S+) (?:was successful|failed|raised|aborted)")


def start_busy_loops(count):
    return [
        subprocess.Popen([sys.executable, "-c", BUSY_LOOP], start_new_session=True)
        for _ in range(count)
    ]


def stop(processes):
    for process in processes:
        if process.poll() is None:
            process.kill()  # our own child, by pid: it cannot have been reused while unreaped
        process.wait(30)


def reported(clone, stage):
    path = clone / ".pipeline" / "reports" / f"{stage}.json"
    if not path.is_file():
        return "no report"
    report = json.loads(path.read_text())
    checks = {c["name"]: c["measured"] for c in report.get("checks", [])}
    return checks.get("tests") or checks.get("coverage") or report.get("error", "")[:60]


def ci_run(ref, directory, log_path):
    """One `.ci/run` in a fresh clone: (exit code, seconds, {session: seconds}, clone path)."""
    clone = directory / "clone"
    subprocess.run(["git", "clone", "--quiet", str(ROOT), str(clone)], check=True)
    subprocess.run(["git", "checkout", "--quiet", ref], cwd=clone, check=True)
    env = {**os.environ, "CI": "true"}
    env.pop("VIRTUAL_ENV", None)
    started, begun, sessions = time.monotonic(), {}, {}
    with open(log_path, "a", encoding="utf-8", buffering=1) as log:  # line by line: tail -f
        process = subprocess.Popen(
            ["bash", ".ci/run"],
            cwd=clone,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            errors="replace",
        )
        for line in process.stdout:
            now = time.monotonic() - started
            log.write(f"[{now:8.1f}] {line}")
            if match := STARTED.match(line):
                begun[match[1]] = now
            elif (match := ENDED.match(line)) and match[1] in begun:
                sessions.setdefault(match[1], now - begun[match[1]])
        code = process.wait()
    return code, time.monotonic() - started, sessions, clone


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--busy", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--ref", default="HEAD")
    parser.add_argument("--keep-logs", metavar="DIR", help="copy each run's timed output here")
    args = parser.parse_args()
    ref = subprocess.run(
        ["git", "rev-parse", "--short", args.ref], cwd=ROOT, capture_output=True, text=True,
        check=True,
    ).stdout.strip()  # fmt: skip
    busy = start_busy_loops(args.busy)
    print(f"{ref}: {args.runs} runs of .ci/run, {len(busy)} busy loops", flush=True)
    header = " | ".join(f"`{name}`" for name in SESSIONS)
    print(f"\n| run | exit | wall time | {header} | test | e2e | coverage |")
    print("|---|---|---|" + "---|" * len(SESSIONS) + "---|---|---|", flush=True)
    failed = 0
    try:
        for run in range(1, args.runs + 1):
            with tempfile.TemporaryDirectory(prefix="ci-run-") as tmp:
                log = Path(tmp) / "ci-run.log"
                code, seconds, sessions, clone = ci_run(ref, Path(tmp), log)
                failed += code != 0
                times = " | ".join(
                    f"{sessions[name]:.0f} s" if name in sessions else "–" for name in SESSIONS
                )
                figures = " | ".join(reported(clone, s) for s in ("test", "e2e", "coverage"))
                print(f"| {run} | {code} | {seconds:.0f} s | {times} | {figures} |", flush=True)
                if args.keep_logs:
                    Path(args.keep_logs).mkdir(parents=True, exist_ok=True)
                    (Path(args.keep_logs) / f"ci-run-{run}.log").write_text(log.read_text())
    finally:
        stop(busy)
    print(f"\nbusy loops stopped; {args.runs - failed} of {args.runs} runs passed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
