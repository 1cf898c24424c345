"""The service's runtime dependencies exactly as uv.lock pins them: one export, shared by the
security audit and the build, so what is audited is what the release's wheelhouse holds."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

from gates.outcome import ConfigError, MeasurementError
from gates.tools import run_tool, uv_binary

# name==version at the start of a line of `uv export` (or pip's requirements format)
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;\\]+)", re.M)


def export_command(service: str) -> list[str]:
    """``uv export`` of ``service``'s locked runtime dependencies, with their hashes."""
    return [
        uv_binary(),
        "export",
        "--frozen",
        "--package",
        service,
        "--no-default-groups",
        "--no-emit-workspace",
        "--no-header",
    ]


def digest(text: str) -> str:
    """sha256 of a requirements export: equal digests, equal pins and hashes."""
    return hashlib.sha256(text.encode()).hexdigest()


def pins(text: str) -> list[tuple[str, str]]:
    """(name, version) of every ``name==version`` line."""
    return PIN.findall(text)


@dataclass(frozen=True)
class Locked:
    path: Path  # the requirements file, hashes included
    text: str

    @property
    def sha256(self) -> str:
        return digest(self.text)

    @property
    def pins(self) -> list[tuple[str, str]]:
        return pins(self.text)


def export(root: Path, service: str, destination: Path) -> Locked:
    """Write the export of the lock in ``root`` to ``destination``; MeasurementError when uv
    cannot produce it."""
    argv = export_command(service)
    done = run_tool("uv export", argv, root, echo=False, timeout=120, separate_stderr=True)
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise MeasurementError(f"uv export of {service}'s locked dependencies failed: {last}")
    if not pins(done.output):
        raise MeasurementError(
            f"uv export of {service}'s locked dependencies pinned nothing; "
            "check [tool.pipeline] service and uv.lock"
        )
    destination.write_text(done.output, encoding="utf-8")
    return Locked(destination, done.output)


def read(path: Path) -> Locked:
    """A requirements file given by hand (``--requirements``): a usage error unless it pins."""
    text = path.read_text(encoding="utf-8", errors="replace")
    if not pins(text):
        raise ConfigError(f"--requirements {path} pins no package (name==version lines)")
    return Locked(path, text)


def shipped(release_requirements: Path, service: str, destination: Path) -> Locked:
    """A built release's requirements without the service's own line (it is not on any
    index, so no advisory source knows it): the dependencies exactly as the release ships."""
    own = re.compile(rf"^{re.escape(service)}==\S+.*\n(?:\s+--hash=\S+.*\n)*", re.M | re.I)
    text = own.sub("", release_requirements.read_text(encoding="utf-8"))
    if not pins(text):
        raise MeasurementError(f"{release_requirements} pins no dependency")
    destination.write_text(text, encoding="utf-8")
    return Locked(destination, text)
