"""The offline advisory source: an OSV directory in the PyPA advisory database's layout,
named by ``--osv-dir``, ``$PIPELINE_OSV_DIR`` or ``[tool.pipeline.security] osv_dir``."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from gates.security import osv_mirror
from gates.security.advisory_source import SourceResult
from gates.security.findings import Finding

if TYPE_CHECKING:
    from gates.config import PipelineConfig

SCANNER = "osv"
OSV_DIR_ENV = "PIPELINE_OSV_DIR"


def named_dir(
    config: PipelineConfig, override: str | None = None, environ: Mapping[str, str] | None = None
) -> Path | None:
    """The OSV directory to read, or None when none is named; relative to the repository."""
    environ = os.environ if environ is None else environ
    name = override or environ.get(OSV_DIR_ENV) or config.security.osv_dir
    return config.root / name if name else None


def audit(directory: Path, pins: list[tuple[str, str]]) -> SourceResult:
    mirror = osv_mirror.load(directory)
    findings = [
        Finding(
            scanner=SCANNER,
            rule_id=advisory.id,
            title=advisory.summary[:300],
            severity=advisory.severity,
            package=name,
            version=version,
            fix=", ".join(advisory.fixed),
            aliases=advisory.aliases,
            extra={"file": advisory.source_file},
        )
        for name, version in pins
        for advisory in mirror.affecting(name, version)
    ]
    data = f"OSV directory {directory} ({mirror.files} advisory files)"
    return SourceResult(SCANNER, findings, len(pins), data, mirror.newest_modified)
