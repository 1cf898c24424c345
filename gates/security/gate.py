"""``gates security``: scan, evaluate against the policy, write JSON, Markdown and SARIF."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date, datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING

from gates.outcome import ConfigError
from gates.security import bandit_scan, dependency_audit, policy, sarif
from gates.report import Report, markdown_cell
from gates.security.dependency_audit import Audit
from gates.security.findings import BELOW_THRESHOLD, FAILING, WAIVED, Finding
from gates.security.policy import WaiverUse

if TYPE_CHECKING:
    from argparse import ArgumentParser, Namespace

    from gates.config import PipelineConfig

MAX_TABLE_ROWS = 100


def add_arguments(parser: ArgumentParser) -> None:
    parser.add_argument(
        "--offline",
        action="store_true",
        help="skip the online advisory service and use the offline database",
    )
    parser.add_argument(
        "--requirements",
        metavar="FILE",
        help="audit this requirements file instead of the service's locked dependencies",
    )


def run(config: PipelineConfig, report: Report, args: Namespace) -> None:
    out = config.state_dir / "security"
    out.mkdir(parents=True, exist_ok=True)
    today = datetime.now(timezone.utc).date()

    bandit_findings = bandit_scan.scan(config, out / "bandit.json")
    requirements = _requirements(config, args, out)
    audit = dependency_audit.audit(
        config, requirements, out / "safety.json", offline_only=args.offline
    )
    safety_findings = audit.findings
    findings = bandit_findings + safety_findings
    uses = policy.evaluate(findings, config.security, today)
    sarif_path = sarif.write(
        out / "security.sarif",
        sarif.build(findings, _versions(), config.root / "uv.lock"),
    )

    security = config.security
    report.add(
        "bandit",
        not _count(bandit_findings, FAILING),
        _summary(bandit_findings),
        f"none with severity >= {security.bandit_fail_severity} and confidence >= "
        f"{security.bandit_fail_confidence}, unless waived",
        f"{', '.join(security.bandit_paths)} -> {out / 'bandit.json'}",
    )
    report.add(
        "safety",
        not _count(safety_findings, FAILING),
        _summary(safety_findings) + f" in {audit.packages} locked packages",
        f"no known vulnerability (severity {security.safety_fail_severity}), unless waived",
        audit.advisory,
    )
    report.details.update(
        findings=[f.to_dict() for f in findings],
        waivers=[_waiver_row(u, today) for u in uses],
        advisory_data=audit.advisory,
        advisory_offline=audit.offline,
        packages_audited=audit.packages,
        requirements=str(requirements),
        sarif=str(sarif_path),
    )
    report.sections.append(_findings_markdown(findings))
    report.sections.append(_waivers_markdown(uses, today))
    report.sections.append(_advisory_markdown(audit, sarif_path))
    for use in uses:
        if use.state(today) != "active":
            print(
                f"gates security: waiver {use.waiver.id} ({use.waiver.target}) is "
                f"{use.state(today)}{_expiry_note(use, today)}"
            )


def _advisory_markdown(audit: Audit, sarif_path: Path) -> str:
    if audit.offline:
        note = (
            f"> ⚠️ **Advisory data: {audit.advisory}.** Vulnerabilities published after it "
            "are not detected; run with internet access, or name a fresher database."
        )
    else:
        note = f"Advisory data: {audit.advisory}."
    return f"{note}\n\nSARIF for code scanning: `{sarif_path}`\n"


def _requirements(config: PipelineConfig, args: Namespace, out: Path) -> Path:
    if args.requirements:
        path = Path(args.requirements)
        if not path.is_file():
            raise ConfigError(f"--requirements {path}: no such file")
        return path
    return dependency_audit.export_requirements(config, out / "requirements.txt")


def _versions() -> dict[str, str]:
    return {name: metadata.version(name) for name in ("bandit", "safety")}


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
