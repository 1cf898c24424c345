"""Bring an environment back to exactly one known deployment after an interrupted command.

Runs under the environment lock at the start of every deploy, rollback, down and status.
The ledger and the running masters are matched by *deployment* (release plus config, the
key a deploy records and each master registers), never by release alone: a config-only
deploy runs the same release under a new key. An interrupted deploy is undone unless it had
already verified its deployment:

- leftover pre-flight servers are stopped and the pre-flight's socket directory removed;
- a deploy killed before verification (ledger state started or switching) keeps the old
  master: ``current`` is pointed back at it, its workers are started again if the handover
  had stopped them, a new master the deploy had started is stopped, and the row becomes
  failed. With no old master (a first start), ``current`` is cleared;
- a deploy killed after verification (state verified) is completed: the old master stops,
  ``current`` names the verified deployment, and the row becomes succeeded;
- two live masters with no deploy in flight: the one ``current`` names is kept.

Finally the one live master left runs its full set of workers and ``current`` names it.
"""

import json
import sqlite3
from collections.abc import Callable
from typing import Protocol

from gates.ledger import Ledger
from gates.targets.local.masters import LIVE, PREFLIGHT, Master

PREFLIGHT_STOP = 2.0  # seconds a leftover pre-flight server (no traffic) gets to stop
UNDO_STOP = 10.0  # seconds an unverified master gets to finish its requests


class ConvergingEnvironment(Protocol):
    """What converge needs of an environment (a LocalEnvironment, or a stand-in in tests)."""

    @property
    def name(self) -> str: ...

    def masters(self, role: str | None = None) -> list[Master]: ...

    def stop_master(self, master: Master, timeout: float = 30) -> bool: ...

    def restore_workers(self, master: Master, timeout: float = 60) -> bool: ...

    def switch_current(self, key: str) -> None: ...

    def clear_current(self) -> None: ...

    def current_deployment(self) -> str | None: ...

    def remove_preflight_dir(self) -> None: ...


def deployment_of(row: sqlite3.Row) -> str | None:
    """The deployment key a deploy row recorded (None for a row that has none)."""
    try:
        key = json.loads(row["config"]).get("key")
    except (TypeError, ValueError, AttributeError):
        return None
    return key if isinstance(key, str) else None


def converge(
    env: ConvergingEnvironment, ledger: Ledger, say: Callable[[str], object] = print
) -> Master | None:
    """The one live master left once interrupted commands are undone or completed."""
    for master in env.masters(PREFLIGHT):
        say(f"gates: stopping a leftover pre-flight server (pid {master.pid}) in {env.name}")
        env.stop_master(master, PREFLIGHT_STOP)
    env.remove_preflight_dir()
    for row in ledger.in_flight(env.name):
        key = deployment_of(row)
        live = env.masters(LIVE)
        if key is None:  # a row from before deployment keys: match the release
            target = [m for m in live if m.release_id == row["release_id"]]
        else:
            target = [m for m in live if m.deployment == key]
        others = [m for m in live if m not in target]
        if row["state"] == "verified" and target:
            keep = target[-1]
            env.switch_current(keep.deployment)
            for master in others + target[:-1]:
                env.stop_master(master)
            ledger.set_state(row["id"], "succeeded", "completed after an interruption")
            say(f"gates: completed interrupted {row['kind']} #{row['id']} of {keep.deployment}")
            continue
        if others:
            keep = others[-1]
            env.switch_current(keep.deployment)
            env.restore_workers(keep)
        else:
            env.clear_current()
        for master in target:
            env.stop_master(master, UNDO_STOP)
        ledger.set_state(row["id"], "failed", "interrupted before the deployment was verified")
        say(f"gates: undid interrupted {row['kind']} #{row['id']} of {key or row['release_id']}")
    live = env.masters(LIVE)
    if len(live) > 1:
        # Two live masters and no deploy in flight: keep the one `current` names.
        named = env.current_deployment()
        keep = ([m for m in live if m.deployment == named] or live)[-1]
        env.switch_current(keep.deployment)
        env.restore_workers(keep)
        for master in live:
            if master != keep:
                say(f"gates: stopping a stray master (pid {master.pid}) in {env.name}")
                env.stop_master(master)
    live = env.masters(LIVE)
    if not live:
        return None
    if env.current_deployment() != live[-1].deployment:
        env.switch_current(live[-1].deployment)
    env.restore_workers(live[-1])
    return live[-1]
