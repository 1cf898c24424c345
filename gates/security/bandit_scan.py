"""bandit over the service and gates code: run it, then parse its JSON report strictly."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from gates.outcome import MeasurementError
from gates.security.findings import Finding, malformed, read_json_report, require
from gates.tools import run_module

if TYPE_CHECKING:
    from gates.config import PipelineConfig

SCANNER = "bandit"
# bandit exits 0 when it found nothing and 1 when it found something; anything else is a crash.
JUDGED = {0, 1}
LEVELS = {"LOW", "MEDIUM", "HIGH", "UNDEFINED"}


def scan(config: PipelineConfig, report_path: Path) -> list[Finding]:
    report_path.unlink(missing_ok=True)  # only this run's report may be judged
    args = ["-r", *config.security.bandit_paths, "-f", "json", "-o", str(report_path), "-q"]
    result = run_module(
        SCANNER, args, cwd=config.root, echo=False, timeout=config.security.scanner_timeout
    )
    return parse(read_json_report(report_path, SCANNER, result, JUDGED))


def parse(data: object) -> list[Finding]:
    """Findings from bandit's JSON; MeasurementError unless it is a complete, clean scan."""
    if not isinstance(data, dict):
        raise malformed(SCANNER, f"top level is {type(data).__name__}, not an object")
    results = require(data, "results", list, SCANNER, "report")
    errors = require(data, "errors", list, SCANNER, "report")
    metrics = require(data, "metrics", dict, SCANNER, "report")
    totals = require(metrics, "_totals", dict, SCANNER, "metrics")
    loc = require(totals, "loc", int, SCANNER, "metrics._totals")
    if errors:
        first = errors[0] if isinstance(errors[0], dict) else {}
        raise MeasurementError(
            f"bandit could not scan {len(errors)} file(s), e.g. "
            f"{str(first.get('filename', '?')).removeprefix('./')}: {first.get('reason', '?')}"
        )
    if len(metrics) < 2 or loc <= 0:
        raise MeasurementError(
            "bandit scanned no code; check [tool.pipeline.security] bandit_paths"
        )
    return [_finding(result, i) for i, result in enumerate(results)]


def _finding(result: object, index: int) -> Finding:
    where = f"results[{index}]"
    severity = require(result, "issue_severity", str, SCANNER, where).upper()
    confidence = require(result, "issue_confidence", str, SCANNER, where).upper()
    if severity not in LEVELS or confidence not in LEVELS:
        raise malformed(SCANNER, f"{where} has severity {severity!r}, confidence {confidence!r}")
    line = require(result, "line_number", int, SCANNER, where)
    return Finding(
        scanner=SCANNER,
        rule_id=require(result, "test_id", str, SCANNER, where),
        title=require(result, "issue_text", str, SCANNER, where),
        severity="UNKNOWN" if severity == "UNDEFINED" else severity,
        confidence="UNKNOWN" if confidence == "UNDEFINED" else confidence,
        path=require(result, "filename", str, SCANNER, where).removeprefix("./"),
        line=line,
    )
