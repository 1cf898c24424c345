"""SARIF 2.1.0 for GitHub code scanning: one run per scanner, waived findings suppressed.

A vulnerability several advisory sources reported appears in each of their runs, under the
id that source gave it, with the others' ids as properties.
"""

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from gates.security.findings import Finding

SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
TOOL_URIS = {
    "bandit": "https://bandit.readthedocs.io/",
    "safety": "https://github.com/pyupio/safety",
    "pip-audit": "https://github.com/pypa/pip-audit",
    "osv": "https://ossf.github.io/osv-schema/",
    "detect-secrets": "https://github.com/Yelp/detect-secrets",
}
LEVELS = {"failing": "error", "waived": "error", "below threshold": "warning"}


def lock_lines(lock_path: Path) -> dict[str, int]:
    """{package: line} of each package entry in uv.lock, to point dependency findings at."""
    lines: dict[str, int] = {}
    if lock_path.is_file():
        for number, text in enumerate(lock_path.read_text().splitlines(), start=1):
            if text.startswith('name = "'):
                lines.setdefault(text.split('"')[1].lower(), number)
    return lines


def _location(
    finding: Finding, lock_path: Path, package_lines: Mapping[str, int]
) -> dict[str, Any]:
    if finding.package:
        uri, line = lock_path.name, package_lines.get(finding.package.lower(), 1)
    else:
        uri, line = finding.path, max(finding.line, 1)
    return {"physicalLocation": {"artifactLocation": {"uri": uri}, "region": {"startLine": line}}}


def _rule_id(finding: Finding, scanner: str) -> str:
    reported = finding.extra.get("reported_as", {})
    return str(reported.get(scanner, finding.rule_id))


def _result(
    finding: Finding, scanner: str, lock_path: Path, package_lines: Mapping[str, int]
) -> dict[str, Any]:
    text = f"{finding.title} ({finding.location}, severity {finding.severity})"
    if finding.fix:
        text += f"; fixed in {finding.fix}"
    result: dict[str, Any] = {
        "ruleId": _rule_id(finding, scanner),
        "level": LEVELS.get(finding.status, "error"),
        "message": {"text": text},
        "locations": [_location(finding, lock_path, package_lines)],
    }
    if finding.status == "waived":
        result["suppressions"] = [{"kind": "external", "justification": finding.note}]
    if finding.aliases or len(finding.sources) > 1:
        result["properties"] = {"aliases": list(finding.aliases), "sources": list(finding.sources)}
    return result


def build(
    findings: Sequence[Finding], scanners: Mapping[str, str], lock_path: Path
) -> dict[str, Any]:
    """The SARIF document: ``scanners`` is {name: version}; every scanner gets a run."""
    package_lines = lock_lines(lock_path)
    runs: list[dict[str, Any]] = []
    for name, version in scanners.items():
        own = [f for f in findings if name in (f.sources or (f.scanner,))]
        rules = {_rule_id(f, name): f.title for f in own}
        runs.append(
            {
                "tool": {
                    "driver": {
                        "name": name,
                        "version": version,
                        "informationUri": TOOL_URIS[name],
                        "rules": [
                            {"id": rule, "shortDescription": {"text": title[:200]}}
                            for rule, title in sorted(rules.items())
                        ],
                    }
                },
                "results": [_result(f, name, lock_path, package_lines) for f in own],
            }
        )
    return {"$schema": SCHEMA, "version": "2.1.0", "runs": runs}


def write(path: Path, document: Mapping[str, Any]) -> Path:
    path.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    return path
