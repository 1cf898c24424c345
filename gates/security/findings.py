"""What the scanners found, in one shape, and reading their JSON reports fail-closed."""

import json
from collections.abc import Container
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from gates.outcome import MeasurementError
from gates.tools import ToolRun

T = TypeVar("T")

# The advisory sources: their findings are about a pinned package, merged across sources.
DEPENDENCY_SOURCES = ("safety", "pip-audit", "osv")

FAILING = "failing"
WAIVED = "waived"
BELOW_THRESHOLD = "below threshold"


@dataclass
class Finding:
    scanner: str
    rule_id: str
    title: str
    severity: str  # LOW, MEDIUM, HIGH, CRITICAL, or UNKNOWN
    confidence: str = ""  # bandit only
    path: str = ""  # bandit: file relative to the repository root
    line: int = 0
    package: str = ""  # safety: the vulnerable distribution
    version: str = ""
    fix: str = ""  # the fixed version, when known
    aliases: tuple[str, ...] = ()  # other ids for the same advisory, e.g. a CVE
    sources: tuple[str, ...] = ()  # advisory sources that reported it (merged findings)
    status: str = ""  # set by the policy
    note: str = ""  # why the status: waiver reason, expired waiver
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def location(self) -> str:
        if self.package:
            return f"{self.package}=={self.version}"
        return f"{self.path}:{self.line}"

    def to_dict(self) -> dict[str, Any]:
        return {
            **asdict(self),
            "aliases": list(self.aliases),
            "sources": list(self.sources or (self.scanner,)),
            "location": self.location,
        }


def read_json_report(
    path: Path, scanner: str, run: ToolRun, judged_codes: Container[int]
) -> object:
    """The report of a scanner ``run``, or MeasurementError naming the scanner and the cause.

    Fails when the scanner exited with a code outside ``judged_codes`` (it crashed), or left
    a missing, empty or unparseable report.
    """
    last_words = run.tail(1) or "no output"
    if run.returncode not in judged_codes:
        raise MeasurementError(f"{scanner} exited {run.returncode}: {last_words}")
    if not path.is_file():
        raise MeasurementError(
            f"{scanner} exited {run.returncode} but wrote no report {path}: {last_words}"
        )
    text = path.read_text(encoding="utf-8", errors="replace")
    if not text.strip():
        raise MeasurementError(f"{scanner}: report {path} is empty")
    try:
        return json.loads(text)
    except ValueError as exc:
        raise MeasurementError(f"{scanner}: report {path} is not valid JSON ({exc})") from None


def malformed(scanner: str, what: str) -> MeasurementError:
    return MeasurementError(f"{scanner}: malformed report: {what}")


def require(container: object, key: str, kind: type[T], scanner: str, where: str) -> T:
    """``container[key]`` when it is a ``kind``; MeasurementError otherwise."""
    if not isinstance(container, dict) or key not in container:
        raise malformed(scanner, f"{where} has no {key!r}")
    value = container[key]
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise malformed(scanner, f"{where}.{key} is {type(value).__name__}, not {kind.__name__}")
    return value
