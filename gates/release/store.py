"""Where releases live, their manifests, digests and ids, and verifying them."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypedDict

from gates.outcome import ConfigError, FAILED, GateError

if TYPE_CHECKING:
    from gates.config import PipelineConfig

MANIFEST = "manifest.json"
LATEST = "latest"
# Artifacts whose bytes define what runs; their digests define the release id.
IDENTITY_KINDS = ("service-wheel", "dependency-wheel", "requirements", "dockerfile")

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


def resolve(config: PipelineConfig, name: str) -> Path:
    """The release directory for an id, a unique id prefix, or ``latest``."""
    base = releases_dir(config)
    if name == LATEST:
        pointer = base / LATEST
        if not pointer.is_file():
            raise ConfigError(f"no release has been built yet in {base}; run `nox -s build`")
        name = pointer.read_text().strip()
    candidates = sorted(p for p in base.glob(f"{name}*") if (p / MANIFEST).is_file())
    if not candidates:
        raise ConfigError(f"no release {name!r} in {base}; `gates release list` shows them")
    if len(candidates) > 1 and candidates[0].name != name:
        raise ConfigError(
            f"release id {name!r} is ambiguous: {', '.join(p.name for p in candidates)}"
        )
    return candidates[0]


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
