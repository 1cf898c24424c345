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
    assert [r["event"] for r in project.history().db.execute("SELECT * FROM events")] == ["down"]
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
