"""``gates status`` and ``gates down``: what runs where, and stopping an environment."""

from gates.deploy.converge import converge
from gates.deploy.environment import LIVE, Environment
from gates.ledger import Ledger
from gates.outcome import PASSED


def status(config, args):
    ledger = Ledger.open(config)
    names = [args.environment] if args.environment else list(config.environments)
    print(f"{'environment':<12} {'release':<17} {'version':<9} {'since':<25} {'pid':>7}  health")
    for name in names:
        env = Environment(config, name)
        busy = not env.try_lock()
        try:
            live = env.masters(LIVE)[-1:] if busy else [m for m in [converge(env, ledger)] if m]
        finally:
            env.unlock()
        row = ledger.last_succeeded(name)
        if not live:
            print(
                f"{name:<12} {'-':<17} {'-':<9} {'-':<25} {'-':>7}  not running"
                + ("  (a command is running)" if busy else "")
            )
            continue
        master = live[0]
        health = env.probe_port("/health")
        version = health.body.get("version", "-") if health.ok else "-"
        since = row["finished_at"] if row and row["release_id"] == master.release_id else "?"
        verdict = "healthy" if health.ok else f"UNHEALTHY ({health.status or health.error})"
        print(
            f"{name:<12} {master.release_id:<17} {version:<9} {since:<25} {master.pid:>7}  "
            f"{verdict}" + ("  (a command is running)" if busy else "")
        )
    return PASSED


def down(config, args):
    env = Environment(config, args.environment)
    ledger = Ledger.open(config)
    with env.lock(config.deploy.lock_timeout):
        converge(env, ledger)
        stopped = [m for m in env.masters() if env.stop_master(m)]
        env.current.unlink(missing_ok=True)
        ledger.record_event(env.name, "down", ",".join(str(m.pid) for m in stopped))
    print(f"gates down: {env.name} stopped ({len(stopped)} server(s))")
    return PASSED
