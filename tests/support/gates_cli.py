"""The runners of the gates CLI (``python -m gates``): as a subprocess, the way nox runs it,
and in this process, the way a test can afford to run it for every case of a table.

``run_gates(config_path, *args)`` runs ``python -m gates --config <config_path> <args>`` with
this interpreter and returns the finished process, text captured. ``config_path=None`` leaves
``--config`` out, so gates finds the configuration from the working directory (``cwd``).
``env`` is merged over this process's environment; ``state_dir`` sets ``PIPELINE_STATE_DIR``.
``check=True`` turns any non-zero exit into an AssertionError carrying both streams, so a
failed setup step says why. ``popen_gates`` starts the same command without waiting.

``run_gates_in_process`` takes the same arguments (no ``timeout``: nothing in this process
can bound a hang) and returns the same shape, from ``gates.cli.main(argv)``, which is what
``python -m gates`` calls: about 1 s of interpreter, coverage and import start-up less per
call. A file that uses it keeps a case or two on ``run_gates``, the real process (exit code,
one line on stderr, no traceback).
"""

import io
import os
import subprocess
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, redirect_stderr, redirect_stdout
from pathlib import Path

import gates
from gates.cli import main
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


# What ``python -m gates`` has as sys.argv[0]: the package's __main__.py.
GATES_MAIN = str(Path(gates.__file__).with_name("__main__.py"))


@contextmanager
def process_state(
    environ: Mapping[str, str], cwd: PathLike | None, argv: list[str]
) -> Iterator[None]:
    """This process's environment, working directory and sys.argv as a child's would be;
    all three are put back afterwards, whatever happened."""
    saved_environ, saved_cwd, saved_argv = dict(os.environ), os.getcwd(), sys.argv
    try:
        os.environ.clear()
        os.environ.update(environ)
        if cwd is not None:
            os.chdir(cwd)
        sys.argv = [GATES_MAIN, *argv]
        yield
    finally:
        sys.argv = saved_argv
        os.chdir(saved_cwd)
        os.environ.clear()
        os.environ.update(saved_environ)


def exit_status(code: object, stderr: io.StringIO) -> int:
    """The exit status the interpreter makes of ``sys.exit(code)``."""
    if code is None:
        return 0
    if isinstance(code, int):
        return code
    print(code, file=stderr)
    return 1


def run_gates_in_process(
    config_path: PathLike | None,
    *args: str,
    env: Mapping[str, str] | None = None,
    state_dir: PathLike | None = None,
    cwd: PathLike | None = None,
    check: bool = False,
) -> "subprocess.CompletedProcess[str]":
    """``run_gates``, with ``gates.cli.main(argv)`` in this process instead of a child.

    The environment (``env`` merged over this process's, ``state_dir``), the working
    directory and sys.argv are the child's for the call and restored afterwards; what the
    command prints to sys.stdout and sys.stderr is captured (processes it starts write where
    they always do: gates captures its tools' output itself). ``sys.exit`` (argparse's usage
    errors, ``--help``) becomes the exit status, as in a process. An exception escaping
    ``main`` is raised here, so the test fails on the traceback a process would have printed.
    """
    argv = gates_argv(config_path, *args)[3:]  # without `python -m gates`
    stdout, stderr = io.StringIO(), io.StringIO()
    with process_state(gates_env(env, state_dir), cwd, argv):
        with redirect_stdout(stdout), redirect_stderr(stderr):
            try:
                returncode = main(argv)
            except SystemExit as exc:
                returncode = exit_status(exc.code, stderr)
    done = subprocess.CompletedProcess(
        ["python", "-m", "gates", *argv], returncode, stdout.getvalue(), stderr.getvalue()
    )
    if check and done.returncode != 0:
        raise AssertionError(f"{done.args} exited {done.returncode}:\n{done.stdout}\n{done.stderr}")
    return done
