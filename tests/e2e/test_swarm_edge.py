"""A swarm environment's edge as part of its desired state, and a rollback in one step, end to
end on a real engine (DOCKER_HOST), under RATE requests/s through the edge.

- ``docker rm -f <stack>-edge``: the next command on the environment (``gates status``, a
  no-op deploy of the live release) recreates it, and the environment serves again.
- ``docker kill <stack>-edge`` while a deploy's update runs: the deploy repairs the edge and
  judges the release through it; a healthy release is never rolled back for a dead edge.
- The drill's restore (a rollback) leaves the service specified to go back in one step, and
  the drill's output never says "None".

Scenarios, traffic and clean-up as in tests/e2e/test_swarm.py (the ``swarm`` fixture,
tests/e2e/conftest.py, and tests/support/swarm.py); without an engine the tests skip saying
why, with ``CI`` set they fail instead. No verdict depends on the machine's speed: the drill's
limits are generous configuration, and the times are measured by
benchmarks/swarm_edge_and_restore.py.
"""

import json

from support.swarm import docker, load, serving, under_load
from support.swarm import engine_ledger as history
from support.timeouts import GATES_TIMEOUT

# Generous: the behaviour is under test, not this machine's speed (the defaults are 30 and 10).
ONE_MS = 1_000_000  # ns, as Docker reports a duration
DRILL_LIMITS = "\n[tool.pipeline.drill]\ndetect_target = 120\nrestore_target = 120\n"


def edge_of(swarm, environment):
    return f"{swarm.prefix}-{environment}-edge"


def test_a_removed_edge_is_recreated_by_the_next_command(swarm):
    repo = swarm.checkout("A")
    a = repo.releases["A"]
    repo.gates("deploy", "--environment", "staging", "--release", a)
    edge = edge_of(swarm, "staging")

    docker("container", "rm", "--force", edge)
    done, result = under_load(
        swarm, repo, "staging", "status", "--environment", "staging", check=False
    )
    assert done.returncode == 0, (done.stdout, done.stderr)
    assert f"starting the edge {edge}" in done.stdout, done.stdout
    assert "healthy" in done.stdout and "UNHEALTHY" not in done.stdout, done.stdout
    assert serving(swarm, "staging") == a
    print(f"status: {len(result.failures)} of {len(result.samples)} requests failed")

    docker("container", "rm", "--force", edge)
    done, result = under_load(
        swarm, repo, "staging", "deploy", "--environment", "staging", "--release", a,
        check=False,
    )  # fmt: skip
    assert done.returncode == 0, (done.stdout, done.stderr)
    assert "already live in staging" in done.stdout
    assert f"starting the edge {edge}" in done.stdout, done.stdout
    assert serving(swarm, "staging") == a
    print(f"no-op deploy: {len(result.failures)} of {len(result.samples)} requests failed")


def test_an_edge_killed_mid_deploy_is_repaired_and_the_healthy_release_kept(swarm):
    repo = swarm.checkout("A", "B")
    a, b = repo.releases["A"], repo.releases["B"]
    repo.gates("deploy", "--environment", "staging", "--release", a)
    edge = edge_of(swarm, "staging")
    traffic = load(swarm, "staging")
    output = []
    try:
        process = repo.popen("deploy", "--environment", "staging", "--release", b)
        for line in process.stdout:
            output.append(line)
            if "swarm: updating" in line:
                docker("container", "kill", edge)
                break
        output += process.stdout.readlines()
        process.wait(timeout=GATES_TIMEOUT)
        process.stdout.close()
    finally:
        result = traffic.stop()
    said = "".join(output)
    print(f"kill mid-deploy: {len(result.failures)} of {len(result.samples)} requests failed")
    assert "rolling back" not in said and "rolled back" not in said, said
    if process.returncode == 3:  # could not be repaired: named, and the deploy left in flight
        assert edge in said, said
        assert [r["release_id"] for r in history(repo).in_flight("staging")] == [b]
    else:
        assert process.returncode == 0, said
        # found exited, or still dying (running, but no longer answering): repaired either way
        assert f"the edge {edge} " in said and "repairing it" in said, said
        assert serving(swarm, "staging") == b
        row = history(repo).deploys("staging")[-1]
        assert (row["release_id"], row["state"]) == (b, "succeeded")
    spec = json.loads(docker("service", "inspect", f"{swarm.prefix}-staging"))[0]["Spec"]
    assert spec["Labels"]["gates.release"] == b  # never rolled back


def test_a_restore_goes_back_in_one_step_and_the_drill_never_says_none(swarm):
    repo = swarm.checkout("A")
    pyproject = repo.path / "pyproject.toml"
    pyproject.write_text(pyproject.read_text() + DRILL_LIMITS)
    repo.gates("deploy", "--environment", "staging", "--release", repo.releases["A"])
    done = repo.gates("drill", "--environment", "staging", "--rate", "50", check=False)
    said = done.stdout + done.stderr
    assert done.returncode == 0, said
    assert "None" not in said, said
    report = repo.report("drill-staging")
    timed = [c["limit"] for c in report["checks"] if c["name"] in ("detected", "restored")]
    assert timed == ["<= 120 s", "<= 120 s"]
    assert [(d["kind"], d["state"]) for d in report["details"]["ledger_entries"]["deploys"]] == [
        ("deploy", "succeeded"),
        ("rollback", "succeeded"),
    ]
    # What serves now was put there by the restore: specified to go back in one step.
    spec = json.loads(docker("service", "inspect", f"{swarm.prefix}-staging"))[0]["Spec"]
    update, rollback = spec["UpdateConfig"], spec["RollbackConfig"]
    health = spec["TaskTemplate"]["ContainerSpec"]["Healthcheck"]
    # Every task at once, watched for 1 ms: the shortest monitor Docker keeps (0 means 5 s).
    assert (update.get("Parallelism", 0), update["Monitor"]) == (0, ONE_MS), update
    assert update["Order"] == rollback["Order"] == "start-first"
    assert (rollback.get("Parallelism", 0), rollback["Monitor"]) == (0, ONE_MS), rollback
    assert (health["Interval"], health["Retries"]) == (500_000_000, 6), health
    print(f"drill: {report['details']}")
