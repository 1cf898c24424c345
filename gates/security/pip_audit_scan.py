"""pip-audit (the PyPA's auditor) over the pinned, hashed runtime requirements.

Run fail closed: ``--strict`` (a dependency it cannot audit is an error, not a skip),
``--require-hashes --disable-pip`` (exactly the pins given, nothing resolved or installed),
against OSV (``api.osv.dev`` or the OSV-API mirror in ``osv_api_url``) or PyPI's JSON API.
A live service has no data date of its own: the report states when it answered.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from gates.outcome import MeasurementError
from gates.security.advisory_source import SourceResult, utc_now
from gates.security.findings import Finding, malformed, read_json_report, require
from gates.tools import executable, run_tool

if TYPE_CHECKING:
    from gates.config import PipelineConfig

SCANNER = "pip-audit"
NO_VULNERABILITIES = 0
VULNERABILITIES_FOUND = 1  # also its exit for every error, told apart by the missing report
DEFAULT_SERVICES = {"osv": "OSV API https://api.osv.dev", "pypi": "PyPI JSON API https://pypi.org"}


def audit(config: PipelineConfig, requirements: Path, out: Path) -> SourceResult:
    security = config.security
    report_path = out / "pip-audit.json"
    report_path.unlink(missing_ok=True)  # only this run's report may be judged
    argv = [executable(SCANNER), "--requirement", str(requirements)]
    argv += ["--require-hashes", "--disable-pip", "--strict"]
    argv += ["--vulnerability-service", security.pip_audit_service]
    if security.pip_audit_service == "osv" and security.osv_api_url:
        argv += ["--osv-url", security.osv_api_url]
    argv += ["--format", "json", "--output", str(report_path), "--desc", "on", "--aliases", "on"]
    argv += ["--progress-spinner", "off", "--cache-dir", str(out / "pip-audit-cache")]
    asked = utc_now()
    result = run_tool(SCANNER, argv, config.root, echo=False, timeout=security.scanner_timeout)
    # pip-audit exits 1 both for "found vulnerabilities" and for every error; on an error it
    # writes no report, so a missing report with exit 1 is "could not measure".
    if result.returncode == VULNERABILITIES_FOUND and not report_path.is_file():
        raise MeasurementError(f"pip-audit could not audit: {result.tail(1) or 'no output'}")
    findings, packages = parse(
        read_json_report(report_path, SCANNER, result, (NO_VULNERABILITIES, VULNERABILITIES_FOUND))
    )
    if (result.returncode == VULNERABILITIES_FOUND) != bool(findings):
        raise malformed(
            SCANNER, f"exit {result.returncode} disagrees with {len(findings)} findings"
        )
    if security.pip_audit_service == "osv" and security.osv_api_url:
        data = f"OSV API {security.osv_api_url}"
    else:
        data = DEFAULT_SERVICES[security.pip_audit_service]
    return SourceResult(SCANNER, findings, packages, data, asked, live=True)


def parse(data: object) -> tuple[list[Finding], int]:
    """(findings, packages audited) from pip-audit's JSON; a skipped package is an error."""
    if not isinstance(data, dict):
        raise malformed(SCANNER, f"top level is {type(data).__name__}, not an object")
    dependencies = require(data, "dependencies", list, SCANNER, "report")
    if not dependencies:
        raise MeasurementError("pip-audit audited no packages; the requirements are empty")
    findings: list[Finding] = []
    for index, dependency in enumerate(dependencies):
        where = f"dependencies[{index}]"
        name = require(dependency, "name", str, SCANNER, where)
        if isinstance(dependency, dict) and "skip_reason" in dependency:
            raise MeasurementError(f"pip-audit skipped {name}: {dependency['skip_reason']}")
        version = require(dependency, "version", str, SCANNER, where)
        vulns = require(dependency, "vulns", list, SCANNER, where)
        findings += [_finding(v, name, version, f"{where}.vulns[{i}]") for i, v in enumerate(vulns)]
    return findings, len(dependencies)


def _finding(vuln: Any, package: str, version: str, where: str) -> Finding:
    fixes = require(vuln, "fix_versions", list, SCANNER, where)
    aliases = require(vuln, "aliases", list, SCANNER, where)
    description = vuln.get("description") if isinstance(vuln, dict) else None
    if not all(isinstance(v, str) for v in fixes + aliases):
        raise malformed(SCANNER, f"{where} has non-string fix versions or aliases")
    return Finding(
        scanner=SCANNER,
        rule_id=require(vuln, "id", str, SCANNER, where),
        title=(description if isinstance(description, str) else "").strip()[:300],
        severity="UNKNOWN",  # pip-audit reports none; the policy fails unknown severities
        package=package,
        version=version,
        fix=", ".join(fixes),
        aliases=tuple(aliases),
    )
