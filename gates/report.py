"""Gate reports: a JSON file for machines, a short Markdown summary for people.

Both land in ``<state_dir>/reports/<stage>.{json,md}``; the Markdown is also appended to
``$GITHUB_STEP_SUMMARY`` when that is set, so each CI job shows its gate's verdict.
"""

import json
import os
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from gates.outcome import FAILED, OUTCOME_NAMES, PASSED

STEP_SUMMARY_ENV = "GITHUB_STEP_SUMMARY"
ICONS = {PASSED: "✅", FAILED: "❌"}


def utc_now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


@dataclass
class Check:
    """One judged measurement: what was measured, the limit, and where the data came from."""

    name: str
    passed: bool
    measured: str
    limit: str = ""
    source: str = ""


@dataclass
class Report:
    stage: str
    checks: list[Check] = field(default_factory=list)
    # Set when the gate could not judge; overrides the checks.
    error: str = ""
    error_code: int = 0
    # JSON-ready data for machines; each gate puts its own measurements here.
    details: dict[str, Any] = field(default_factory=dict)
    # Extra Markdown (tables of findings, notes) shown after the checks.
    sections: list[str] = field(default_factory=list)
    started_at: str = field(default_factory=utc_now)

    def add(
        self, name: str, passed: bool, measured: object, limit: object = "", source: object = ""
    ) -> None:
        self.checks.append(Check(name, bool(passed), str(measured), str(limit), str(source)))

    def fail(self, exit_code: int, message: str) -> None:
        """Record that the gate could not judge (exit 2 or 3) and why."""
        self.error_code, self.error = exit_code, message

    @property
    def exit_code(self) -> int:
        if self.error:
            return self.error_code
        if not self.checks:
            # A gate that checked nothing has not passed.
            return 3
        return PASSED if all(c.passed for c in self.checks) else FAILED

    @property
    def outcome(self) -> str:
        return OUTCOME_NAMES[self.exit_code]

    def to_dict(self) -> dict[str, Any]:
        return {
            "stage": self.stage,
            "outcome": self.outcome,
            "exit_code": self.exit_code,
            "error": self.error or None,
            "started_at": self.started_at,
            "finished_at": utc_now(),
            "checks": [asdict(c) for c in self.checks],
            "details": self.details,
        }

    def to_markdown(self) -> str:
        icon = ICONS.get(self.exit_code, "⚠️")
        lines = [f"### {icon} {self.stage}: {self.outcome}", ""]
        if self.error:
            lines += [f"**Could not judge:** {self.error}", ""]
        elif not self.checks:
            lines += ["**No checks ran**, so nothing passed.", ""]
        if self.checks:
            lines += ["| check | result | measured | limit | source |", "|---|---|---|---|---|"]
            for c in self.checks:
                verdict = "pass" if c.passed else "**FAIL**"
                cells = [c.name, verdict, c.measured, c.limit, c.source]
                lines.append("| " + " | ".join(markdown_cell(x) for x in cells) + " |")
            lines.append("")
        lines += [section for section in self.sections if section]
        return "\n".join(lines)

    def write(self, reports_dir: str | Path, name: str | None = None) -> tuple[Path, Path]:
        """Write the JSON and Markdown files (``<name or stage>.{json,md}``); their paths."""
        reports_dir = Path(reports_dir)
        reports_dir.mkdir(parents=True, exist_ok=True)
        json_path = reports_dir / f"{name or self.stage}.json"
        md_path = reports_dir / f"{name or self.stage}.md"
        markdown = self.to_markdown()
        _atomic_write(json_path, json.dumps(self.to_dict(), indent=2) + "\n")
        _atomic_write(md_path, markdown)
        summary = os.environ.get(STEP_SUMMARY_ENV)
        if summary:
            with open(summary, "a", encoding="utf-8") as handle:
                handle.write(markdown + "\n")
        return json_path, md_path


def markdown_cell(text: object) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ") or " "


def _atomic_write(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)
