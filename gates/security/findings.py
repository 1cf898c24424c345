"""What the scanners found, in one shape, and reading their JSON reports fail-closed."""

import json
from dataclasses import asdict, dataclass, field

from gates.outcome import MeasurementError

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
    aliases: tuple = ()  # other ids for the same advisory, e.g. a CVE
    status: str = ""  # set by the policy
    note: str = ""  # why the status: waiver reason, expired waiver
    extra: dict = field(default_factory=dict)

    @property
    def location(self):
        if self.package:
            return f"{self.package}=={self.version}"
        return f"{self.path}:{self.line}"

    def to_dict(self):
        return {**asdict(self), "aliases": list(self.aliases), "location": self.location}


def read_json_report(path, scanner, run, judged_codes):
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


def malformed(scanner, what):
    return MeasurementError(f"{scanner}: malformed report: {what}")


def require(container, key, kind, scanner, where):
    """``container[key]`` when it is a ``kind``; MeasurementError otherwise."""
    if not isinstance(container, dict) or key not in container:
        raise malformed(scanner, f"{where} has no {key!r}")
    value = container[key]
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise malformed(scanner, f"{where}.{key} is {type(value).__name__}, not {kind.__name__}")
    return value
