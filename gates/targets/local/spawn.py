"""Starting a deployment's gunicorn master, detached in its own session."""

import os
import subprocess
from collections.abc import Sequence
from pathlib import Path

from gates.targets.local.layout import Layout
from gates.targets.local.masters import LIVE

# Set by a parent gunicorn or by tests; a new master must not inherit them.
INHERITED = ("PROMETHEUS_MULTIPROC_DIR", "GUNICORN_PID", "GUNICORN_FD")


def command(base: Path) -> list[str]:
    """argv running a deployment's gunicorn through ``base`` (a deployment dir or current).

    The interpreter is named through ``base`` so that a USR2 re-exec, which reuses this
    argv, starts the release that ``current`` points at by then.
    """
    venv_bin = base / "venv" / "bin"
    return [
        str(venv_bin / "python"),
        str(venv_bin / "techcorp-api"),
        "--config",
        str(base / "gunicorn.conf.py"),
    ]


def spawn(
    layout: Layout, base: Path, extra_args: Sequence[str] = (), role: str = LIVE
) -> "subprocess.Popen[bytes]":
    environ = {k: v for k, v in os.environ.items() if k not in INHERITED}
    environ["TECHCORP_ROLE"] = role
    return subprocess.Popen(
        [*command(base), *extra_args],
        cwd=layout.root,
        env=environ,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
