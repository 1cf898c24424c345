"""The whole test suite, several times in a row, while busy loops occupy every core.

Usage (from the repository root; standard library only):

    python3 benchmarks/suite_under_load.py --runs 3 --busy 2

Clones HEAD into a new temporary directory and sets it up with the README's commands (Debian's
/usr/bin/python3 by default), starts ``--busy`` processes running ``while True: pass``, runs
the README's test command (`.venv/bin/nox -t tests`) ``--runs`` times in a row, and stops the
busy loops by pid, whatever happened. Prints one Markdown row per run: exit code, wall time,
the suites' test counts and the coverage verdict, read from the reports the gates wrote.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from suite_times import Clone  # noqa: E402

BUSY_LOOP = "while True: pass"


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
    path = clone.path / ".pipeline" / "reports" / f"{stage}.json"
    if not path.is_file():
        return "no report"
    report = json.loads(path.read_text())
    checks = {c["name"]: c["measured"] for c in report.get("checks", [])}
    return checks.get("tests") or checks.get("coverage") or report.get("error", "")[:60]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--busy", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--ref", default="HEAD")
    parser.add_argument("--python", default="/usr/bin/python3", help="the Python that makes .venv")
    parser.add_argument("--keep-logs", metavar="DIR", help="copy the nox output here")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="suite-under-load-") as tmp:
        clone = Clone(args.ref, Path(tmp), path_venv=False, python=args.python)
        busy = start_busy_loops(args.busy)
        print(f"{len(busy)} busy loops (pids {', '.join(str(p.pid) for p in busy)})", flush=True)
        print("\n| run | exit | wall time | test | e2e | coverage |\n|---|---|---|---|---|---|")
        failed = 0
        try:
            for run in range(1, args.runs + 1):
                seconds = clone.run("-t", "tests")
                code = clone.last_code
                failed += code != 0
                figures = " | ".join(reported(clone, s) for s in ("test", "e2e", "coverage"))
                print(f"| {run} | {code} | {seconds:.0f} s | {figures} |", flush=True)
        finally:
            stop(busy)
            if args.keep_logs:
                Path(args.keep_logs).mkdir(parents=True, exist_ok=True)
                (Path(args.keep_logs) / "suite-under-load.log").write_text(clone.log.read_text())
    print(f"\nbusy loops stopped; {args.runs - failed} of {args.runs} runs passed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
