"""``gates coverage``: one coverage decision over every suite's data (test and e2e).

Each suite leaves its coverage data in its own directory. This gate needs data from every
configured suite (a missing suite is "could not measure", never a partial pass), combines it
the way nox's own ``cover`` session does (``coverage combine``, which consumes the parts, so a
decision never reuses old data), writes coverage XML and judges the total against
``[tool.coverage.report] fail_under``.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from gates.outcome import MeasurementError
from gates.report import Report
from gates.checks.testsuite import read_coverage
from gates.tools import ToolRun, run_module

if TYPE_CHECKING:
    from argparse import Namespace

    from gates.config import PipelineConfig


def suite_parts(config: PipelineConfig) -> dict[str, Path]:
    """{suite: its data directory}; MeasurementError naming the suites that left none."""
    parts: dict[str, Path] = {s: config.test.coverage_data(s) for s in config.test.suites}
    missing = [
        suite
        for suite, directory in parts.items()
        if not directory.is_dir() or not any(directory.glob(".coverage*"))
    ]
    if missing:
        runs = " and ".join(f"`nox -s {suite}`" for suite in missing)
        raise MeasurementError(
            f"no coverage data from the {', '.join(missing)} suite(s) in "
            f"{config.test.coverage_dir}: run {runs} first (coverage is decided over "
            f"{', '.join(config.test.suites)} together, each run's data used once)"
        )
    return parts


def combined_data(config: PipelineConfig) -> Path:
    return config.test.coverage_dir / ".coverage"


def coverage(config: PipelineConfig, *args: str, echo: bool = False) -> ToolRun:
    data_file = combined_data(config)
    result = run_module(
        "coverage", [args[0], f"--data-file={data_file}", *args[1:]], config.root, echo=echo
    )
    if result.returncode != 0:
        raise MeasurementError(f"coverage {args[0]} exited {result.returncode}: {result.tail(1)}")
    return result


def run(config: PipelineConfig, report: Report, args: Namespace) -> None:
    parts = suite_parts(config)
    combined_data(config).unlink(missing_ok=True)
    config.test.coverage_xml.unlink(missing_ok=True)
    coverage(config, "combine", *(str(directory) for directory in parts.values()))
    coverage(config, "xml", "--fail-under=0", "-o", str(config.test.coverage_xml))
    coverage(config, "report", "--fail-under=0", echo=True)
    totals = read_coverage(config.test.coverage_xml)
    report.details.update(coverage=totals, suites=list(parts))
    threshold = config.test.coverage_fail_under
    report.add(
        "coverage",
        totals["percent"] >= threshold,
        f"{totals['percent']:.2f}% over {' + '.join(parts)}",
        f">= {threshold:g}%",
        config.test.coverage_xml,
    )
