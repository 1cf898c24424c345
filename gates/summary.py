"""``gates summary``: one table for a whole rehearsal, from the stages' reports, and where
production now stands."""

from __future__ import annotations

import json
import os
from datetime import datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from gates import run_timings
from gates.report import STEP_SUMMARY_ENV, utc_now
from gates.stages import PIPELINE
from gates.outcome import GateError
from gates.targets import target_for

if TYPE_CHECKING:
    from argparse import Namespace

    from gates.config import PipelineConfig


def key_figure(stage: str, report: dict[str, Any]) -> str:
    details = report.get("details", {})
    checks = {c["name"]: c for c in report.get("checks", [])}
    if report.get("error"):
        return str(report["error"])[:80]
    if stage in ("test", "e2e", "faults") and "tests" in checks:
        return str(checks["tests"]["measured"])
    if stage == "coverage" and "coverage" in checks:
        return str(checks["coverage"]["measured"])
    if stage == "security":
        shown = ("bandit", "secrets", "vulnerabilities")
        figure = "; ".join(
            f"{n}: {c['measured'].split(',')[0]}" for n, c in checks.items() if n in shown
        )
        stale = details.get("stale_sources")
        return f"⚠️ STALE advisories ({', '.join(stale)}); {figure}" if stale else figure
    if stage in ("build", "deploy"):
        return f"release {details.get('release_id', '?')}" + (
            " (already live)" if details.get("noop") else ""
        )
    if stage == "perf" and "summary" in details:
        return f"p95 {details['summary']['p95']:.1f} ms, {details['summary']['errors']} errors"
    if stage == "slo" and "slis" in details:
        slis = details["slis"]
        return (
            f"availability {slis['availability']['sli']:.3%}, "
            f"latency {slis['latency']['sli']:.3%}"
        )
    passed = sum(1 for c in checks.values() if c["passed"])
    return f"{passed}/{len(checks)} checks passed"


def elapsed(report: dict[str, Any]) -> str:
    try:
        seconds = (
            datetime.fromisoformat(report["finished_at"])
            - datetime.fromisoformat(report["started_at"])
        ).total_seconds()
    except (KeyError, ValueError):
        return "?"
    return f"{seconds:.0f} s"


def production_line(config: PipelineConfig) -> str:
    if "production" not in config.environments:
        return "no production environment configured"
    # The summary job in CI reaches no engine (it holds no deploy key): it says why it cannot
    # tell, as it does for a ledger that is missing, and still prints the table.
    try:
        target = target_for(config, "production")
        live = target.live()
    except GateError as exc:  # the engine unreachable, the ledger missing: exit 3 elsewhere
        return f"production: {exc}"
    if live is None:
        return "production: not running"
    health = target.probe("/health")
    state = "healthy" if health.ok else f"UNHEALTHY ({health.status or health.error})"
    return (
        f"production: release {live.release_id} on {urlsplit(target.base_url).netloc}, "
        f"pid {live.server}, {state}"
    )


def write_report(config: PipelineConfig, started: str, details: dict[str, Any]) -> None:
    """``summary.json``: the summary's machine-readable details (``run``: this run's
    timings, in GitHub Actions)."""
    report = {"stage": "summary", "started_at": started, "finished_at": utc_now()}
    path = config.reports_dir / "summary.json"
    path.write_text(json.dumps({**report, "details": details}, indent=2) + "\n")


def run(config: PipelineConfig, args: Namespace) -> int:
    started = utc_now()
    lines = ["| stage | outcome | duration | key figure |", "|---|---|---|---|"]
    for step in PIPELINE:
        if step.report is None:
            continue
        path = config.reports_dir / f"{step.report}.json"
        if not path.is_file():
            lines.append(f"| {step.session} | not run | | |")
            continue
        report = json.loads(path.read_text())
        lines.append(
            f"| {step.session} | {report['outcome']} | {elapsed(report)} | "
            f"{key_figure(step.stage.name, report)} |"
        )
    text = "\n".join(lines) + f"\n\n{production_line(config)}\n"
    # In GitHub Actions: this run's time from push to production and its runner-minutes.
    # Information, never a gate: what cannot be read is said, and the exit code stays.
    this_run, run_details = run_timings.section(config.lint.pipeline_workflow)
    if this_run:
        text += f"\n{this_run}"
    print(text)
    config.reports_dir.mkdir(parents=True, exist_ok=True)
    (config.reports_dir / "rehearsal.md").write_text(text)
    write_report(config, started, {"run": run_details} if run_details else {})
    if os.environ.get(STEP_SUMMARY_ENV):
        with open(os.environ[STEP_SUMMARY_ENV], "a") as handle:
            handle.write("### Pipeline\n\n" + text)
    return 0
