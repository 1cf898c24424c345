"""Running the external tools a gate judges, and telling "found problems" from "crashed"."""

import subprocess
import sys
from dataclasses import dataclass

from gates.outcome import MeasurementError


@dataclass
class ToolRun:
    name: str
    argv: list
    returncode: int
    output: str

    def tail(self, lines=20):
        return "\n".join(self.output.rstrip().splitlines()[-lines:])


def run_module(name, args, cwd, echo=True, timeout=None):
    """Run ``python -m name args`` from the gate's own environment and capture its output."""
    argv = [sys.executable, "-m", name, *args]
    try:
        done = subprocess.run(
            argv,
            cwd=cwd,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise MeasurementError(f"{name} did not finish within {timeout} s") from None
    except OSError as exc:
        raise MeasurementError(f"{name} could not start: {exc.strerror}") from None
    if done.returncode != 0 and "No module named" in done.stdout and name in done.stdout:
        raise MeasurementError(
            f"{name} is not installed in {sys.prefix}; run this stage through nox"
        )
    if echo and done.stdout:
        print(done.stdout, end="" if done.stdout.endswith("\n") else "\n", flush=True)
    return ToolRun(name, argv, done.returncode, done.stdout)
