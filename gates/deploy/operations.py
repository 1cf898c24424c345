"""``gates status`` and ``gates down``: what runs where, and stopping an environment."""

import sys
from argparse import Namespace

from gates.config import PipelineConfig
from gates.docker import EngineUnreachable
from gates.ledger import LedgerMissing
from gates.outcome import COULD_NOT_MEASURE, FAILED, PASSED
from gates.targets import Target, target_for


def status(config: PipelineConfig, args: Namespace) -> int:
    """One row per environment: its release, version, since when, server and health through
    its URL. Settling an environment (unless another command holds it) also repairs what it
    needs to serve, e.g. a swarm environment's edge.

    Exit 1 when an environment does not serve: something is live there but its /health does
    not answer healthy, or nothing is live although its last deploy succeeded and no ``gates
    down`` came after it (its servers or service vanished). Exit 3 when an environment's
    engine cannot be reached (the others are still shown; 1 wins: it is a finding). Nothing
    running where nothing was deployed, or after ``gates down``, is 0: nothing is expected
    there. A failure is one line on stderr naming the environment and what was wrong.
    """
    names = [args.environment] if args.environment else list(config.environments)
    targets = [target_for(config, name) for name in names]
    width = max([len("url"), *(len(t.base_url) for t in targets)])
    print(
        f"{'environment':<12} {'url':<{width}} {'release':<17} {'version':<9} {'since':<25} "
        f"{'pid':>7}  health"
    )
    failed: list[str] = []
    unreachable: list[str] = []
    for name, target in zip(names, targets):
        where = f"{name:<12} {target.base_url:<{width}}"
        try:
            row, problem = status_row(name, target)
        except LedgerMissing as exc:
            print(f"{where} {exc}")
            continue
        except EngineUnreachable as exc:
            print(f"{where} {'-':<17} {'-':<9} {'-':<25} {'-':>7}  engine unreachable")
            unreachable.append(str(exc))
            continue
        print(f"{where} {row}")
        if problem:
            failed.append(f"{name} does not serve: {problem}")
    if failed:
        print("gates status: " + "; ".join(failed), file=sys.stderr)
        return FAILED
    if unreachable:
        print("gates status: " + "; ".join(dict.fromkeys(unreachable)), file=sys.stderr)
        return COULD_NOT_MEASURE
    return PASSED


def status_row(name: str, target: Target) -> tuple[str, str]:
    """The environment's row after its url, and why it does not serve ("" when it does)."""
    found = target.status()
    busy = "  (a command is running)" if found.busy else ""
    live = found.live
    ledger = target.ledger
    if live is None:
        deployed = ledger.last_succeeded(name)
        down = ledger.last_event(name, "down")
        vanished = (
            not found.busy
            and deployed is not None
            and (down is None or down["recorded_at"] < (deployed["finished_at"] or ""))
        )
        row = f"{'-':<17} {'-':<9} {'-':<25} {'-':>7}  not running" + busy
        if not vanished:
            return row, ""
        assert deployed is not None
        return row.replace("not running", "NOT RUNNING"), (
            f"nothing runs at {target.base_url}, though {deployed['kind']} #{deployed['id']} "
            f"of {deployed['release_id']} succeeded there and no `gates down` followed"
        )
    last = ledger.last_succeeded(name)
    health = target.probe("/health")
    version = health.body.get("version", "-") if health.ok else "-"
    since = last["finished_at"] if last and last["release_id"] == live.release_id else "?"
    answered = health.status or health.error
    verdict = "healthy" if health.ok else f"UNHEALTHY ({answered})"
    line = f"{live.release_id:<17} {version:<9} {since:<25} {live.server:>7}  {verdict}" + busy
    if health.ok:
        return line, ""
    return line, f"{target.base_url}/health answered {answered} ({live.release_id} is live)"


def down(config: PipelineConfig, args: Namespace) -> int:
    target = target_for(config, args.environment)
    with target.hold(stopping=True):
        stopped = target.stop()
    print(f"gates down: {target.name} stopped ({len(stopped)} server(s))")
    return PASSED
