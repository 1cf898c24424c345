"""``gates rollback``: return an environment to the last release that was good there.

Good: a deployment (release plus its config) that succeeded there and failed no gate there.
The release already installed in the environment is used, with the deployment config
recorded with that deploy, so code and config return together: rolling back a bad config
push to the same release works. The deployment rolled back from is recorded as failed
(gate ``rollback``), so it is never a rollback target itself.
"""

import json
import sqlite3
from argparse import ArgumentParser, Namespace

from gates.config import PipelineConfig
from gates.targets.request import DeployFailed, DeployRequest, ServiceConfig
from gates.report import Report
from gates.targets import Target, target_for
from gates.targets.base import LiveDeployment


def add_arguments(parser: ArgumentParser) -> None:
    parser.add_argument("--reason", required=True, help="why (recorded in the ledger)")


def run(config: PipelineConfig, report: Report, args: Namespace) -> None:
    target = target_for(config, args.environment)
    with target.hold() as live:
        roll_back(config, target, report, live, args.reason)


def roll_back(
    config: PipelineConfig,
    target: Target,
    report: Report,
    live: LiveDeployment | None,
    reason: str,
) -> sqlite3.Row:
    """Return ``target`` (held by the caller) from ``live`` to its last good deployment."""
    ledger = target.ledger
    current = live.release_id if live else None
    good: sqlite3.Row | None = ledger.last_good(
        target.name, exclude_deployment=live.deployment if live else ""
    )
    if good is None:
        report.add("rollback", False, "no earlier good release", "a release to return to", "ledger")
        raise DeployFailed(
            f"nothing to roll back to in {target.name}: no earlier release deployed there "
            "succeeded without failing a gate; the environment was not touched"
        )
    release = target.release(good["release_id"])
    recorded = json.loads(good["config"])
    print(
        f"gates rollback: {target.name}: {current or 'nothing'} -> {good['release_id']} "
        f"(deployed #{good['id']} at {good['started_at']}); reason: {reason}"
    )
    if live is not None and current:
        ledger.record_gate(
            target.name, current, "rollback", "rolled back", 1, reason, deployment=live.deployment
        )
    request = DeployRequest(
        environment=target.name,
        service=ServiceConfig(recorded["env"], recorded["workers"]),
        release=release.id,
        kind="rollback",
        reason=reason,
    )
    target.deploy(request, release, report)
    return good
