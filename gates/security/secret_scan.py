"""detect-secrets over the git-tracked tree, judged against the committed baseline.

Contract:

- Scans exactly the files ``git ls-files`` lists in the project root, which must be the top of
  a git work tree (detect-secrets matches tracked files from the top only), with the
  baseline's own plugin and filter settings, and never verifies a secret over the network
  (``--no-verify``: verification would send candidate secrets to their services).
- The committed baseline is read, never written: detect-secrets runs against a copy holding
  only its settings, which it overwrites with this run's results (``detect-secrets.json``).
- A secret is accepted only when the baseline lists it (same file, hashed secret and type)
  with ``is_secret: false``, i.e. reviewed with ``detect-secrets audit`` as a false positive.
  Every other secret is a HIGH finding, for the policy and its waivers.
- No secret value leaves detect-secrets: its report and the findings carry hashes only.

A missing or malformed baseline is a ConfigError (exit 2); a crash, a timeout, a missing or
malformed report, no git work tree or no tracked files is a MeasurementError (exit 3).
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from gates.outcome import ConfigError, MeasurementError
from gates.security.findings import Finding, malformed, read_json_report, require
from gates.tools import ToolRun, executable, run_tool

if TYPE_CHECKING:
    from gates.config import PipelineConfig

T = TypeVar("T")

SCANNER = "detect-secrets"
REPORT = "detect-secrets.json"
# detect-secrets exits 0 after a scan whatever it found; anything else is a crash.
JUDGED = {0}
SEVERITY = "HIGH"  # a leaked credential is never minor
NOT_REVIEWED = "in the baseline but not reviewed as a false positive: run detect-secrets audit"
MARKED_REAL = "marked as a real secret in the baseline: remove and rotate it"

Key = tuple[str, str, str]  # (filename, hashed_secret, type): how the baseline names a secret

# detect-secrets' own CLI, with its files scanned one after another in its one process. Its
# scan_files forks a multiprocessing Pool, and the Pool's terminate on the way out can wait
# forever on a worker blocked on the task queue's lock: seen in CI, 17 minutes and counting.
# The same scan_file per file gives the same results (checked on this repository: 21 of 21)
# in 5.9 s instead of 3.7 s on two cores, and a timeout then stops the one process there is.
ONE_PROCESS_CLI = """\
import sys
from detect_secrets.core.secrets_collection import SecretsCollection
from detect_secrets.main import main
def one_by_one(self, *filenames, num_processors=None):
    for filename in filenames:
        self.scan_file(filename)
SecretsCollection.scan_files = one_by_one
sys.exit(main(sys.argv[1:]))
"""


def scanner_command() -> list[str]:
    """How to run detect-secrets' CLI: the session's interpreter with it installed."""
    executable(SCANNER)  # MeasurementError, saying so, when it is not installed here
    return [sys.executable, "-c", ONE_PROCESS_CLI]


@dataclass
class SecretScan:
    findings: list[Finding]  # secrets not accepted by the baseline
    files: int  # tracked files scanned
    baselined: int  # secrets the baseline accepts as reviewed false positives
    baseline: str  # the baseline, relative to the project root
    stale: int = 0  # baseline entries this scan no longer finds


@dataclass
class Detected:
    """One secret in detect-secrets' report: where, what kind, and its hash (never its value)."""

    filename: str
    type: str
    hashed_secret: str
    line: int

    @property
    def key(self) -> Key:
        return (self.filename, self.hashed_secret, self.type)


def scan(config: PipelineConfig, out_dir: Path) -> SecretScan:
    root = config.root
    baseline_path = config.security.secrets_baseline
    name = _relative(baseline_path, root)
    baseline = read_baseline(baseline_path, name)
    entries = baseline_entries(baseline, name)
    files = tracked_files(root, config.security.scanner_timeout)

    report = out_dir / REPORT
    report.unlink(missing_ok=True)  # only this run's report may be judged
    # The baseline without its results (and without generated_at, which only detect-secrets
    # writing this run's results over it puts back): its settings, for a comparable scan.
    settings = {k: v for k, v in baseline.items() if k not in ("results", "generated_at")}
    report.write_text(json.dumps({**settings, "results": {}}, indent=2) + "\n", encoding="utf-8")
    argv = [*scanner_command(), "scan", "--no-verify", "--baseline", str(report), "."]
    result = run_tool(SCANNER, argv, cwd=root, echo=False, timeout=config.security.scanner_timeout)
    if result.returncode not in JUDGED:
        raise MeasurementError(f"{SCANNER} exited {result.returncode}: {_cause(result.output)}")
    # detect-secrets skips its baseline only when scanned in place; the hashes it holds
    # look like secrets themselves, so its results for the baseline file are dropped here.
    detected = [
        d for d in parse(read_json_report(report, SCANNER, result, JUDGED)) if d.filename != name
    ]
    return judge(detected, entries, files, name)


def _git(root: Path, timeout: float, *args: str) -> ToolRun:
    return run_tool("git", ["git", *args], root, echo=False, timeout=timeout, separate_stderr=True)


def tracked_files(root: Path, timeout: float) -> int:
    """How many files git tracks in ``root``; MeasurementError unless it is a work tree's top."""
    top = _git(root, timeout, "rev-parse", "--show-toplevel")
    if top.returncode != 0:
        raise MeasurementError(
            f"{SCANNER}: {root} is not a git work tree; the secret scan covers tracked files "
            "only, so run it in a git checkout"
        )
    if Path(top.output.strip()).resolve() != root.resolve():
        raise MeasurementError(
            f"{SCANNER}: {root} is inside the git work tree {top.output.strip()}, not its top; "
            "detect-secrets matches tracked files from the top only"
        )
    listed = _git(root, timeout, "ls-files", "-z")
    if listed.returncode != 0:
        raise MeasurementError(f"git ls-files exited {listed.returncode}: {listed.stderr.strip()}")
    count = len([f for f in listed.output.split("\0") if f])
    if count == 0:
        raise MeasurementError(f"{SCANNER}: git tracks no files in {root}; nothing to scan")
    return count


def read_baseline(path: Path, name: str) -> dict[str, object]:
    """The committed baseline's JSON; ConfigError when it is missing or not a baseline."""
    if not path.is_file():
        raise ConfigError(
            f"no secrets baseline {name} ([tool.pipeline.security] secrets_baseline): create "
            f"it with `detect-secrets scan -n > {name}`, review it with `detect-secrets audit "
            f"{name}` and commit it"
        )
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise _bad_baseline(name, f"not valid JSON ({exc})") from None
    if not isinstance(data, dict):
        raise _bad_baseline(name, f"top level is {type(data).__name__}, not an object")
    _baseline_field(data, "version", str, name, "baseline")
    _baseline_field(data, "plugins_used", list, name, "baseline")
    _baseline_field(data, "filters_used", list, name, "baseline")
    return data


def baseline_entries(baseline: dict[str, object], name: str) -> dict[Key, bool | None]:
    """Each secret the baseline lists and its review: False (false positive), True (real
    secret) or None (not reviewed yet)."""
    results = _baseline_field(baseline, "results", dict, name, "baseline")
    entries: dict[Key, bool | None] = {}
    for filename, secrets in results.items():
        where = f"results[{filename!r}]"
        if not isinstance(secrets, list):
            raise _bad_baseline(name, f"{where} is {type(secrets).__name__}, not a list")
        for index, secret in enumerate(secrets):
            at = f"{where}[{index}]"
            key = (
                filename,
                _baseline_field(secret, "hashed_secret", str, name, at),
                _baseline_field(secret, "type", str, name, at),
            )
            review = secret.get("is_secret")
            if review is not None and not isinstance(review, bool):
                raise _bad_baseline(name, f"{at}.is_secret is {review!r}, not true or false")
            entries[key] = review
    return entries


def parse(data: object) -> list[Detected]:
    """The secrets in detect-secrets' report; MeasurementError unless it is this run's."""
    if not isinstance(data, dict):
        raise malformed(SCANNER, f"top level is {type(data).__name__}, not an object")
    # The copy it scanned against has no generated_at: a report without one is not this run's.
    require(data, "generated_at", str, SCANNER, "report")
    results = require(data, "results", dict, SCANNER, "report")
    detected = []
    for filename, secrets in results.items():
        where = f"results[{filename!r}]"
        if not isinstance(secrets, list):
            raise malformed(SCANNER, f"{where} is {type(secrets).__name__}, not a list")
        for index, secret in enumerate(secrets):
            at = f"{where}[{index}]"
            if require(secret, "filename", str, SCANNER, at) != filename:
                raise malformed(SCANNER, f"{at}.filename is not {filename!r}")
            detected.append(
                Detected(
                    filename=filename,
                    type=require(secret, "type", str, SCANNER, at),
                    hashed_secret=require(secret, "hashed_secret", str, SCANNER, at),
                    line=require(secret, "line_number", int, SCANNER, at),
                )
            )
    return detected


def judge(
    detected: list[Detected], entries: dict[Key, bool | None], files: int, baseline: str
) -> SecretScan:
    """Accept what the baseline reviewed as a false positive; every other secret is a finding."""
    findings = []
    accepted: set[Key] = set()
    for secret in detected:
        note = ""
        if secret.key in entries:
            review = entries[secret.key]
            if review is False:
                accepted.add(secret.key)
                continue
            note = MARKED_REAL if review else f"{NOT_REVIEWED} {baseline}"
        findings.append(
            Finding(
                scanner=SCANNER,
                rule_id=secret.type,
                title=f"{secret.type} in tracked file",
                severity=SEVERITY,
                path=secret.filename,
                line=secret.line,
                note=note,
                extra={"hashed_secret": secret.hashed_secret},
            )
        )
    stale = sum(1 for key, review in entries.items() if review is False and key not in accepted)
    return SecretScan(findings, files, len(accepted), baseline, stale)


def _cause(output: str) -> str:
    """detect-secrets' own error line (it logs one before a traceback), else its last line;
    e.g. a baseline naming a plugin this version does not have."""
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    said = [line.split("\t")[-1] for line in lines if "ERROR\t" in line or line[:6] == "error:"]
    if said:
        return said[0]
    return lines[-1] if lines else "no output"


def _relative(path: Path, root: Path) -> str:
    return os.path.relpath(path, root) if path.is_absolute() else str(path)


def _bad_baseline(name: str, what: str) -> ConfigError:
    return ConfigError(
        f"{name} is not a detect-secrets baseline: {what}; recreate it with "
        f"`detect-secrets scan -n > {name}` and review it with `detect-secrets audit {name}`"
    )


def _baseline_field(container: object, key: str, kind: type[T], name: str, where: str) -> T:
    if not isinstance(container, dict) or not isinstance(container.get(key), kind):
        raise _bad_baseline(name, f"{where} has no {key!r} of type {kind.__name__}")
    value: T = container[key]
    return value
