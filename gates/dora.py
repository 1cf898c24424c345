"""``gates dora``: the four DORA metrics and the deployment success rate, from the ledger.

- deployment frequency: successful deploys per day in the window;
- lead time for changes: commit time (from the build) to the production deploy finishing
  (a commit dated after its deploy finished, a clock or a rewritten date, is left out);
- change failure rate: successful deploys later failed by a gate or rolled back, before the
  next deploy, over all successful deploys;
- time to restore: from the first failure of such a deploy to the next successful rollback
  or deploy finishing;
- deployment success rate: successful / (successful + failed) deploys (the exercise set a
  99.9 % target).

Bands follow the State of DevOps report's thresholds (2021): frequency elite >= 1/day, high
>= 1/week, medium >= 1/month; lead time and time to restore elite < 1 h, high < 1 day (lead
time: < 1 week), medium < 1 week (lead time: < 6 months); change failure rate elite <= 15 %,
high <= 30 %, medium <= 45 %.
"""

from __future__ import annotations

import json
import sqlite3
import statistics
from collections.abc import Sequence
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, TypedDict

from gates.ledger import Ledger
from gates.outcome import MeasurementError
from gates.report import Report
from gates.durations import seconds
from gates.targets import target_for

if TYPE_CHECKING:
    from argparse import ArgumentParser, Namespace

    from gates.config import PipelineConfig
    from gates.config.models import DoraConfig

HOUR, DAY, WEEK = 3600, 86400, 7 * 86400


class Bands(TypedDict):
    deployment_frequency: str
    lead_time: str
    change_failure_rate: str
    time_to_restore: str
    deployment_success_rate: str


class DoraMetrics(TypedDict):
    """What ``compute`` measures; None where the window has no data for a metric."""

    environment: str
    window_days: float
    deployments: int
    failed_deployments: int
    deployment_frequency_per_day: float
    lead_time_seconds: float | None
    change_failure_rate: float | None
    failed_changes: int
    time_to_restore_seconds: float | None
    deployment_success_rate: float | None
    bands: Bands


def add_arguments(parser: ArgumentParser) -> None:
    parser.add_argument(
        "--window", help="e.g. 7d, 30d, 12h (default: [tool.pipeline.dora] window, 30d)"
    )


def when(text: str) -> datetime:
    return datetime.fromisoformat(text)


def band(value: float | None, limits: Sequence[float], higher_is_better: bool = False) -> str:
    """The first band whose limit the value meets, from elite down; low otherwise."""
    if value is None:
        return "no data"
    for name, limit in zip(("elite", "high", "medium"), limits):
        if (value >= limit) if higher_is_better else (value < limit):
            return name
    return "low"


def compute(ledger: Ledger, environment: str, now: datetime, window_seconds: float) -> DoraMetrics:
    since = now - timedelta(seconds=window_seconds)
    rows = [r for r in ledger.deploys(environment) if when(r["started_at"]) >= since]
    gates: list[sqlite3.Row] = ledger.db.execute(
        "SELECT * FROM gate_results WHERE environment = ? AND exit_code != 0 ORDER BY id",
        (environment,),
    ).fetchall()
    deploys = [r for r in rows if r["kind"] == "deploy"]
    succeeded = [r for r in deploys if r["state"] == "succeeded"]
    failed = [r for r in deploys if r["state"] == "failed"]

    lead_times: list[float] = []
    for row in succeeded:
        build = ledger.build(row["release_id"])
        lead = (
            (when(row["finished_at"]) - when(build["commit_time"])).total_seconds()
            if build is not None
            else None
        )
        if lead is not None and lead >= 0:  # a commit dated after its deploy is no lead time
            lead_times.append(lead)

    failures = 0
    restores: list[float] = []
    for row in succeeded:
        finished = when(row["finished_at"])
        later = [r for r in rows if r["id"] > row["id"]]
        next_deploy = next((r for r in later if r["kind"] == "deploy"), None)
        until = when(next_deploy["started_at"]) if next_deploy else now
        key = _key(row)
        broke = [
            when(g["recorded_at"])
            for g in gates
            if g["deployment"] == key and finished <= when(g["recorded_at"]) <= until
        ]
        rollbacks = [r for r in later if r["kind"] == "rollback" and when(r["started_at"]) <= until]
        if not broke and not rollbacks:
            continue
        failures += 1
        failed_at = min(broke) if broke else when(rollbacks[0]["started_at"])
        restored = next(
            (
                when(r["finished_at"])
                for r in later
                if r["state"] == "succeeded" and when(r["finished_at"]) >= failed_at
            ),
            None,
        )
        if restored is not None:
            restores.append((restored - failed_at).total_seconds())

    days = window_seconds / DAY
    frequency = len(succeeded) / days
    lead = statistics.median(lead_times) if lead_times else None
    cfr = failures / len(succeeded) if succeeded else None
    restore = statistics.median(restores) if restores else None
    attempts = len(succeeded) + len(failed)
    success = len(succeeded) / attempts if attempts else None
    return {
        "environment": environment,
        "window_days": round(days, 3),
        "deployments": len(succeeded),
        "failed_deployments": len(failed),
        "deployment_frequency_per_day": frequency,
        "lead_time_seconds": lead,
        "change_failure_rate": cfr,
        "failed_changes": failures,
        "time_to_restore_seconds": restore,
        "deployment_success_rate": success,
        "bands": {
            "deployment_frequency": (
                band(frequency, (1, 1 / 7, 1 / 30), True) if succeeded else "no data"
            ),
            "lead_time": band(lead, (HOUR, WEEK, 183 * DAY)),
            "change_failure_rate": band(cfr, (0.1500001, 0.3000001, 0.4500001)),
            "time_to_restore": band(restore, (HOUR, DAY, WEEK)),
            "deployment_success_rate": (
                "no data"
                if success is None
                else ("meets 99.9 %" if success >= 0.999 else "below 99.9 %")
            ),
        },
    }


def _key(row: sqlite3.Row) -> str | None:
    key: str | None = json.loads(row["config"]).get("key")
    return key


def duration(value: float | None) -> str:
    if value is None:
        return "no data"
    if value < 120:
        return f"{value:.1f} s"
    if value < 2 * HOUR:
        return f"{value / 60:.1f} min"
    if value < 2 * DAY:
        return f"{value / HOUR:.1f} h"
    return f"{value / DAY:.1f} days"


def percent(value: float | None) -> str:
    return "no data" if value is None else f"{value:.1%}"


def run(config: PipelineConfig, report: Report, args: Namespace) -> None:
    policy = config.dora
    window_text = args.window or policy.window
    window = seconds(window_text, "--window")
    metrics = compute(
        target_for(config, args.environment).ledger,
        args.environment,
        datetime.now(timezone.utc),
        window,
    )
    bands = metrics["bands"]
    rows = [
        (
            "deployment frequency",
            f"{metrics['deployment_frequency_per_day']:.2f}/day "
            f"({metrics['deployments']} in {metrics['window_days']:g} days)",
            bands["deployment_frequency"],
        ),
        (
            "lead time for changes (median)",
            duration(metrics["lead_time_seconds"]),
            bands["lead_time"],
        ),
        (
            "change failure rate",
            f"{percent(metrics['change_failure_rate'])} "
            f"({metrics['failed_changes']} of {metrics['deployments']})",
            bands["change_failure_rate"],
        ),
        (
            "time to restore (median)",
            duration(metrics["time_to_restore_seconds"]),
            bands["time_to_restore"],
        ),
        (
            "deployment success rate",
            f"{percent(metrics['deployment_success_rate'])} "
            f"({metrics['failed_deployments']} failed)",
            bands["deployment_success_rate"],
        ),
    ]
    print(f"DORA metrics for {args.environment}, last {window_text}:")
    for name, value, level in rows:
        print(f"  {name:<32} {value:<36} {level}")
    report.details.update(metrics)
    report.sections.append(
        "| metric | value | band |\n|---|---|---|\n"
        + "\n".join(f"| {name} | {value} | {level} |" for name, value, level in rows)
        + "\n"
    )
    judge(report, metrics, policy)


def judge(report: Report, metrics: DoraMetrics, policy: DoraConfig) -> None:
    """The targets of [tool.pipeline.dora]; a window without a deploy decides nothing."""
    success, cfr = metrics["deployment_success_rate"], metrics["change_failure_rate"]
    if success is None or cfr is None:
        raise MeasurementError(
            f"no deploy of {metrics['environment']} recorded in the last "
            f"{metrics['window_days']:g} days: nothing to measure (deploy, or widen --window)"
        )
    report.add(
        "deployment success rate",
        success >= policy.min_success_rate,
        f"{success:.2%} ({metrics['failed_deployments']} failed)",
        f">= {policy.min_success_rate:.2%}",
        "[tool.pipeline.dora] min_success_rate",
    )
    report.add(
        "change failure rate",
        cfr <= policy.max_change_failure_rate,
        f"{cfr:.1%} ({metrics['failed_changes']} of {metrics['deployments']})",
        f"<= {policy.max_change_failure_rate:.0%}",
        "[tool.pipeline.dora] max_change_failure_rate",
    )
    restore, most = metrics["time_to_restore_seconds"], seconds(policy.max_time_to_restore)
    if metrics["failed_changes"]:
        report.add(
            "time to restore (median)",
            restore is not None and restore <= most,
            duration(restore) if restore is not None else "never restored",
            f"<= {policy.max_time_to_restore}",
            "[tool.pipeline.dora] max_time_to_restore",
        )
