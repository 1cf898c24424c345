"""Settle a swarm environment after an interrupted command, so its history says what runs.

Runs under the environment's lock at the start of every deploy, rollback, down and status.
A deploy killed with -9 leaves Swarm to finish (or roll back) the update on its own, and a
history whose last deploy is still in flight. So:

- an update still in progress (``updating``, ``rollback_started``) is waited for;
- an in-flight deploy whose deployment the service now runs (the update completed) is
  verified through the environment's URL like any deploy (its edge repaired first if it does
  not answer), then recorded as succeeded; if it does not serve, it is rolled back (or, if it
  was the first, removed) and recorded as failed; if the edge cannot be repaired it stays in
  flight (EdgeDown, exit 3);
- any other in-flight deploy is recorded as failed, with the reason: Swarm rolled it back,
  or it was interrupted before its update was submitted.
"""

import json
import time
from collections.abc import Callable

from gates.ledger import Ledger
from gates.outcome import MeasurementError
from gates.targets.request import DeployFailed
from gates.targets.swarm.deployer import verify_serving
from gates.targets.swarm.edge import Edge
from gates.targets.swarm.environment import SwarmEnvironment
from gates.targets.swarm.service import Service

IN_PROGRESS = ("updating", "rollback_started")


def converge(env: SwarmEnvironment, ledger: Ledger, say: Callable[[str], object] = print) -> None:
    service = Service(env)
    spec = service.spec()
    if spec is not None and spec.update_state in IN_PROGRESS:
        say(f"gates: {env.name}: an update is in progress (interrupted?); waiting for Swarm")
        outcome = service.wait_update(time.monotonic() + env.converge_timeout, say)
        if outcome.state == "timeout":
            raise MeasurementError(
                f"Swarm is still updating {env.service} after {env.converge_timeout:g} s; "
                "try again later (`docker service ps` shows why)"
            )
        spec = service.spec()
    for row in ledger.in_flight(env.name):
        key = json.loads(row["config"])["key"]
        rid, deploy_id = row["release_id"], row["id"]
        live = (
            spec is not None and spec.deployment == key and spec.update_state in (None, "completed")
        )
        if not live:
            rolled_back = spec is not None and spec.update_state in (
                "rollback_completed",
                "rollback_paused",
            )
            why = (
                f"interrupted; Swarm rolled the update back ({spec.update_message})"
                if rolled_back and spec is not None
                else "interrupted before the update went live"
            )
            ledger.set_state(deploy_id, "failed", why)
            say(f"gates: {env.name}: recorded interrupted {row['kind']} of {rid} as failed: {why}")
            continue
        try:
            Edge(env).ensure(say, with_service=True)
            verify_serving(env, rid, float(env.config.deploy.cutover_timeout), say)
        except DeployFailed as exc:
            if row["previous_release"] is None:
                service.remove()
            else:
                service.roll_back()
                service.wait_update(time.monotonic() + env.converge_timeout, say)
            ledger.set_state(deploy_id, "failed", f"interrupted, and then did not serve: {exc}")
            say(f"gates: {env.name}: undid interrupted {row['kind']} of {rid}: {exc}")
            spec = service.spec()
            continue
        ledger.set_state(deploy_id, "succeeded", "completed after an interruption")
        say(f"gates: {env.name}: completed interrupted {row['kind']} #{deploy_id} of {rid}")
