"""``gates rollback``: return an environment to the last release that was good there.

Good: a deployment (release plus its config) that succeeded there and failed no gate there.
The release already installed in the environment is used, with the deployment config
recorded with that deploy, so code and config return together: rolling back a bad config
push to the same release works. The deployment rolled back from is recorded as failed
(gate ``rollback``), so it is never a rollback target itself.
"""

import json
from argparse import Namespace

from gates.deploy.converge import converge
from gates.deploy.deploy import Deployer, DeployFailed
from gates.deploy.environment import Environment
from gates.ledger import Ledger
from gates.release import store


def add_arguments(parser):
    parser.add_argument("--reason", required=True, help="why (recorded in the ledger)")


def run(config, report, args):
    env = Environment(config, args.environment)
    ledger = Ledger.open(config)
    with env.lock(config.deploy.lock_timeout):
        roll_back(config, env, ledger, report, converge(env, ledger), args.reason)


def roll_back(config, env, ledger, report, live, reason):
    """Return ``env`` (locked by the caller) from ``live`` to its last good deployment."""
    current = live.release_id if live else None
    target = ledger.last_good(env.name, exclude_deployment=live.deployment if live else "")
    if target is None:
        report.add("rollback", False, "no earlier good release", "a release to return to", "ledger")
        raise DeployFailed(
            f"nothing to roll back to in {env.name}: no earlier release deployed there "
            "succeeded without failing a gate; the environment was not touched"
        )
    release_dir = store.resolve(config, target["release_id"])
    manifest = store.verify(release_dir)
    recorded = json.loads(target["config"])
    print(
        f"gates rollback: {env.name}: {current or 'nothing'} -> {target['release_id']} "
        f"(deployed #{target['id']} at {target['started_at']}); reason: {reason}"
    )
    if current:
        ledger.record_gate(
            env.name, current, "rollback", "rolled back", 1, reason, deployment=live.deployment
        )
    Deployer(config, env, ledger, report).deploy(
        manifest,
        release_dir,
        recorded["env"],
        recorded["workers"],
        live,
        Namespace(reason=reason, override_promotion=None),
        kind="rollback",
    )
    return target
