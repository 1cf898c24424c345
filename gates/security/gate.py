"""``gates security``: scan, evaluate against the policy, write JSON, Markdown and SARIF.

bandit over the code, and every advisory source (safety, pip-audit, an OSV directory) over
the pinned runtime requirements. Vulnerabilities are merged across sources and judged by
one policy; a source that could not measure, or whose data is older than its bound
(``max_advisory_age``, or its own in ``max_advisory_age_by_source``), cannot vouch for the
pins: exit 3 under CI, a loud warning elsewhere.
"""

from __future__ import annotations

import os
from functools import partial
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import date, datetime
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING

from gates.outcome import COULD_NOT_MEASURE, ConfigError, MeasurementError
from gates.release import store
from gates.release.source import head_commit
from gates.report import Report, markdown_cell
from gates.release import locked_requirements
from gates.security import bandit_scan, osv_source, pip_audit_scan
from gates.security import policy, safety_audit, sarif, secret_scan, vulnerabilities
from gates.security.advisory_source import SourceResult, in_ci, measured, utc_now
from gates.security.findings import BELOW_THRESHOLD, DEPENDENCY_SOURCES, FAILING, WAIVED, Finding
from gates.release.locked_requirements import Locked
from gates.security.policy import WaiverUse

if TYPE_CHECKING:
    from argparse import ArgumentParser, Namespace

    from gates.config import PipelineConfig, SecurityConfig

MAX_TABLE_ROWS = 100
# Overrides [tool.pipeline.security] advisory_sources, e.g. "safety,osv" on a machine whose
# only advisory data is a mirrored OSV directory.
SOURCES_ENV = "PIPELINE_ADVISORY_SOURCES"


def add_arguments(parser: ArgumentParser) -> None:
    parser.add_argument(
        "--offline",
        action="store_true",
        help="use offline advisory data only (safety's offline database, the OSV directory); "
        "pip-audit does not run, which counts as missing data",
    )
    parser.add_argument(
        "--requirements",
        metavar="FILE",
        help="audit this requirements file (hashes required) instead of the service's locked "
        "dependencies",
    )
    parser.add_argument(
        "--release",
        metavar="ID",
        help="audit the pinned dependencies a built release ships (its verified "
        "requirements.txt; an id, a prefix or latest) instead of the lock's export",
    )
    parser.add_argument(
        "--osv-dir",
        metavar="DIR",
        help="an OSV directory (the PyPA advisory database's layout) to audit against; "
        f"overrides ${osv_source.OSV_DIR_ENV} and osv_dir",
    )


def run(config: PipelineConfig, report: Report, args: Namespace) -> None:
    out = config.state_dir / "security"
    out.mkdir(parents=True, exist_ok=True)
    now = utc_now()
    today = now.date()
    security = config.security

    names = source_names(config)
    audits = _audits(config, args, out, names)
    bandit_findings = bandit_scan.scan(config, out / "bandit.json")
    secrets = secret_scan.scan(config, out)
    locked, release_id = _requirements(config, args, out)
    results = [measured(name, partial(audit, locked)) for name, audit in audits.items()]
    vulns = vulnerabilities.merge([f for r in results for f in r.findings])
    findings = bandit_findings + secrets.findings + vulns
    uses = policy.evaluate(findings, security, today)
    sarif_path = sarif.write(
        out / "security.sarif",
        sarif.build(findings, _versions(results), config.root / "uv.lock"),
    )

    report.add(
        "bandit",
        not _count(bandit_findings, FAILING),
        _summary(bandit_findings),
        f"none with severity >= {security.bandit_fail_severity} and confidence >= "
        f"{security.bandit_fail_confidence}, unless waived",
        f"{', '.join(security.bandit_paths)} -> {out / 'bandit.json'}",
    )
    report.add(
        "secrets",
        not _count(secrets.findings, FAILING),
        f"{_summary(secrets.findings)} in {secrets.files} tracked files; {secrets.baselined} "
        f"reviewed false positives, {secrets.stale} stale baseline entries",
        "no secret in a tracked file unless the baseline has it reviewed as a false positive, "
        "or waived",
        f"{secrets.baseline} -> {out / secret_scan.REPORT}",
    )
    for result in results:
        own = [v for v in vulns if result.name in v.sources]
        report.add(
            result.name,
            not result.error and not _count(own, FAILING),
            result.error or f"{_summary(own)} in {result.packages} pinned packages",
            "answers, with no failing vulnerability",
            result.data_line(now),
        )
    report.add(
        "vulnerabilities",
        not _count(vulns, FAILING),
        _summary(vulns) + f" (merged from {len(results)} sources)",
        f"no known vulnerability (severity {security.dependency_fail_severity}) from any "
        "source, unless waived",
        str(locked.path),
    )
    stale = [r for r in results if r.stale(security.max_age(r.name), now) or r.error]
    report.add(
        "advisory data",
        # on a laptop old data is a warning (the measured value says STALE); under CI it fails
        not stale or not in_ci(),
        _freshness(stale, security, now),
        "every source answered, with data at most "
        + ", ".join(f"{r.name} {security.max_age(r.name)}" for r in results)
        + " days old (exit 3 under CI)",
        "; ".join(r.data_line(now) for r in results),
    )
    commit = _commit(config)
    report.details.update(
        findings=[f.to_dict() for f in findings],
        waivers=[_waiver_row(u, today) for u in uses],
        advisory_sources=[r.to_dict(security.max_age(r.name), now) for r in results],
        stale_sources=[r.name for r in stale],
        max_advisory_age=security.max_advisory_age,
        max_advisory_age_by_source=dict(security.max_advisory_age_by_source),
        packages_audited=max((r.packages for r in results), default=0),
        secrets_files_scanned=secrets.files,
        secrets_baselined=secrets.baselined,
        requirements=str(locked.path),
        release=release_id,
        requirements_sha256=locked.sha256,
        commit=commit[0],
        worktree_dirty=commit[1],
        sarif=str(sarif_path),
    )
    report.sections.append(_findings_markdown(findings))
    report.sections.append(_waivers_markdown(uses, today))
    report.sections.append(_advisory_markdown(results, stale, security, now))
    report.sections.append(f"SARIF for code scanning: `{sarif_path}`\n")
    for use in uses:
        if use.state(today) != "active":
            print(
                f"gates security: waiver {use.waiver.id} ({use.waiver.target}) is "
                f"{use.state(today)}{_expiry_note(use, today)}"
            )
    _judge_data(report, stale, findings, security, now)


def _audits(
    config: PipelineConfig, args: Namespace, out: Path, names: list[str]
) -> dict[str, Callable[[Locked], SourceResult]]:
    """The sources to ask, by name; ConfigError for one that is configured but unusable."""
    osv_dir = osv_source.named_dir(config, args.osv_dir)
    names = list(names)
    if osv_dir is not None and "osv" not in names:
        names.append("osv")
    if "osv" in names and osv_dir is None:
        raise ConfigError(
            f'the advisory sources ({SOURCES_ENV} or advisory_sources) include "osv" but no OSV '
            f"directory is named: set osv_dir, ${osv_source.OSV_DIR_ENV} or --osv-dir"
        )
    audits: dict[str, Callable[[Locked], SourceResult]] = {}
    for name in names:
        if name == "safety":
            audits[name] = lambda locked: safety_audit.audit(
                config, locked.path, out, offline_only=args.offline
            )
        elif name == "pip-audit" and args.offline:
            audits[name] = _not_run_offline
        elif name == "pip-audit":
            audits[name] = lambda locked: pip_audit_scan.audit(config, locked.path, out)
        elif name == "osv" and osv_dir is not None:
            directory = osv_dir
            audits[name] = lambda locked: osv_source.audit(directory, locked.pins)
    return audits


def _not_run_offline(locked: Locked) -> SourceResult:
    """An online source under --offline: no data, which the freshness rule then judges."""
    raise MeasurementError("not run: --offline")


def source_names(config: PipelineConfig, environ: Mapping[str, str] | None = None) -> list[str]:
    """The advisory sources to ask: ``$PIPELINE_ADVISORY_SOURCES`` or advisory_sources."""
    raw = (os.environ if environ is None else environ).get(SOURCES_ENV, "")
    if not raw.strip():
        return list(config.security.advisory_sources)
    names = list(dict.fromkeys(n.strip() for n in raw.split(",") if n.strip()))
    if not names or any(n not in DEPENDENCY_SOURCES for n in names):
        raise ConfigError(
            f"${SOURCES_ENV}={raw!r}: must be a comma-separated list of "
            + ", ".join(DEPENDENCY_SOURCES)
        )
    return names


def _judge_data(
    report: Report,
    stale: Sequence[SourceResult],
    findings: Sequence[Finding],
    security: SecurityConfig,
    now: datetime,
) -> None:
    """A known failing finding fails the gate (exit 1) whatever else happened. Otherwise a
    source that could not measure is exit 3, and so is old data under CI."""
    if not stale or _count(findings, FAILING):
        return
    errors = [r for r in stale if r.error]
    if errors:
        report.fail(COULD_NOT_MEASURE, "; ".join(f"{r.name}: {r.error}" for r in errors))
        return
    # _freshness says "STALE: <which source, how old>"
    detail = _freshness(stale, security, now).removeprefix("STALE: ")
    if in_ci():
        report.fail(COULD_NOT_MEASURE, f"no current advisory data: {detail}")
    else:
        print(
            "gates security: WARNING: could not measure with current advisories: "
            f"{detail} (exit 3 when CI is set)"
        )


def _freshness(stale: Sequence[SourceResult], security: SecurityConfig, now: datetime) -> str:
    if not stale:
        return "current: every source answered"
    parts = [
        (
            f"{r.name} gave no data"
            if r.error
            else f"{r.name} data is {r.age_days(now)} days old (max {security.max_age(r.name)})"
        )
        for r in stale
    ]
    return f"STALE: {'; '.join(parts)}"


def _advisory_markdown(
    results: Sequence[SourceResult],
    stale: Sequence[SourceResult],
    security: SecurityConfig,
    now: datetime,
) -> str:
    lines = ["| advisory source | data | max age (days) |", "|---|---|---|"]
    lines += [
        f"| {r.name} | {markdown_cell(r.data_line(now))} | {security.max_age(r.name)} |"
        for r in results
    ]
    if stale:
        lines += [
            "",
            f"> ⚠️ **Advisory data is not current** ({_freshness(stale, security, now)}). "
            "Vulnerabilities published since are not detected: run where the sources are "
            "reachable, or refresh the offline data (docs/security.md).",
        ]
    return "\n".join(lines) + "\n"


def _commit(config: PipelineConfig) -> tuple[str | None, bool | None]:
    """The commit whose tree was scanned, and whether the tree had uncommitted changes."""
    try:
        commit = head_commit(config.root)
    except ConfigError:
        return None, None
    return commit.sha, commit.dirty


def _requirements(config: PipelineConfig, args: Namespace, out: Path) -> tuple[Locked, str | None]:
    """What to audit, and the release it belongs to (None: the lock's export or a file)."""
    if args.requirements and args.release:
        raise ConfigError("--requirements and --release name two different things to audit")
    if args.release:
        release_dir = store.resolve(config, args.release)
        store.verify(release_dir)
        shipped = locked_requirements.shipped(
            release_dir / "requirements.txt", config.service, out / "requirements.txt"
        )
        return shipped, release_dir.name
    if args.requirements:
        path = Path(args.requirements)
        if not path.is_file():
            raise ConfigError(f"--requirements {path}: no such file")
        return locked_requirements.read(path), None
    export = locked_requirements.export(config.root, config.service, out / "requirements.txt")
    return export, None


def _versions(results: Iterable[SourceResult]) -> dict[str, str]:
    """{scanner: version} of the scanners that ran to the end: each gets a SARIF run."""
    distributions = {"safety": "safety", "pip-audit": "pip-audit", "osv": "sre-pipeline-gates"}
    versions = {name: metadata.version(name) for name in ("bandit", secret_scan.SCANNER)}
    for result in results:
        if not result.error:
            versions[result.name] = metadata.version(distributions[result.name])
    return versions


def _count(findings: Iterable[Finding], status: str) -> int:
    return sum(1 for f in findings if f.status == status)


def _summary(findings: Sequence[Finding]) -> str:
    return (
        f"{_count(findings, FAILING)} failing, {_count(findings, WAIVED)} waived, "
        f"{_count(findings, BELOW_THRESHOLD)} below threshold"
    )


def _expiry_note(use: WaiverUse, today: date) -> str:
    if use.state(today) == "expired":
        return f" (expired {use.waiver.expires}); it no longer waives anything"
    return ": it matches no finding; remove it"


def _waiver_row(use: WaiverUse, today: date) -> dict[str, object]:
    w = use.waiver
    return {
        "scanner": w.scanner,
        "id": w.id,
        "target": w.target,
        "reason": w.reason,
        "expires": w.expires.isoformat(),
        "state": use.state(today),
        "matched": use.matched,
    }


def _findings_markdown(findings: Sequence[Finding]) -> str:
    if not findings:
        return "No findings.\n"
    order = {FAILING: 0, WAIVED: 1, BELOW_THRESHOLD: 2}
    rows = sorted(findings, key=lambda f: (order.get(f.status, 0), f.scanner, f.location))
    lines = [
        "| status | scanner | where | id | severity | fix | finding |",
        "|---|---|---|---|---|---|---|",
    ]
    for f in rows[:MAX_TABLE_ROWS]:
        status = f"**{f.status.upper()}**" if f.status == FAILING else f.status
        severity = f.severity + (f" / {f.confidence}" if f.confidence else "")
        title = f.title[:120] + (f" — {f.note}" if f.note else "")
        cells = [status, f.scanner, f.location, f.rule_id, severity, f.fix or "unknown", title]
        lines.append("| " + " | ".join(markdown_cell(c) for c in cells) + " |")
    if len(rows) > MAX_TABLE_ROWS:
        lines.append(f"\n…and {len(rows) - MAX_TABLE_ROWS} more in the JSON report.")
    return "\n".join(lines) + "\n"


def _waivers_markdown(uses: Sequence[WaiverUse], today: date) -> str:
    if not uses:
        return ""
    lines = ["| waiver | target | expires | state | reason |", "|---|---|---|---|---|"]
    for use in uses:
        w = use.waiver
        cells = [f"{w.scanner} {w.id}", w.target, w.expires, use.state(today), w.reason]
        lines.append("| " + " | ".join(markdown_cell(c) for c in cells) + " |")
    return "\n".join(lines) + "\n"
