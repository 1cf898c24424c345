"""Running the external tools a gate judges, and telling "found problems" from "crashed"."""

import shutil
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from gates.outcome import MeasurementError


@dataclass
class ToolRun:
    name: str
    argv: list[str]
    returncode: int
    output: str  # stdout, with stderr too unless it was kept apart
    stderr: str = ""

    def tail(self, lines: int = 20) -> str:
        return "\n".join(self.output.rstrip().splitlines()[-lines:])


def run_tool(
    name: str,
    argv: list[str],
    cwd: str | Path,
    echo: bool = True,
    timeout: float | None = None,
    separate_stderr: bool = False,
    env: Mapping[str, str] | None = None,
) -> ToolRun:
    """Run ``argv`` and capture its output; MeasurementError if it cannot run at all."""
    try:
        done = subprocess.run(
            argv,
            cwd=cwd,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE if separate_stderr else subprocess.STDOUT,
            text=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise MeasurementError(f"{name} did not finish within {timeout} s") from None
    except OSError as exc:
        raise MeasurementError(f"{name} could not start: {exc.strerror}") from None
    if echo and done.stdout:
        print(done.stdout, end="" if done.stdout.endswith("\n") else "\n", flush=True)
    return ToolRun(name, argv, done.returncode, done.stdout, done.stderr or "")


def executable(name: str) -> str:
    """A console script installed beside the running interpreter (the session's venv)."""
    path = Path(sys.executable).parent / name
    if not path.is_file():
        raise MeasurementError(
            f"{name} is not installed in {sys.prefix}; run this stage through nox"
        )
    return str(path)


def uv_binary() -> str:
    """The uv this environment was built with: the locked one beside the interpreter (what
    nox installs into each session), else the first on PATH; MeasurementError when neither."""
    beside = Path(sys.executable).parent / "uv"
    if beside.is_file():
        return str(beside)
    uv = shutil.which("uv")
    if uv is None:
        raise MeasurementError(
            f"uv is neither in {sys.prefix} nor on PATH; run this stage through nox (README)"
        )
    return uv


def run_module(
    name: str,
    args: Sequence[str],
    cwd: str | Path,
    echo: bool = True,
    timeout: float | None = None,
    env: Mapping[str, str] | None = None,
) -> ToolRun:
    """Run ``python -m name args`` from the gate's own environment."""
    argv = [sys.executable, "-m", name, *args]
    result = run_tool(name, argv, cwd, echo=echo, timeout=timeout, env=env)
    if result.returncode != 0 and f"No module named {name}" in result.output:
        raise MeasurementError(
            f"{name} is not installed in {sys.prefix}; run this stage through nox"
        )
    return result
