"""The one runner of the gates CLI (``python -m gates``) as a subprocess, the way nox runs it.

``run_gates(config_path, *args)`` runs ``python -m gates --config <config_path> <args>`` with
this interpreter and returns the finished process, text captured. ``config_path=None`` leaves
``--config`` out, so gates finds the configuration from the working directory (``cwd``).
``env`` is merged over this process's environment; ``state_dir`` sets ``PIPELINE_STATE_DIR``.
``check=True`` turns any non-zero exit into an AssertionError carrying both streams, so a
failed setup step says why. ``popen_gates`` starts the same command without waiting.
"""

import os
import subprocess
import sys
from collections.abc import Mapping

from support.timeouts import GATES_TIMEOUT

PathLike = str | os.PathLike[str]


def gates_argv(config_path: PathLike | None, *args: str) -> list[str]:
    config = [] if config_path is None else ["--config", str(config_path)]
    return [sys.executable, "-m", "gates", *config, *args]


def gates_env(env: Mapping[str, str] | None, state_dir: PathLike | None) -> dict[str, str]:
    environ = {**os.environ, **(env or {})}
    if state_dir is not None:
        environ["PIPELINE_STATE_DIR"] = str(state_dir)
    return environ


def run_command(
    argv: list[str],
    *,
    env: Mapping[str, str] | None = None,
    cwd: PathLike | None = None,
    timeout: float = GATES_TIMEOUT,
    check: bool = False,
) -> "subprocess.CompletedProcess[str]":
    """Run ``argv`` to the end, text captured; ``env`` is the whole environment (None: ours)."""
    done = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=timeout, env=env)
    if check and done.returncode != 0:
        raise AssertionError(f"{argv} exited {done.returncode}:\n{done.stdout}\n{done.stderr}")
    return done


def run_gates(
    config_path: PathLike | None,
    *args: str,
    env: Mapping[str, str] | None = None,
    state_dir: PathLike | None = None,
    cwd: PathLike | None = None,
    timeout: float = GATES_TIMEOUT,
    check: bool = False,
) -> "subprocess.CompletedProcess[str]":
    return run_command(
        gates_argv(config_path, *args),
        env=gates_env(env, state_dir),
        cwd=cwd,
        timeout=timeout,
        check=check,
    )


def popen_gates(
    config_path: PathLike | None,
    *args: str,
    env: Mapping[str, str] | None = None,
    state_dir: PathLike | None = None,
    cwd: PathLike | None = None,
) -> "subprocess.Popen[str]":
    """Started, not waited for: stdout and stderr together on ``.stdout``; the caller waits."""
    return subprocess.Popen(
        gates_argv(config_path, *args),
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=gates_env(env, state_dir),
    )
