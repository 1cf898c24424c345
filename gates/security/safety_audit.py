"""safety 2.x over the pinned runtime dependencies, with advisory data whose date is known.

The gate fetches safety's free feed itself (``safety_db_url``) so that the report can state
the data's date; when the feed cannot be reached it says so and uses the offline database
(``$PIPELINE_SAFETY_DB`` or ``offline_db``), whose date the freshness rule then judges.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gates.outcome import MeasurementError
from gates.security import advisory_db
from gates.security.advisory_source import SourceResult
from gates.security.findings import Finding, malformed, read_json_report, require
from gates.tools import ToolRun, run_module

if TYPE_CHECKING:
    from gates.config import PipelineConfig

SCANNER = "safety"
NO_VULNERABILITIES = 0
VULNERABILITIES_FOUND = 64


def audit(
    config: PipelineConfig,
    requirements: Path,
    out: Path,
    offline_only: bool = False,
    environ: Mapping[str, str] | None = None,
    notice: Callable[[str], object] = print,
) -> SourceResult:
    """safety against the online feed, or the offline database when the feed is unreachable."""
    db = None
    if not offline_only:
        url = config.security.safety_db_url
        try:
            db = advisory_db.download(url, out / "safety-feed", out / "advisory-db")
        except MeasurementError as exc:
            notice(
                f"gates security: safety's feed cannot be used ({exc}); using the offline database"
            )
    if db is None:
        named = advisory_db.named_db(config, environ)
        if named is None:
            raise MeasurementError(
                "no advisory data: the online feed was not used or not reachable and no "
                f"offline database is named (set ${advisory_db.OFFLINE_DB_ENV} or "
                "[tool.pipeline.security] offline_db)"
            )
        db = advisory_db.stage(*named, out / "advisory-db")
    report_path = out / "safety.json"
    result = _safety(config, requirements, report_path, db.path)
    findings, packages = _judged(result, report_path)
    return SourceResult(SCANNER, findings, packages, db.describe(), db.published)


def _safety(
    config: PipelineConfig, requirements: Path, report_path: Path, db_path: Path
) -> ToolRun:
    report_path.unlink(missing_ok=True)
    args = ["check", "-r", str(requirements), "--output", "json", "--save-json", str(report_path)]
    args += ["--db", str(db_path)]
    return run_module(
        SCANNER, args, cwd=config.root, echo=False, timeout=config.security.scanner_timeout
    )


def _judged(result: ToolRun, report_path: Path) -> tuple[list[Finding], int]:
    judged = (NO_VULNERABILITIES, VULNERABILITIES_FOUND)
    findings, packages = parse(read_json_report(report_path, SCANNER, result, judged))
    if (result.returncode == VULNERABILITIES_FOUND) != bool(findings):
        raise malformed(
            SCANNER, f"exit {result.returncode} disagrees with {len(findings)} findings"
        )
    return findings, packages


def parse(data: object) -> tuple[list[Finding], int]:
    """(findings, number of packages audited) from safety 2.x JSON; fail closed."""
    if not isinstance(data, dict):
        raise malformed(SCANNER, f"top level is {type(data).__name__}, not an object")
    meta = require(data, "report_meta", dict, SCANNER, "report")
    packages = require(meta, "packages_found", int, SCANNER, "report_meta")
    vulnerabilities = require(data, "vulnerabilities", list, SCANNER, "report")
    if packages <= 0:
        raise MeasurementError("safety audited no packages; the requirements export is empty")
    return [_finding(v, i) for i, v in enumerate(vulnerabilities)], packages


def _finding(vuln: Any, index: int) -> Finding:
    where = f"vulnerabilities[{index}]"
    cve = vuln.get("CVE") if isinstance(vuln, dict) else None
    return Finding(
        scanner=SCANNER,
        rule_id=require(vuln, "vulnerability_id", str, SCANNER, where),
        title=require(vuln, "advisory", str, SCANNER, where).strip()[:300],
        severity=_severity(vuln.get("severity")),
        package=require(vuln, "package_name", str, SCANNER, where),
        version=require(vuln, "analyzed_version", str, SCANNER, where),
        fix=_fix(vuln),
        aliases=(cve,) if isinstance(cve, str) and cve else (),
    )


def _severity(value: object) -> str:
    """CVSS base severity when the database has one; UNKNOWN (judged as failing) otherwise."""
    if isinstance(value, dict):
        for key in ("cvssv3", "cvssv2"):
            entry = value.get(key)
            severity = entry.get("base_severity") if isinstance(entry, dict) else None
            if isinstance(severity, str):
                return severity.upper()
    return "UNKNOWN"


def _fix(vuln: dict[str, Any]) -> str:
    fixed = vuln.get("fixed_versions")
    if isinstance(fixed, list) and fixed and all(isinstance(v, str) for v in fixed):
        return ", ".join(fixed)
    specs = vuln.get("all_vulnerable_specs")
    # A single "<X" range means X is the first release without this vulnerability.
    if isinstance(specs, list) and len(specs) == 1 and isinstance(specs[0], str):
        spec = specs[0].strip()
        if spec.startswith("<") and not spec.startswith("<="):
            return ">=" + spec[1:]
    return ""
