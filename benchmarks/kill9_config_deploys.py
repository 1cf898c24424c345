"""kill -9 during config-only deploys: do the ledger and what serves agree afterwards?

Usage (from the repository root; the committed HEAD is what runs):

    uv run --locked --all-packages python benchmarks/kill9_config_deploys.py [--trials 12]

Builds release A (HEAD) once in a clone of this repository and starts staging with it, the
way the end-to-end scenarios do (tests/deploy_fixture.py). Each trial gives staging a new
deployment config (the same release: a config-only deploy), starts `gates deploy` and kills
it with SIGKILL at one of the MOMENTS below, in turn, while ConstantRateLoad sends --rate
requests/s to /api/data. Then `gates status` converges, and the trial checks that exactly one
master runs, no deploy is in flight, and the ledger's newest succeeded deployment is the
master's, the one `current` names and the one answering on the port (X-Deployment-ID). Then a
plain deploy of the same config must leave it verified and serving (never "already live"
for a config that was not verified), and the same agreement is checked again. The table also
says whether the kill came after the old master had stopped its workers (WINCH) and, if so,
whether converge started them again (HUP) or completed the deploy.
Prints a Markdown table for docs/benchmarks.md.
"""

import argparse
import json
import shutil
import signal
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))  # the e2e scenarios' helpers

from deploy_fixture import Checkout, SharedReleases, scenario  # noqa: E402
from gates import httpget  # noqa: E402
from gates.ledger import Ledger  # noqa: E402
from gates.perf.load import ConstantRateLoad  # noqa: E402


@dataclass(frozen=True)
class Moment:
    name: str
    reached: Callable[[str, str], bool]  # (ledger state of the deploy, its output so far)
    delay: float


MOMENTS = (
    Moment("pre-flight", lambda state, out: "pre-flight of" in out, 0.3),
    Moment("switching +0 s", lambda state, out: state == "switching", 0.0),
    Moment("switching +0.3 s", lambda state, out: state == "switching", 0.3),
    Moment("switching +1 s", lambda state, out: state == "switching", 1.0),
    Moment("switching +2 s", lambda state, out: state == "switching", 2.0),
    Moment("just after verified", lambda state, out: state == "verified", 0.0),
)


def agreement(repo: Checkout, ledger: Ledger) -> tuple[bool, str]:
    """(ledger and what serves agree, the deployment serving or what disagreed)."""
    running = [m["deployment"] for m in repo.masters("staging")]
    row = ledger.last_succeeded("staging")
    recorded = json.loads(row["config"])["key"] if row else None
    try:
        headers = httpget.fetch("/ready", port=repo.port("staging"), timeout=10)[1]
        answering = headers.get("x-deployment-id")
    except httpget.FAILURES as exc:
        answering = f"nothing ({type(exc).__name__})"
    seen = {
        "masters": running,
        "current": repo.current("staging"),
        "ledger": recorded,
        "port": answering,
        "in flight": len(ledger.in_flight("staging")),
    }
    agree = running == [recorded] and seen["current"] == recorded == answering
    return agree and not seen["in flight"], recorded if agree else json.dumps(seen)


def log_mentions(repo: Checkout, text: str) -> int:
    """How often the environment's gunicorn logs mention ``text``."""
    logs = (repo.state / "environments" / "staging" / "logs").glob("*.log")
    return sum(path.read_text(errors="replace").count(text) for path in logs)


WINCH = "handover: stopping the workers"  # the old master stopped its workers
HUP = "Handling signal: hup"  # a master started its workers again


def killed_deploy(repo: Checkout, ledger: Ledger, moment: Moment) -> str:
    """Start a deploy of A and kill -9 it at ``moment``; the ledger state it was killed in."""
    before = len(ledger.deploys("staging"))
    process = repo.popen("deploy", "--environment", "staging", "--release", repo.releases["A"])
    stdout = process.stdout
    assert stdout is not None
    lines: list[str] = []
    # The output is read beside the loop that watches it and the ledger.
    reader = threading.Thread(target=lambda: lines.extend(stdout), daemon=True)
    reader.start()
    deadline = time.monotonic() + 300
    while process.poll() is None and time.monotonic() < deadline:
        rows = ledger.deploys("staging")[before:]
        state = rows[-1]["state"] if rows else ""
        if moment.reached(state, "".join(lines)):
            time.sleep(moment.delay)
            process.send_signal(signal.SIGKILL)
            break
        time.sleep(0.005)
    process.wait(timeout=60)
    reader.join(timeout=60)
    stdout.close()
    rows = ledger.deploys("staging")[before:]
    if process.returncode != -signal.SIGKILL:
        return f"not killed (exit {process.returncode})"
    return rows[-1]["state"] if rows else "no row"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=12)
    parser.add_argument("--rate", type=float, default=50.0)
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-kill9-") as directory:
        base = Path(directory)
        repo = scenario(base / "repo", SharedReleases(base), "A")
        ledger = Ledger(repo.state / "ledger.sqlite")
        try:
            repo.gates("deploy", "--environment", "staging", "--release", repo.releases["A"])
            for trial in range(1, args.trials + 1):
                moment = MOMENTS[(trial - 1) % len(MOMENTS)]
                repo.set_service_env("staging", GREETING=f"config-{trial}")
                load = ConstantRateLoad(repo.port("staging"), rate=args.rate, timeout=10).start()
                winched, hupped = log_mentions(repo, WINCH), log_mentions(repo, HUP)
                killed_in = killed_deploy(repo, ledger, moment)
                winched = log_mentions(repo, WINCH) > winched
                status = repo.gates("status", "--environment", "staging", check=False)
                hupped = log_mentions(repo, HUP) > hupped
                after_kill = agreement(repo, ledger)
                redeploy = repo.gates(
                    "deploy", "--environment", "staging", "--release", repo.releases["A"]
                )
                after_redeploy = agreement(repo, ledger)
                result = load.stop()
                converged = "completed" if "completed" in status.stdout else "undone"
                if winched:
                    converged += ", old workers restarted" if hupped else ", old master stopped"
                noop = "nothing to do" in redeploy.stdout
                rows.append(
                    (trial, moment.name, killed_in, converged, after_kill, noop, after_redeploy)
                    + (len(result.failures), len(result.samples))
                )
                print(f"trial {trial}: {rows[-1]}", file=sys.stderr)
        finally:
            repo.gates("down", "--environment", "staging", check=False)
            repo.kill_leftovers()
            ledger.close()
            shutil.rmtree(base, ignore_errors=True)

    print(
        "| trial | killed | ledger state at the kill | converged by status | agree | "
        "then deploy again | agree | failed / sent |"
    )
    print("|---|---|---|---|---|---|---|---|")
    agreed = 0
    for trial, moment, state, converged, (ok1, what1), noop, (ok2, what2), failed, sent in rows:
        # After an undone deploy the new config never ran verified: deploying it must deploy.
        wrong_noop = noop and converged.startswith("undone")
        again = "already live (no-op)" if noop else "deployed, verified"
        agreed += ok1 and ok2 and not wrong_noop
        print(
            f"| {trial} | {moment} | {state} | {converged} | {'yes' if ok1 else 'NO: ' + what1} "
            f"| {'NO-OP OF AN UNVERIFIED CONFIG' if wrong_noop else again} "
            f"| {'yes' if ok2 else 'NO: ' + what2} | {failed} / {sent} |"
        )
    failed = sum(r[7] for r in rows)
    sent = sum(r[8] for r in rows)
    print(
        f"\nledger and what serves agreed after {agreed} of {len(rows)} trials (after the kill "
        f"and after the redeploy); failed requests: {failed} of {sent} at {args.rate:g} req/s"
    )
    sys.exit(0 if agreed == len(rows) else 1)


if __name__ == "__main__":
    main()
