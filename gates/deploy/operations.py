"""``gates status`` and ``gates down``: what runs where, and stopping an environment."""

from argparse import Namespace

from gates.config import PipelineConfig
from gates.ledger import LedgerMissing
from gates.outcome import PASSED
from gates.targets import target_for


def status(config: PipelineConfig, args: Namespace) -> int:
    names = [args.environment] if args.environment else list(config.environments)
    targets = [target_for(config, name) for name in names]
    width = max([len("url"), *(len(t.base_url) for t in targets)])
    print(
        f"{'environment':<12} {'url':<{width}} {'release':<17} {'version':<9} {'since':<25} "
        f"{'pid':>7}  health"
    )
    for name, target in zip(names, targets):
        where = f"{name:<12} {target.base_url:<{width}}"
        try:
            found = target.status()
        except LedgerMissing as exc:
            print(f"{where} {exc}")
            continue
        busy = "  (a command is running)" if found.busy else ""
        live = found.live
        if live is None:
            print(f"{where} {'-':<17} {'-':<9} {'-':<25} {'-':>7}  not running" + busy)
            continue
        row = target.ledger.last_succeeded(name)
        health = target.probe("/health")
        version = health.body.get("version", "-") if health.ok else "-"
        since = row["finished_at"] if row and row["release_id"] == live.release_id else "?"
        verdict = "healthy" if health.ok else f"UNHEALTHY ({health.status or health.error})"
        print(
            f"{where} {live.release_id:<17} {version:<9} {since:<25} {live.server:>7}  "
            f"{verdict}" + busy
        )
    return PASSED


def down(config: PipelineConfig, args: Namespace) -> int:
    target = target_for(config, args.environment)
    with target.hold():
        stopped = target.stop()
    print(f"gates down: {target.name} stopped ({len(stopped)} server(s))")
    return PASSED
