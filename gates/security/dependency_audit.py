"""safety 2.x over the service's locked runtime dependencies, online first, offline after."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gates.outcome import MeasurementError
from gates.security import advisory_db
from gates.security.findings import Finding, malformed, read_json_report, require
from gates.tools import ToolRun, run_module, run_tool, uv_binary

if TYPE_CHECKING:
    from gates.config import PipelineConfig

SCANNER = "safety"
NO_VULNERABILITIES = 0
VULNERABILITIES_FOUND = 64
ADVISORY_SERVICE_UNREACHABLE = 68  # safety 2.x: "unable to fetch vulnerability database"
ONLINE = "online advisory service (safety's free database)"


def export_requirements(config: PipelineConfig, destination: Path) -> Path:
    """The service's runtime dependencies exactly as uv.lock pins them, as a requirements file."""
    uv = uv_binary()
    argv = [uv, "export", "--frozen", "--package", config.service, "--no-default-groups"]
    argv += ["--no-emit-workspace", "--no-hashes", "--no-header", "-o", str(destination)]
    done = run_tool("uv export", argv, config.root, echo=False, timeout=120)
    if done.returncode != 0:
        raise MeasurementError(
            f"uv export of {config.service}'s locked dependencies failed: {done.tail(1)}"
        )
    return destination


@dataclass
class Audit:
    findings: list[Finding]
    packages: int  # how many locked packages safety checked
    advisory: str  # which advisory data it used
    offline: bool


def audit(
    config: PipelineConfig,
    requirements: Path,
    report_path: Path,
    offline_only: bool = False,
    environ: Mapping[str, str] | None = None,
    notice: Callable[[str], object] = print,
) -> Audit:
    """Run safety against the online service, or the offline database when it is unreachable."""
    if not offline_only:
        result = _safety(config, requirements, report_path)
        if result.returncode != ADVISORY_SERVICE_UNREACHABLE:
            return Audit(*_judged(result, report_path), ONLINE, offline=False)
        notice(
            "gates security: the advisory service cannot be reached "
            f"({result.tail(1) or 'safety exit 68'}); falling back to the offline database"
        )
    named = advisory_db.named_db(config, environ)
    if named is None:
        raise MeasurementError(
            "safety: no advisory data: the online service was not used or not reachable and no "
            f"offline database is named (set ${advisory_db.OFFLINE_DB_ENV} or "
            "[tool.pipeline.security] offline_db)"
        )
    db = advisory_db.stage(*named, report_path.parent / "advisory-db")
    notice(f"gates security: WARNING: advisory data is the {db.describe()}")
    result = _safety(config, requirements, report_path, db.path)
    return Audit(*_judged(result, report_path), db.describe(), offline=True)


def _safety(
    config: PipelineConfig, requirements: Path, report_path: Path, db_path: Path | None = None
) -> ToolRun:
    report_path.unlink(missing_ok=True)
    args = ["check", "-r", str(requirements), "--output", "json", "--save-json", str(report_path)]
    if db_path is not None:
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
