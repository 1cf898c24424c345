"""The test suites (``test``, ``e2e``): pytest judged from its JUnit XML, coverage data kept.

Each suite runs the pytest arguments its config names and leaves its coverage data in its own
directory; ``gates coverage`` combines every suite's data and decides the threshold once.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, TypedDict

# Parses only the reports this gate's own pytest run just wrote, never outside input.
import xml.etree.ElementTree as ET  # nosec B405

from gates.outcome import ConfigError, MeasurementError
from gates.report import Report
from gates.tools import run_module

if TYPE_CHECKING:
    from argparse import Namespace

    from gates.config import PipelineConfig
# pytest's exit codes that mean "ran and judged": 0 all passed, 1 something failed.
JUDGED = {0, 1}
PYTEST_USAGE_ERROR = 4
PYTEST_NO_TESTS = 5
MAX_LISTED_FAILURES = 20


class JunitTotals(TypedDict):
    tests: int
    failures: int
    errors: int
    skipped: int
    passed: int
    failing: list[str]  # test ids, the first MAX_LISTED_FAILURES


def pytest_args(config: PipelineConfig, suite: str, extra_args: Sequence[str]) -> list[str]:
    return [
        *config.test.suite_args(suite),
        f"--junitxml={config.test.junit_xml(suite)}",
        "--cov",
        "--cov-report=",  # the threshold is decided once over all suites: `gates coverage`
        "--cov-fail-under=0",
        *extra_args,
    ]


def run(config: PipelineConfig, report: Report, args: Namespace) -> None:
    suite = args.command
    pytest = pytest_args(config, suite, args.passthrough)
    junit, data = config.test.junit_xml(suite), config.test.coverage_data(suite)
    junit.unlink(missing_ok=True)  # only this run's files may be judged
    shutil.rmtree(data, ignore_errors=True)
    data.mkdir(parents=True)
    # named like a parallel part, so `coverage combine` finds it in the directory
    env = {**os.environ, "COVERAGE_FILE": str(data / f".coverage.{suite}")}
    print(f"gates {suite}: pytest {' '.join(pytest)}", flush=True)
    result = run_module("pytest", pytest, cwd=config.root, env=env)
    if result.returncode == PYTEST_USAGE_ERROR:
        raise ConfigError(f"pytest rejected its arguments: {result.tail(1)}")
    if result.returncode == PYTEST_NO_TESTS:
        raise MeasurementError("pytest collected no tests; a gate that ran nothing cannot pass")
    if result.returncode not in JUDGED:
        raise MeasurementError(f"pytest exited {result.returncode}: {result.tail(1)}")

    tests = read_junit(junit)
    report.details.update(suite=suite, tests=tests, coverage_data=str(data))
    report.add("pytest", result.returncode == 0, f"exit {result.returncode}", "exit 0")
    failed = tests["failures"] + tests["errors"]
    report.add(
        "tests",
        failed == 0,
        f"{tests['passed']} passed, {failed} failed, {tests['skipped']} skipped",
        "0 failed",
        junit,
    )


def _parse(path: Path, what: str) -> ET.Element:
    if not path.is_file():
        raise MeasurementError(f"{what} {path} was not written; pytest did not finish its run")
    try:
        return ET.parse(path).getroot()  # nosec B314
    except ET.ParseError as exc:
        raise MeasurementError(f"{what} {path} is malformed: {exc}") from None


def _int(element: ET.Element, name: str, path: Path) -> int:
    """A count attribute: a whole number >= 0, or MeasurementError."""
    raw = element.get(name, "").strip()
    if not (raw.isascii() and raw.isdigit()):  # "²".isdigit() is true, int("²") fails
        raise MeasurementError(
            f"{path}: <{element.tag}> has no count in its {name!r} attribute (got {raw!r})"
        )
    return int(raw)


def read_junit(path: Path) -> JunitTotals:
    """Totals and failing test ids from a JUnit XML file."""
    root = _parse(path, "JUnit report")
    suites = [root] if root.tag == "testsuite" else root.findall("testsuite")
    if root.tag not in ("testsuite", "testsuites") or not suites:
        raise MeasurementError(f"{path}: no <testsuite> element; not a JUnit report")
    counts = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
    for suite in suites:
        for key in counts:
            counts[key] += _int(suite, key, path)
    if counts["tests"] == 0:
        raise MeasurementError(f"{path}: no tests ran; a gate that ran nothing cannot pass")
    failing = [
        f"{case.get('classname', '')}::{case.get('name', '')}"
        for case in root.iter("testcase")
        if case.find("failure") is not None or case.find("error") is not None
    ]
    passed = counts["tests"] - counts["failures"] - counts["errors"] - counts["skipped"]
    if passed < 0:
        raise MeasurementError(f"{path}: more failed and skipped tests than tests; not trusted")
    return JunitTotals(
        tests=counts["tests"],
        failures=counts["failures"],
        errors=counts["errors"],
        skipped=counts["skipped"],
        passed=passed,
        failing=failing[:MAX_LISTED_FAILURES],
    )


def read_coverage(path: Path) -> dict[str, float]:
    """Total coverage as coverage.py computes it: covered lines and branches over all."""
    root = _parse(path, "coverage report")
    if root.tag != "coverage":
        raise MeasurementError(f"{path}: root element is <{root.tag}>, not <coverage>")
    counts = {
        key: _int(root, key, path)
        for key in ("lines-valid", "lines-covered", "branches-valid", "branches-covered")
    }
    measured = counts["lines-valid"] + counts["branches-valid"]
    if measured == 0:
        raise MeasurementError(f"{path}: no lines were measured; check [tool.coverage.run] source")
    covered = counts["lines-covered"] + counts["branches-covered"]
    return {**counts, "percent": round(100.0 * covered / measured, 2)}
