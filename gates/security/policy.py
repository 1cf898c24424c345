"""One evaluator for every scanner: thresholds, then waivers, fail closed on the unknown."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from fnmatch import fnmatch
from typing import TYPE_CHECKING

from packaging.utils import canonicalize_name

from gates.security.findings import BELOW_THRESHOLD, DEPENDENCY_SOURCES, FAILING, WAIVED, Finding
from gates.security.secret_scan import SCANNER as SECRETS
from gates.security.vulnerabilities import ids

if TYPE_CHECKING:
    from gates.config import SecurityConfig, Waiver

RANK = {"LOW": 1, "MEDIUM": 2, "HIGH": 3, "CRITICAL": 4}


@dataclass
class WaiverUse:
    waiver: Waiver
    matched: int = 0

    def state(self, today: date) -> str:
        if self.waiver.expires < today:
            return "expired"
        return "active" if self.matched else "stale"


def over_threshold(finding: Finding, security: SecurityConfig) -> bool:
    """Whether policy says this finding fails the gate. Unknown severity always does, and so
    does every secret: there is no harmless leaked credential."""
    if finding.scanner == SECRETS:
        return True
    if finding.scanner == "bandit":
        severity = RANK.get(finding.severity, 99)
        confidence = RANK.get(finding.confidence, 99)
        return (
            severity >= RANK[security.bandit_fail_severity]
            and confidence >= RANK[security.bandit_fail_confidence]
        )
    if security.dependency_fail_severity == "ANY":
        return True
    return RANK.get(finding.severity, 99) >= RANK[security.dependency_fail_severity]


def is_vulnerability(finding: Finding) -> bool:
    return finding.scanner in DEPENDENCY_SOURCES


def matches(waiver: Waiver, finding: Finding) -> bool:
    """Whether ``waiver`` accepts ``finding``. A vulnerability waiver matches any of the
    finding's ids, from whichever source reported it."""
    if is_vulnerability(finding):
        if waiver.scanner not in ("dependencies", *DEPENDENCY_SOURCES):
            return False
        known = ids(finding) | {f"PYUP.IO-{i}" for i in ids(finding)}
        return waiver.id.upper() in known and canonicalize_name(waiver.target) == canonicalize_name(
            finding.package
        )
    if waiver.scanner != finding.scanner:
        return False
    if finding.scanner == SECRETS:
        named = (finding.rule_id, finding.extra.get("hashed_secret"))  # its type or its hash
        return waiver.id in named and fnmatch(finding.path, waiver.target)
    return waiver.id == finding.rule_id and fnmatch(finding.path, waiver.target)


def evaluate(findings: Iterable[Finding], security: SecurityConfig, today: date) -> list[WaiverUse]:
    """Set each finding's status and note; return how each waiver was used."""
    uses = [WaiverUse(w) for w in security.waivers]
    for finding in findings:
        matching = [u for u in uses if matches(u.waiver, finding)]
        for use in matching:
            use.matched += 1
        if not over_threshold(finding, security):
            finding.status = BELOW_THRESHOLD
            continue
        active = [u.waiver for u in matching if u.waiver.expires >= today]
        expired = [u.waiver for u in matching if u.waiver.expires < today]
        if active:
            finding.status = WAIVED
            finding.note = f"waived until {active[0].expires}: {active[0].reason}"
        else:
            finding.status = FAILING
            if expired:
                finding.note = f"waiver expired on {expired[0].expires}: {expired[0].reason}"
    return uses
