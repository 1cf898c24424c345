"""The commit a release is built from, exported as a clean tree (never the working tree)."""

import io
import subprocess
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Literal, TypedDict

from gates.outcome import ConfigError


@dataclass(frozen=True)
class Commit:
    sha: str
    epoch: int  # commit time: SOURCE_DATE_EPOCH for reproducible artifacts
    dirty: bool  # whether the working tree had changes (they are not in the release)

    @property
    def time(self) -> str:
        return datetime.fromtimestamp(self.epoch, timezone.utc).isoformat()


def _git_output(root: Path, *args: str) -> bytes:
    try:
        done = subprocess.run(
            ["git", *args], cwd=root, capture_output=True, timeout=60, check=False
        )
    except OSError as exc:
        raise ConfigError(f"git is needed to build a release: {exc.strerror}") from None
    if done.returncode != 0:
        message = done.stderr.decode(errors="replace").strip().splitlines() or ["no output"]
        raise ConfigError(f"git {' '.join(args)} failed in {root}: {message[-1]}")
    return done.stdout


def _git(root: Path, *args: str) -> str:
    return _git_output(root, *args).decode().strip()


def head_commit(root: Path, ref: str = "HEAD") -> Commit:
    sha = _git(root, "rev-parse", "--verify", f"{ref}^{{commit}}")
    epoch = int(_git(root, "log", "-1", "--format=%ct", sha))
    dirty = bool(_git(root, "status", "--porcelain", "--untracked-files=no"))
    return Commit(sha, epoch, dirty)


class _ExtractOptions(TypedDict, total=False):
    filter: Literal["data"]


# tarfile's "data" filter exists from Python 3.11.4; Debian 12's 3.11.2 lacks it, so members
# are also checked here: regular files, directories and links that stay inside the tree.
_DATA_FILTER: _ExtractOptions = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}


def export_tree(root: Path, commit: Commit, destination: Path) -> Path:
    """Write the commit's files (exactly, nothing uncommitted) into ``destination``."""
    archive = _git_output(root, "archive", "--format=tar", commit.sha)
    destination.mkdir(parents=True)
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(destination, members=_contained(tar, destination), **_DATA_FILTER)
    return destination


def _contained(tar: tarfile.TarFile, destination: Path) -> Iterator[tarfile.TarInfo]:
    root = destination.resolve()
    for member in tar.getmembers():
        path = (root / member.name).resolve()
        target = (path.parent / member.linkname).resolve() if member.issym() else path
        if not (member.isfile() or member.isdir() or member.issym()) or not all(
            p == root or root in p.parents for p in (path, target)
        ):
            raise ConfigError(f"git archive of {root.name}: unsafe member {member.name!r}")
        yield member
