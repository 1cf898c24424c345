"""Small, real release stores without a build: releases that pass ``store.verify``.

``make_release(store_dir, label)`` writes a release whose only artifact is a
``requirements.txt`` (its content made unique by ``label``) and whose manifest lists it with
its digest and the id derived from it, exactly as ``gates build`` would; it returns the id.
``make_wheel`` writes a tiny wheel with a RECORD, for the installed-copy checks.
"""

import base64
import hashlib
import json
import zipfile
from pathlib import Path

from gates.release.store import MANIFEST, describe_artifact, release_id


def make_release(store_dir: Path, label: str) -> str:
    staging = store_dir / f".making-{label}"
    staging.mkdir(parents=True)
    (staging / "requirements.txt").write_text(f"# release {label}\n")
    artifacts = [describe_artifact(staging, staging / "requirements.txt", "requirements")]
    rid = release_id(artifacts)
    manifest = {
        "schema": 1,
        "release_id": rid,
        "service": {"name": "mini", "version": "1.0.0"},
        "source": {"commit": "0" * 40, "commit_time": "2030-01-01T00:00:00+00:00"},
        "build": {"time": "2030-01-01T00:00:00+00:00"},
        "artifacts": artifacts,
        "dependencies": [],
    }
    (staging / MANIFEST).write_text(json.dumps(manifest))
    staging.rename(store_dir / rid)
    return rid


def set_latest(store_dir: Path, text: str) -> None:
    (store_dir / "latest").write_text(text + "\n")


def _record_hash(data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"sha256={digest}"


def make_wheel(directory: Path, name: str, files: dict[str, str]) -> Path:
    """A wheel of distribution ``name`` holding ``files`` (path: text) and its metadata."""
    dist_info = f"{name}-1.0.dist-info"
    contents = {
        **{path: text.encode() for path, text in files.items()},
        f"{dist_info}/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n".encode(),
        f"{dist_info}/WHEEL": b"Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\n"
        b"Tag: py3-none-any\n",
    }
    record = "".join(f"{p},{_record_hash(d)},{len(d)}\n" for p, d in contents.items())
    record += f"{dist_info}/RECORD,,\n"
    wheel = directory / f"{name}-1.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        for path, data in contents.items():
            archive.writestr(path, data)
        archive.writestr(f"{dist_info}/RECORD", record)
    return wheel
