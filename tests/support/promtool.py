"""promtool (from the Debian package ``prometheus``) for the tests that run it: found on
PATH, never installed by the tests.

``promtool_binary()`` returns its path. Without it the test is skipped with the reason and
the command that fixes it; when the ``CI`` environment variable is set it fails instead,
because CI must run these tests (``.ci/run`` installs the package).
"""

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from support.timeouts import HANG

CI_ENV = "CI"
INSTALL = "sudo apt-get install prometheus (Debian/Ubuntu), or put promtool on PATH"


def promtool_binary() -> str:
    found = shutil.which("promtool")
    if found is None:
        reason = f"promtool is not on PATH; {INSTALL}"
        if os.environ.get(CI_ENV):
            pytest.fail(f"promtool-backed test, and CI is set: {reason}", pytrace=False)
        pytest.skip(f"promtool-backed test skipped: {reason}")
    return found


def promtool(*args: str | Path, cwd: Path) -> "subprocess.CompletedProcess[str]":
    """``promtool args`` in ``cwd``, output captured; a timeout bounds a hang."""
    return subprocess.run(
        [promtool_binary(), *map(str, args)],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=6 * HANG,
    )
