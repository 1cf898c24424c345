"""Where releases live, their manifests, digests and ids, and verifying them."""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypedDict

from gates.outcome import ConfigError, FAILED, GateError

if TYPE_CHECKING:
    from gates.config import PipelineConfig

MANIFEST = "manifest.json"
LATEST = "latest"
ID_LENGTH = 16  # hex digits of a release id (see release_id)
MIN_PREFIX = 4  # the shortest prefix that names a release, as in git's abbreviated ids
_RELEASE_ID = re.compile(f"[0-9a-f]{{{ID_LENGTH}}}")
_ID_PREFIX = re.compile(f"[0-9a-f]{{{MIN_PREFIX},{ID_LENGTH}}}")
# Artifacts whose bytes define what runs, and the alerts that watch it (the SLO rules: new
# objectives on the same code are a new release, never dropped as "already built"); their
# digests define the release id.
IDENTITY_KINDS = ("service-wheel", "dependency-wheel", "requirements", "dockerfile", "slo-rules")

# A manifest as read from disk: JSON, checked where it is used (see verify).
Manifest = dict[str, Any]


class Artifact(TypedDict):
    """One file of a release, as its manifest lists it."""

    path: str  # relative to the release directory, POSIX separators
    kind: str
    sha256: str
    size: int


class TamperedRelease(GateError):
    """A release on disk no longer matches its manifest: refuse it."""

    exit_code = FAILED


def releases_dir(config: PipelineConfig) -> Path:
    return config.state_dir / "releases"


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def describe_artifact(release_dir: Path, path: Path, kind: str) -> Artifact:
    return {
        "path": path.relative_to(release_dir).as_posix(),
        "kind": kind,
        "sha256": sha256_file(path),
        "size": path.stat().st_size,
    }


def release_id(artifacts: Iterable[Artifact]) -> str:
    """16 hex digits of the sha256 over the identity artifacts' digests and paths."""
    lines = sorted(
        f"{a['sha256']}  {a['path']}\n" for a in artifacts if a["kind"] in IDENTITY_KINDS
    )
    return hashlib.sha256("".join(lines).encode()).hexdigest()[:16]


def release_name(text: str) -> str:
    """``text`` if it can name a release: ``latest``, or a release id or a prefix of one
    (lower-case hex, at least MIN_PREFIX digits); ConfigError otherwise. Nothing else reaches
    the file system: no paths, no glob patterns, no empty name."""
    if text == LATEST or _ID_PREFIX.fullmatch(text):
        return text
    raise ConfigError(
        f"release {text!r} is not a release name: give 'latest', a release id "
        f"({ID_LENGTH} lower-case hex digits) or its first {MIN_PREFIX} or more; "
        "`gates release list` shows them"
    )


def resolve(config: PipelineConfig, name: str) -> Path:
    """The release directory for an id, a unique id prefix, or ``latest`` (see release_name).

    Only the store's own entries are candidates: directories named by a release id, directly
    inside the store. An entry that leads elsewhere (a symbolic link) is refused as tampering.
    """
    name = release_name(name)
    base = releases_dir(config)
    if name == LATEST:
        name = _latest(base)
    matches = [entry for entry in _id_entries(base) if entry.name.startswith(name)]
    for entry in matches:
        _check_contained(base, entry)
    candidates = sorted(entry for entry in matches if (entry / MANIFEST).is_file())
    if not candidates:
        raise ConfigError(f"no release {name!r} in {base}; `gates release list` shows them")
    if len(candidates) > 1:
        raise ConfigError(
            f"release id {name!r} is ambiguous: {', '.join(p.name for p in candidates)}; "
            "give more of its digits"
        )
    return candidates[0]


def release_dirs(config: PipelineConfig) -> list[Path]:
    """Every release directory in the store (checked for containment, not verified)."""
    base = releases_dir(config)
    entries = _id_entries(base)
    for entry in entries:
        _check_contained(base, entry)
    return [entry for entry in entries if (entry / MANIFEST).is_file()]


def _id_entries(base: Path) -> list[Path]:
    try:
        names = sorted(os.listdir(base))
    except (FileNotFoundError, NotADirectoryError):
        return []
    return [base / name for name in names if _RELEASE_ID.fullmatch(name)]


def _check_contained(base: Path, entry: Path) -> None:
    if entry.is_symlink() or entry.resolve().parent != base.resolve():
        raise TamperedRelease(
            f"release store entry {entry} leads outside the store (to {entry.resolve()}); "
            "releases are directories of the store itself: remove it and rebuild"
        )


def _latest(base: Path) -> str:
    pointer = base / LATEST
    try:
        rid = pointer.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        raise ConfigError(f"no release has been built yet in {base}; run `nox -s build`") from None
    except (OSError, ValueError) as exc:
        raise TamperedRelease(f"{pointer} is unreadable: {exc}") from None
    if not _RELEASE_ID.fullmatch(rid):
        raise TamperedRelease(
            f"{pointer} names {rid[:40]!r}, not a release id: it was changed outside the "
            "pipeline; rebuild with `nox -s build` to point it at a release again"
        )
    return rid


def load_manifest(release_dir: str | Path) -> Manifest:
    path = Path(release_dir) / MANIFEST
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise TamperedRelease(f"release manifest {path} is unreadable: {exc}") from None
    if not isinstance(manifest, dict) or not isinstance(manifest.get("artifacts"), list):
        raise TamperedRelease(f"release manifest {path} has no artifact list")
    return manifest


def verify(release_dir: str | Path) -> Manifest:
    """Re-hash every artifact against the manifest; TamperedRelease on any difference."""
    release_dir = Path(release_dir)
    manifest = load_manifest(release_dir)
    listed = set()
    for artifact in manifest["artifacts"]:
        path = release_dir / artifact["path"]
        listed.add(artifact["path"])
        if not path.is_file():
            raise TamperedRelease(f"release {release_dir.name}: {artifact['path']} is missing")
        actual = sha256_file(path)
        if actual != artifact["sha256"]:
            raise TamperedRelease(
                f"release {release_dir.name}: {artifact['path']} has sha256 {actual[:16]}…, "
                f"the manifest says {artifact['sha256'][:16]}…: it changed after the build; "
                "do not deploy it, rebuild with `nox -s build`"
            )
    extra = sorted(
        p.relative_to(release_dir).as_posix()
        for p in (release_dir / "wheelhouse").glob("*")
        if p.relative_to(release_dir).as_posix() not in listed
    )
    if extra:
        raise TamperedRelease(f"release {release_dir.name}: unlisted file {extra[0]} in wheelhouse")
    if release_id(manifest["artifacts"]) != manifest.get("release_id") or (
        manifest.get("release_id") != release_dir.name
    ):
        raise TamperedRelease(f"release {release_dir.name}: id does not match its artifacts")
    return manifest
