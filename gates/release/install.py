"""Install a verified release into a new virtualenv: offline, every hash checked; and check
that an installed copy is still what was installed before it is used again.
"""

import base64
import hashlib
import os
import shutil
import sys
import zipfile
from collections.abc import Iterator
from importlib import metadata
from pathlib import Path, PurePosixPath

from packaging.utils import canonicalize_name

from gates.outcome import FAILED, GateError, MeasurementError
from gates.release.store import Manifest, verify
from gates.tools import run_tool, uv_binary


class InstallFailed(GateError):
    exit_code = FAILED


class InstalledCopyChanged(GateError):
    """A file of an installed release differs from what its wheels installed: refuse it."""

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
    verify_installed(release_dir, venv)
    return manifest


def verify_installed(release_dir: Path, venv: Path) -> None:
    """Check that ``venv`` holds exactly what the release's wheels installed, byte for byte.

    Every file each distribution's installed RECORD lists is re-hashed. For the files that
    come from a wheel, the digest is taken from that wheel's own RECORD, in the release
    (which the caller verified against its manifest), so editing a file together with the
    installed RECORD is caught too. A distribution the release does not have, or a file in
    site-packages that no RECORD lists (a ``.pth`` file runs at every start-up), is refused
    as well; only ``__pycache__`` bytecode, which Python writes itself, is left out.
    InstalledCopyChanged (exit 1) names the first difference.
    """
    site = _site_packages(venv)

    def changed(what: str) -> InstalledCopyChanged:
        return InstalledCopyChanged(
            f"the installed copy of release {release_dir.name} in {venv} changed after it was "
            f"installed: {what}; it is not used. Remove {venv} to install it again"
        )

    installed = {
        canonicalize_name(d.metadata["Name"]): d for d in metadata.distributions(path=[str(site)])
    }
    listed: set[PurePosixPath] = set()
    for wheel in sorted((release_dir / "wheelhouse").glob("*.whl")):
        with zipfile.ZipFile(wheel) as archive:
            built = metadata.PathDistribution(zipfile.Path(archive, _dist_info(archive) + "/"))
            name = canonicalize_name(built.metadata["Name"])
            dist = installed.pop(name, None)
            if dist is None:
                raise changed(f"{built.metadata['Name']} is not installed")
            expected = dict(_hashes(dist))
            for path, digest in _hashes(built):
                if not path.parts[0].endswith(".data"):  # .data files are moved on install
                    expected[path] = digest
        for path, (mode, value) in sorted(expected.items()):
            listed.add(path)
            if _file_hash(site / path, mode) != value:
                raise changed(f"{path} differs from {wheel.name}")
        listed.update(PurePosixPath(str(f)) for f in dist.files or ())
    if installed:
        raise changed(f"{', '.join(sorted(installed))} is not in the release")
    for path in _site_files(site):
        if path not in listed:
            raise changed(f"{path} is not a file of the release")


def _site_packages(venv: Path) -> Path:
    found = sorted(venv.glob("lib/python*/site-packages"))
    if len(found) != 1:
        raise InstalledCopyChanged(f"{venv} is not one virtualenv: {len(found)} site-packages")
    return found[0]


def _dist_info(archive: zipfile.ZipFile) -> str:
    found = {n.split("/")[0] for n in archive.namelist() if n.endswith(".dist-info/METADATA")}
    if len(found) != 1:
        raise InstalledCopyChanged(f"wheel {archive.filename} has {len(found)} .dist-info dirs")
    return found.pop()


def _hashes(dist: metadata.Distribution) -> Iterator[tuple[PurePosixPath, tuple[str, str]]]:
    for file in dist.files or ():
        if file.hash is not None:
            yield PurePosixPath(str(file)), (file.hash.mode, file.hash.value)


def _file_hash(path: Path, mode: str) -> str | None:
    try:
        digest = hashlib.new(mode, path.read_bytes())
    except (OSError, ValueError):
        return None  # missing, unreadable or an unknown algorithm: not the recorded bytes
    return base64.urlsafe_b64encode(digest.digest()).rstrip(b"=").decode()


def _site_files(site: Path) -> Iterator[PurePosixPath]:
    for directory, subdirectories, files in os.walk(site):
        subdirectories[:] = [d for d in subdirectories if d != "__pycache__"]
        relative = PurePosixPath(Path(directory).relative_to(site).as_posix())
        for name in files:
            yield relative / name
