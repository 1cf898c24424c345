"""Mounts left under a directory (dockerd's nsfs bind mounts, debootstrap's /proc), undone."""

from __future__ import annotations

import subprocess
from pathlib import Path

MOUNTINFO = Path("/proc/self/mountinfo")


def _unescape(field: str) -> str:
    """mountinfo writes space, tab, newline and backslash as octal escapes."""
    for code, char in (("\\040", " "), ("\\011", "\t"), ("\\012", "\n"), ("\\134", "\\")):
        field = field.replace(code, char)
    return field


def under(directory: Path) -> list[Path]:
    """Mount points at or below ``directory``, deepest first."""
    try:
        lines = MOUNTINFO.read_text().splitlines()
    except OSError:
        return []
    top = str(directory.resolve()).rstrip("/")
    points = [Path(_unescape(line.split()[4])) for line in lines if len(line.split()) > 4]
    found = [p for p in points if str(p) == top or str(p).startswith(top + "/")]
    return sorted(set(found), key=lambda p: len(p.parts), reverse=True)


def unmount_under(directory: Path) -> list[str]:
    """Unmount everything below ``directory`` (lazily, so a busy one goes when released);
    the mount points that would not go."""
    stuck = []
    for point in under(directory):
        done = subprocess.run(["umount", "-l", str(point)], capture_output=True, timeout=30)
        if done.returncode != 0:
            stuck.append(str(point))
    return stuck
