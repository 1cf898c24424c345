"""One vulnerability, however many sources reported it: findings about the same pin whose ids
or aliases (CVE, GHSA, PYSEC, pyup) overlap are merged, each listing the sources that saw it."""

from __future__ import annotations

from collections.abc import Sequence

from packaging.utils import canonicalize_name

from gates.security.findings import Finding

RANK = {"LOW": 1, "MEDIUM": 2, "HIGH": 3, "CRITICAL": 4}
# Which id names the merged finding: the most widely known scheme first.
ID_ORDER = ("CVE-", "GHSA-", "PYSEC-")


def ids(finding: Finding) -> set[str]:
    return {i.upper() for i in (finding.rule_id, *finding.aliases) if i}


def merge(findings: Sequence[Finding]) -> list[Finding]:
    """Dependency findings merged by pin and shared id (transitively), in first-seen order."""
    groups: list[list[int]] = []  # indices into findings
    for index, finding in enumerate(findings):
        pin = (canonicalize_name(finding.package), finding.version)
        joined = [
            g
            for g in groups
            if (canonicalize_name(findings[g[0]].package), findings[g[0]].version) == pin
            and any(ids(finding) & ids(findings[i]) for i in g)
        ]
        for group in joined:
            groups.remove(group)
        groups.append(sorted([index, *(i for g in joined for i in g)]))
    groups.sort()
    return [_one([findings[i] for i in g]) for g in groups]


def _primary(all_ids: set[str]) -> str:
    for prefix in ID_ORDER:
        named = sorted(i for i in all_ids if i.startswith(prefix))
        if named:
            return named[0]
    return sorted(all_ids)[0]


def _one(group: list[Finding]) -> Finding:
    first = group[0]
    all_ids = set().union(*(ids(f) for f in group))
    primary = _primary(all_ids)
    known = [f.severity for f in group if f.severity in RANK]
    fixes = list(dict.fromkeys(part for f in group for part in f.fix.split(", ") if part))
    sources = tuple(dict.fromkeys(f.scanner for f in group))
    return Finding(
        scanner=first.scanner,
        rule_id=primary,
        title=next((f.title for f in group if f.title), ""),
        severity=max(known, key=RANK.__getitem__) if known else "UNKNOWN",
        package=first.package,
        version=first.version,
        fix=", ".join(fixes),
        aliases=tuple(sorted(all_ids - {primary})),
        sources=sources,
        extra={"reported_as": {f.scanner: f.rule_id for f in group}},
    )
