"""Install a verified release into a new virtualenv: offline, every hash checked."""

import shutil
import sys
from pathlib import Path

from gates.outcome import FAILED, GateError, MeasurementError
from gates.release.store import Manifest, verify
from gates.tools import run_tool, uv_binary


class InstallFailed(GateError):
    exit_code = FAILED


def install(
    release_dir: Path,
    venv: Path,
    python: str | None = None,
    timeout: float = 600,
    verify_first: bool = True,
) -> Manifest | None:
    """Verify ``release_dir`` against its manifest, then install it into a new virtualenv.

    pip-style hash checking (``--require-hashes``) guards the install itself as well.
    """
    manifest = verify(release_dir) if verify_first else None
    uv = uv_binary()
    if venv.exists():
        shutil.rmtree(venv)
    created = run_tool(
        "uv venv",
        [uv, "venv", "--quiet", "--python", python or sys.executable, str(venv)],
        cwd=release_dir,
        echo=False,
        timeout=timeout,
    )
    if created.returncode != 0:
        raise MeasurementError(f"could not create a virtualenv at {venv}: {created.tail(1)}")
    argv = [
        uv,
        "pip",
        "install",
        "--quiet",
        "--python",
        str(venv / "bin" / "python"),
        "--offline",
        "--no-index",
        "--find-links",
        str(release_dir / "wheelhouse"),
        "--require-hashes",
        "--no-deps",
        "-r",
        str(release_dir / "requirements.txt"),
    ]
    installed = run_tool("uv pip install", argv, cwd=release_dir, echo=False, timeout=timeout)
    if installed.returncode != 0:
        raise InstallFailed(
            f"release {release_dir.name} did not install into {venv}: {installed.tail(1)}"
        )
    return manifest
