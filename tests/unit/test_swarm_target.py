"""The swarm target's logic end to end over a stand-in engine (support.fake_engine): deploys,
Swarm's own rollbacks and their reasons, the pipeline's rollback from a fresh state
directory, an interrupted update settled by the next command, the lock, down, and the
engine or registry out of reach. The real engine runs the same scenarios in
tests/e2e/test_swarm.py; these need none and take a second."""

import re
import socket

import pytest

from gates.config import load_config
from gates.targets.swarm.lock import EngineLock
from support import fake_engine
from support.fake_engine import FakeEngine
from support.fake_swarm_project import Project


@pytest.fixture
def engine(monkeypatch):
    fake = FakeEngine()
    fake_engine.install(monkeypatch, fake)
    yield fake
    fake.close()


@pytest.fixture
def project(tmp_path, engine, capsys):
    return Project(tmp_path, engine, capsys)


def test_deploys_roll_over_and_a_fresh_runner_rolls_back_from_the_history(project, tmp_path):
    a, b = project.release("A"), project.release("B")
    code, out, _ = project.deploy("A")
    assert code == 0 and "creating the service mini-staging: 2 x" in out
    assert project.engine.serving() == a
    assert project.deploy("A")[1].count("already live in staging with this config") == 1
    code, out, _ = project.deploy("B")
    assert code == 0 and "swarm: completed: update completed" in out
    assert project.engine.serving() == b

    fresh = tmp_path / "fresh-runner"  # no releases, no ledger
    code, out, _ = project.gates("status", state=fresh)
    assert (
        code == 0
        and re.search(rf"staging +http\S+ +{b}", out)
        and "2/2 sha256:" in out
        and "healthy" in out
    )
    code, out, _ = project.gates(
        "rollback", "--environment", "staging", "--reason", "drill", state=fresh
    )
    assert code == 0 and f"staging: {b} -> {a}" in out
    assert project.engine.serving() == a
    assert not (fresh / "releases").exists()
    rows = project.history(fresh).deploys("staging")
    assert [(r["kind"], r["release_id"], r["state"]) for r in rows] == [
        ("deploy", a, "succeeded"),
        ("deploy", b, "succeeded"),
        ("rollback", a, "succeeded"),
    ]


@pytest.mark.parametrize(
    "behaviour, why",
    [
        ("crash", "task: non-zero exit (3) (RuntimeError: broken release)"),
        ("notready", "never ready: not ready: /ready answered 503 SERVICE UNAVAILABLE"),
    ],
)
def test_swarm_rolls_a_broken_release_back_and_the_deploy_says_why(project, behaviour, why):
    a = project.release("A")
    bad = project.release("BAD", behaviour)
    project.deploy("A")
    code, out, err = project.deploy("BAD")
    assert code == 1
    assert f"Swarm rolled the update to {bad} back by itself (rollback_completed): {why}" in err
    assert f"{a} kept serving" in err
    assert project.engine.serving() == a
    row = project.history().deploys("staging")[-1]
    assert (row["release_id"], row["state"]) == (bad, "failed") and why in row["error"]


def test_a_broken_first_release_leaves_no_service(project):
    project.release("BAD", "crash")
    code, _, err = project.deploy("BAD")
    assert code == 1 and "did not start (failed): task: non-zero exit (3)" in err
    assert "the new service was removed" in err and project.engine.services == {}


def test_an_update_in_progress_is_waited_for_and_settled_by_the_next_command(project):
    a, b = project.release("A"), project.release("B")
    project.deploy("A")
    # A deploy killed with -9 after submitting its update: in flight in the history,
    # Swarm still updating.
    book = project.history()
    killed = book.start_deploy("staging", b, "deploy", {"key": "k"}, previous=a)
    book.set_state(killed, "switching")
    project.engine.run(
        ("service", "update", "--image", project.references["B"], "--env-add",
         f"RELEASE_ID={b}", "--label-add", "gates.deployment=k", "--label-add",
         f"gates.release={b}", "mini-staging"), None,
    )  # fmt: skip
    service = project.engine.services["mini-staging"]
    service["UpdateStatus"] = project.engine.pending.pop(0) and {"State": "updating"}
    code, out, _ = project.gates("status")
    assert code == 0
    assert "an update is in progress (interrupted?); waiting for Swarm" in out
    assert "completed interrupted deploy #" in out and re.search(rf"staging +http\S+ +{b}", out)
    row = project.history().deploys("staging")[-1]
    assert (row["release_id"], row["state"], row["error"]) == (
        b,
        "succeeded",
        "completed after an interruption",
    )


def test_a_deploy_killed_before_its_update_is_recorded_failed(project):
    a = project.release("A")
    project.release("B")
    project.deploy("A")
    book = project.history()
    book.start_deploy("staging", project.releases["B"], "deploy", {"key": "k"}, previous=a)
    code, out, _ = project.gates("status")
    assert "interrupted before the update went live" in out
    assert [r["state"] for r in project.history().deploys("staging")] == ["succeeded", "failed"]


def test_the_lock_waits_for_a_live_holder_and_takes_over_from_a_dead_one(project):
    project.release("A")
    config = load_config(project.config, environ={"PIPELINE_STATE_DIR": str(project.state)})
    from gates.targets.swarm.environment import SwarmEnvironment

    env = SwarmEnvironment(config, "staging")
    holder = EngineLock(env.docker, env.lock, env.stack, lease=600)
    assert holder.try_acquire()
    code, _, err = project.deploy("A")
    assert code == 3 and "environment mini-staging is busy" in err and "pid" in err
    holder.release()
    # A holder on this host whose process is gone: taken over at once.
    project.engine.run(
        ("config", "create", "--label", "gates.stack=mini-staging", "--label",
         f"gates.owner={socket.gethostname()} pid 999999999 started 1.0", "--label",
         "gates.expires=9999999999", env.lock, "-"), "x",
    )  # fmt: skip
    code, out, _ = project.deploy("A")
    assert code == 0 and "taking over the lock" in out
    assert env.lock not in project.engine.configs


def test_down_removes_service_edge_and_network_and_keeps_the_history(project):
    project.release("A")
    project.deploy("A")
    code, out, _ = project.gates("down", "--environment", "staging")
    assert code == 0
    engine = project.engine
    assert (engine.services, engine.containers, engine.networks) == ({}, {}, set())
    book = project.history()  # kept: a collected ledger closes its connection
    assert [r["event"] for r in book.db.execute("SELECT * FROM events")] == ["down"]
    assert "not running" in project.gates("status")[1]


def test_refused_images_and_an_unreachable_engine_or_registry(project):
    a = project.release("A")
    reference = project.engine.images
    missing = next(iter(reference))
    del reference[missing]
    code, _, err = project.deploy("A")
    assert code == 1 and f"the registry has no image {missing}" in err
    reference[missing] = "ok"
    project.engine.registry_down = True
    code, _, err = project.deploy("A")
    assert code == 3 and f"cannot pull {missing}" in err and "connection refused" in err
    project.engine.registry_down = False
    project.engine.unreachable = True
    code, _, err = project.deploy("A")
    assert code == 3 and "is unreachable: Cannot connect to the Docker daemon" in err
    assert len(err.strip().splitlines()) == 1
    project.engine.unreachable = False
    assert [r["state"] for r in project.history().deploys("staging")] == ["failed", "failed"]
    assert a


def test_rules_the_environments_prometheus_does_not_load_roll_the_deploy_back(project, monkeypatch):
    """The ledger says failed only when what serves is what ran before: a deploy whose rules
    the environment's Prometheus did not load is undone, not left serving as "failed"."""
    from gates.outcome import MeasurementError
    from gates.targets.swarm import deployer
    from gates.targets.swarm.prometheus import EnvironmentPrometheus

    refuse = []

    def load_rules(self, text, say):
        if refuse:
            raise MeasurementError("Prometheus did not list the rules after SIGHUP")

    monkeypatch.setattr(EnvironmentPrometheus, "wanted", property(lambda self: True))
    monkeypatch.setattr(EnvironmentPrometheus, "ensure", lambda self, say: None)
    monkeypatch.setattr(EnvironmentPrometheus, "load_rules", load_rules)
    monkeypatch.setattr(deployer, "release_rules", lambda config, release: "groups: []\n")
    a, b = project.release("A"), project.release("B")
    assert project.deploy("A")[0] == 0
    refuse.append(True)
    code, _, err = project.deploy("B")
    assert code == 1 and "did not load its rules" in err and f"rolled back to {a}" in err
    assert project.engine.serving() == a
    row = project.history().deploys("staging")[-1]
    assert (row["release_id"], row["state"]) == (b, "failed")


# The edge as part of the environment's desired state -------------------------------------
EDGE = "mini-staging-edge"


def rolled_back(engine):
    """Whether the pipeline asked Swarm to roll the service back."""
    return any(c[:2] == ("service", "rollback") for c in engine.calls)


def update_flags(call):
    """{flag: value} of a ``docker service update`` call."""
    found, rest = {}, list(call[2:-1])
    while rest:
        flag = rest.pop(0)
        if flag not in fake_engine.SWITCHES:
            found[flag] = rest.pop(0)
    return found


def edge_runs(engine):
    return EDGE in engine.containers and engine.containers[EDGE]["State"]["Running"]


def test_a_removed_edge_is_recreated_by_status_and_by_a_no_op_deploy(project):
    a = project.release("A")
    project.deploy("A")
    del project.engine.containers[EDGE]  # docker rm -f
    code, out, _ = project.gates("status")
    assert code == 0 and f"starting the edge {EDGE}" in out and "healthy" in out, out
    assert edge_runs(project.engine) and project.engine.serving() == a
    del project.engine.containers[EDGE]
    code, out, _ = project.deploy("A")
    assert code == 0 and "already live in staging" in out and f"starting the edge {EDGE}" in out
    assert project.engine.serving() == a


def test_a_stopped_edge_is_started_and_down_does_not_bring_it_back(project):
    project.release("A")
    project.deploy("A")
    project.engine.kill_edge()  # docker kill: Exited (137), not restarted by the engine
    code, out, _ = project.deploy("A")
    assert code == 0 and f"starting the edge {EDGE}" in out and edge_runs(project.engine)
    project.engine.kill_edge()
    code, out, _ = project.gates("down", "--environment", "staging")
    assert code == 0 and "starting the edge" not in out
    assert project.engine.containers == {}


def test_a_running_edge_that_does_not_answer_is_recreated(project, monkeypatch):
    from gates.targets.swarm import edge

    monkeypatch.setattr(edge, "ANSWER_GRACE", 0.2)
    project.release("A")
    project.deploy("A")
    project.engine.edge_broken = True
    calls = len(project.engine.calls)

    def run_anew(rest, stdin, run=project.engine._container_run):
        project.engine.edge_broken = False  # the new container answers
        return run(rest, stdin)

    monkeypatch.setattr(project.engine, "_container_run", run_anew)
    code, out, _ = project.gates("status")
    assert code == 0 and "runs but does not answer /edge-health" in out, out
    made = [c[:2] for c in project.engine.calls[calls:] if c[0] == "container"]
    assert ("container", "rm") in made and ("container", "run") in made


def test_an_edge_killed_mid_deploy_is_repaired_and_the_release_never_rolled_back(project):
    a, b = project.release("A"), project.release("B")
    project.deploy("A")
    project.engine.kill_edge_on_update = True
    code, out, err = project.deploy("B")
    assert code == 0, out + err
    assert f"the edge {EDGE} is exited (exit code 137): repairing it" in out
    assert "rolling back" not in out + err and not rolled_back(project.engine)
    assert project.engine.serving() == b
    rows = project.history().deploys("staging")
    assert [(r["release_id"], r["state"]) for r in rows] == [(a, "succeeded"), (b, "succeeded")]


def test_an_edge_that_cannot_be_repaired_is_exit_3_and_the_deploy_stays_in_flight(
    project, monkeypatch
):
    """Never judged, never rolled back: the next command verifies it once the edge answers."""
    from gates.targets.swarm import edge

    monkeypatch.setattr(edge, "ANSWER_GRACE", 0.2)
    monkeypatch.setattr(edge, "START_TIMEOUT", 0.5)
    a, b = project.release("A"), project.release("B")
    project.deploy("A")
    engine = project.engine

    def kill_for_good(kill=engine.kill_edge):  # and no edge started later answers
        kill()
        engine.edge_broken = True

    monkeypatch.setattr(engine, "kill_edge", kill_for_good)
    engine.kill_edge_on_update = True
    code, out, err = project.deploy("B")
    assert code == 3, out + err
    line = err.strip().splitlines()[-1]
    assert f"the edge {EDGE} does not answer on {project.engine.url}" in line
    assert f"the edge {EDGE} is exited (exit code 137)" in line and "stays in flight" in line
    assert not rolled_back(project.engine)
    spec = project.engine.services["mini-staging"]["Spec"]
    assert spec["Labels"]["gates.release"] == b  # still B: not rolled back
    assert [r["state"] for r in project.history().in_flight("staging")] == ["switching"]
    # status says it does not serve (1), naming the edge
    code, out, err = project.gates("status")
    assert code == 1 and f"the edge {EDGE} does not answer" in out, out + err
    assert "staging does not serve" in err and len(err.strip().splitlines()) == 1, err
    # repaired: the next command completes the deploy
    project.engine.edge_broken = False
    project.engine.kill_edge_on_update = False
    code, out, _ = project.gates("status")
    assert code == 0 and "completed interrupted deploy" in out, out
    rows = project.history().deploys("staging")
    assert [(r["release_id"], r["state"]) for r in rows] == [(a, "succeeded"), (b, "succeeded")]


def test_status_exits_1_when_nothing_serves_what_was_deployed_and_3_without_an_engine(project):
    project.release("A")
    project.deploy("A")
    project.engine.services.clear()  # docker service rm, behind the pipeline's back
    code, out, err = project.gates("status")
    assert code == 1 and "NOT RUNNING" in out, out
    assert "staging does not serve: nothing runs at" in err and "no `gates down`" in err, err
    project.engine.unreachable = True
    code, out, err = project.gates("status")
    assert code == 3 and "engine unreachable" in out, out
    assert err.count("\n") == 1 and "is unreachable: Cannot connect" in err, err
    project.engine.unreachable = False
    project.gates("down", "--environment", "staging")
    code, out, err = project.gates("status")
    assert code == 0 and "not running" in out, out + err


def test_a_rollback_goes_back_in_one_step_a_deploy_one_task_at_a_time(project):
    project.release("A"), project.release("B")
    project.deploy("A")
    project.deploy("B")
    code, out, _ = project.gates("rollback", "--environment", "staging", "--reason", "test")
    assert code == 0 and "(start-first, all tasks at once)" in out, out
    updates = [c for c in project.engine.calls if c[:2] == ("service", "update")]
    deploy, rollback = (update_flags(u) for u in updates)
    assert (deploy["--update-parallelism"], deploy["--update-monitor"]) == ("1", "5s")
    assert (rollback["--update-parallelism"], rollback["--update-monitor"]) == ("0", "1ms")
    assert rollback["--health-interval"] == "0.5s"


def test_a_rollback_too_quick_to_be_seen_starting_still_names_the_failed_task(project):
    """A one-step rollback may end between two polls: the failed task is then found among
    the service's tasks."""
    a = project.release("A")
    bad = project.release("BAD", "crash")
    project.deploy("A")
    update = project.engine._service_update

    def quick(rest, stdin):
        done = update(rest, stdin)
        project.engine.pending.remove("rollback_started")
        return done

    project.engine._service_update = quick
    code, _, err = project.deploy("BAD")
    assert code == 1 and f"Swarm rolled the update to {bad} back by itself" in err
    assert "task: non-zero exit (3) (RuntimeError: broken release)" in err and a in err
