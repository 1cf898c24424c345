"""``gates status`` and ``gates down``: what runs where, and stopping an environment."""

from argparse import Namespace

from gates.config import PipelineConfig
from gates.outcome import PASSED
from gates.targets import target_for


def status(config: PipelineConfig, args: Namespace) -> int:
    names = [args.environment] if args.environment else list(config.environments)
    print(f"{'environment':<12} {'release':<17} {'version':<9} {'since':<25} {'pid':>7}  health")
    for name in names:
        target = target_for(config, name)
        found = target.status()
        busy = "  (a command is running)" if found.busy else ""
        live = found.live
        if live is None:
            print(f"{name:<12} {'-':<17} {'-':<9} {'-':<25} {'-':>7}  not running" + busy)
            continue
        row = target.ledger.last_succeeded(name)
        health = target.probe("/health")
        version = health.body.get("version", "-") if health.ok else "-"
        since = row["finished_at"] if row and row["release_id"] == live.release_id else "?"
        verdict = "healthy" if health.ok else f"UNHEALTHY ({health.status or health.error})"
        print(
            f"{name:<12} {live.release_id:<17} {version:<9} {since:<25} {live.server:>7}  "
            f"{verdict}" + busy
        )
    return PASSED


def down(config: PipelineConfig, args: Namespace) -> int:
    target = target_for(config, args.environment)
    with target.hold():
        stopped = target.stop()
    print(f"gates down: {target.name} stopped ({len(stopped)} server(s))")
    return PASSED
