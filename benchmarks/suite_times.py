"""Wall time of nox sessions in fresh clones, cold and warm, as a new user would run them.

Usage (from the repository root; standard library only, any Python >= 3.11):

    python3 benchmarks/suite_times.py --ref HEAD --sessions test,e2e --rounds 3
    python3 benchmarks/suite_times.py --ref HEAD --full          # `nox` warm, once

Each round clones ``--ref`` into a new temporary directory and sets it up with the README's
commands (a project venv from the hash-pinned bootstrap, `.venv/bin/nox`), then per session:
*cold* is the first `nox -s <session>` with no `.nox` directory and empty uv and pip caches
(new directories; every wheel comes from the package index), *warm* is the same command right
after with the caches filled. ``--full`` instead runs the default `nox` twice in one clone and
times the second run (its environments are stopped afterwards with `nox -s down`).
``--path-venv`` puts the venv's bin on PATH (needed by commits before the bootstrap fix,
which looked for uv only there). Prints a Markdown table with the median of each column.
"""

import argparse
import os
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def sh(argv, cwd, env, log):
    """Run ``argv``, its output appended to ``log``; returns (seconds, exit code)."""
    started = time.monotonic()
    with open(log, "ab") as out:
        out.write(f"\n$ {' '.join(argv)}\n".encode())
        out.flush()
        code = subprocess.run(
            argv, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT
        ).returncode
    return time.monotonic() - started, code


class Clone:
    """A fresh clone of ``ref`` set up with the README's commands, with its own caches."""

    def __init__(self, ref, workdir, path_venv, python):
        self.path = workdir / "clone"
        self.log = workdir / "log.txt"
        subprocess.run(["git", "clone", "--quiet", str(ROOT), str(self.path)], check=True)
        subprocess.run(["git", "checkout", "--quiet", ref], cwd=self.path, check=True)
        self.env = {
            **os.environ,
            "UV_CACHE_DIR": str(workdir / "uv-cache"),
            "PIP_CACHE_DIR": str(workdir / "pip-cache"),
        }
        self.env.pop("VIRTUAL_ENV", None)
        venv = self.path / ".venv"
        subprocess.run([python, "-m", "venv", str(venv)], check=True)
        pinned = (self.path / "bootstrap-requirements.txt").read_text()
        bootstrap = ["--require-hashes"] if "--hash" in pinned else []
        subprocess.run(
            [str(venv / "bin" / "pip"), "install", "--quiet", "--disable-pip-version-check",
             *bootstrap, "-r", "bootstrap-requirements.txt"],
            cwd=self.path, check=True, env={**self.env, "PIP_CACHE_DIR": str(workdir / "boot")},
        )  # fmt: skip
        if path_venv:
            self.env["PATH"] = f"{venv / 'bin'}{os.pathsep}{self.env['PATH']}"
        self.nox = str(venv / "bin" / "nox")
        self.failures = 0

    def run(self, *args):
        """Seconds the nox command took; a failed run is reported (its summary lines) and
        its time kept but marked, so a flaky suite still gets measured."""
        seconds, code = sh([self.nox, *args], self.path, self.env, self.log)
        self.last_code = code
        if code != 0:
            lines = self.log.read_text(errors="replace").splitlines()
            failed = [line for line in lines if line.startswith(("FAILED", "ERROR"))]
            print(f"nox {' '.join(args)} exited {code}:", *failed[-10:], sep="\n  ", flush=True)
            self.failures += 1
        return seconds


def time_sessions(args):
    rows = {name: {"cold": [], "warm": []} for name in args.sessions}
    for round_no in range(1, args.rounds + 1):
        for name in args.sessions:
            with tempfile.TemporaryDirectory(prefix="suite-times-") as tmp:
                clone = Clone(args.ref, Path(tmp), args.path_venv, args.python)
                cold = clone.run("-s", name)
                warm = clone.run("-s", name)
                rows[name]["cold"].append(cold)
                rows[name]["warm"].append(warm)
                rows[name]["failed"] = rows[name].get("failed", 0) + clone.failures
                print(f"round {round_no} {name}: cold {cold:.0f} s, warm {warm:.0f} s", flush=True)
                if args.keep_logs:
                    shutil.copy(clone.log, Path(args.keep_logs) / f"{name}-{round_no}.log")
    print(
        f"\n| session ({args.ref}) | cold runs | warm runs | cold median | warm median | failed |"
    )
    print("|---|---|---|---|---|---|")
    for name, times in rows.items():
        cold = " / ".join(f"{t:.0f}" for t in times["cold"])
        warm = " / ".join(f"{t:.0f}" for t in times["warm"])
        medians = [statistics.median(times[kind]) for kind in ("cold", "warm")]
        print(
            f"| `nox -s {name}` | {cold} s | {warm} s | **{medians[0]:.0f} s** "
            f"| **{medians[1]:.0f} s** | {times.get('failed', 0)} |"
        )


def time_full(args):
    with tempfile.TemporaryDirectory(prefix="suite-times-") as tmp:
        clone = Clone(args.ref, Path(tmp), args.path_venv, args.python)
        try:
            cold = clone.run()
            warm = clone.run()
        finally:
            for environment in ("production", "staging"):
                sh([clone.nox, "-s", "down", "--", "--environment", environment],
                   clone.path, clone.env, clone.log)  # fmt: skip
        if args.keep_logs:
            shutil.copy(clone.log, Path(args.keep_logs) / "full.log")
    print(f"`nox` ({args.ref}): cold {cold:.0f} s, warm {warm:.0f} s, failed runs {clone.failures}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ref", default="HEAD")
    parser.add_argument("--sessions", default="test", type=lambda text: text.split(","))
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--full", action="store_true", help="time `nox` (the rehearsal) instead")
    parser.add_argument("--path-venv", action="store_true", help="put the venv's bin on PATH")
    parser.add_argument("--python", default="/usr/bin/python3", help="the Python that makes .venv")
    parser.add_argument("--keep-logs", metavar="DIR", help="copy each clone's nox output here")
    args = parser.parse_args()
    args.ref = subprocess.run(
        ["git", "rev-parse", "--short", args.ref], cwd=ROOT, capture_output=True, text=True,
        check=True,
    ).stdout.strip()  # fmt: skip
    (time_full if args.full else time_sessions)(args)


if __name__ == "__main__":
    main()
