"""Bring an environment back to exactly one known release after an interrupted command.

Runs under the environment lock at the start of every deploy, rollback, down and status.
An interrupted deploy is undone unless it had already verified the new release:

- leftover pre-flight masters are stopped;
- a deploy killed before verification (ledger state started or switching) keeps the old
  master: a new master it had started is stopped and ``current`` is pointed back;
- a deploy killed after verification (state verified) is completed: the old master stops.
"""

from collections.abc import Callable
from typing import Protocol

from gates.targets.local.masters import LIVE, PREFLIGHT, Master
from gates.ledger import Ledger


class ConvergingEnvironment(Protocol):
    """What converge needs of an environment (a LocalEnvironment, or a stand-in in tests)."""

    @property
    def name(self) -> str: ...

    def masters(self, role: str | None = None) -> list[Master]: ...

    def stop_master(self, master: Master) -> bool: ...

    def switch_current(self, key: str) -> None: ...

    def current_deployment(self) -> str | None: ...


def converge(
    env: ConvergingEnvironment, ledger: Ledger, say: Callable[[str], object] = print
) -> Master | None:
    """The one live master left once interrupted commands are undone or completed."""
    for master in env.masters(PREFLIGHT):
        say(f"gates: stopping a leftover pre-flight server (pid {master.pid}) in {env.name}")
        env.stop_master(master)
    live = env.masters(LIVE)
    for row in ledger.in_flight(env.name):
        target = [m for m in live if m.release_id == row["release_id"]]
        others = [m for m in live if m.release_id != row["release_id"]]
        if row["state"] == "verified" and target:
            for master in others:
                env.stop_master(master)
            env.switch_current(target[-1].deployment)
            ledger.set_state(row["id"], "succeeded", "completed after an interruption")
            say(f"gates: completed interrupted {row['kind']} #{row['id']} of {row['release_id']}")
        else:
            if others:
                for master in target:
                    env.stop_master(master)
                env.switch_current(others[-1].deployment)
            ledger.set_state(row["id"], "failed", "interrupted before the release was verified")
            say(f"gates: undid interrupted {row['kind']} #{row['id']} of {row['release_id']}")
        live = env.masters(LIVE)
    if len(live) > 1:
        # Two live masters and no deploy in flight: keep the one `current` names.
        keep = env.current_deployment()
        keepers = [m for m in live if m.deployment == keep] or live[-1:]
        for master in live:
            if master not in keepers[-1:]:
                say(f"gates: stopping a stray master (pid {master.pid}) in {env.name}")
                env.stop_master(master)
    live = env.masters(LIVE)
    if live and env.current_deployment() != live[0].deployment:
        env.switch_current(live[0].deployment)
    return live[0] if live else None
