"""How the swarm target follows an update through a lost node or a leader election, against a
scripted engine (the real thing: tests/faults): a poll that finds no leader is tried again
for a bounded time, anything else the engine refuses is raised at once, and an update that
waits on a task on a Down node is issued again, once per node."""

import json
import subprocess

import pytest

from gates.docker import DockerRefused, said
from gates.targets.swarm import service as service_module
from gates.targets.swarm.environment import SwarmEnvironment
from gates.targets.swarm.service import Service
from test_swarm_units import SWARM, project

NO_LEADER = DockerRefused(
    "docker service inspect failed: Error response from daemon: rpc error: code = Unknown "
    "desc = The swarm does not have a leader. It's possible that too few managers are online."
)


class ScriptedDocker:
    """Answers ``service inspect`` from a script of UpdateStatus states (an exception is raised
    instead), ``service ps`` and ``node ls`` from fixed tables; records every update."""

    def __init__(self, states, tasks=(), nodes=()):
        self.states, self.tasks, self.nodes, self.updates = list(states), tasks, nodes, []

    def run(self, *args, **_):
        if args[:2] == ("service", "inspect"):
            state = self.states.pop(0) if len(self.states) > 1 else self.states[0]
            if isinstance(state, Exception):
                raise state
            return Done(json.dumps({"State": state, "Message": state}))
        if args[:2] == ("service", "update"):
            self.updates.append(args)
            return Done("")
        raise AssertionError(f"unexpected docker {args}")

    def lines(self, *args):
        if args[:2] == ("service", "ps"):
            return [json.dumps(t) for t in self.tasks]
        if args[:2] == ("node", "ls"):
            return list(self.nodes)
        raise AssertionError(f"unexpected docker {args}")


class Done:
    def __init__(self, stdout):
        self.stdout, self.stderr, self.returncode = stdout, "", 0


@pytest.fixture
def service(tmp_path, monkeypatch):
    monkeypatch.setattr(service_module.time, "sleep", lambda _: None)
    made = Service(SwarmEnvironment(project(tmp_path, SWARM), "staging"))
    return made


def task(node, state):
    return {"Node": node, "CurrentState": state, "DesiredState": "Running", "Image": "i"}


def test_an_update_is_followed_through_a_leader_election(service):
    said = []
    service.docker = ScriptedDocker(["updating", NO_LEADER, NO_LEADER, "completed"])
    outcome = service.wait_update(float("inf"), said.append)
    assert outcome.state == "completed"
    assert any("no leader" in line and "waiting for the managers" in line for line in said)
    assert any("a leader answers again after" in line for line in said), said


def test_a_swarm_without_a_leader_for_too_long_is_one_line_exit_3(service, monkeypatch):
    clock = iter(range(0, 10_000, 30))
    monkeypatch.setattr(service_module.time, "monotonic", lambda: next(clock))
    service.docker = ScriptedDocker([NO_LEADER])
    with pytest.raises(DockerRefused) as caught:
        service.wait_update(float("inf"), lambda _: None)
    message = str(caught.value)
    assert "the swarm had no leader for 60 s" in message and "\n" not in message
    assert caught.value.exit_code == 3


def test_any_other_refusal_is_raised_at_once(service):
    other = DockerRefused("docker service inspect failed: Error: No such service: x")
    service.docker = ScriptedDocker(["updating", other])
    with pytest.raises(DockerRefused, match="No such service"):
        service.wait_update(float("inf"), lambda _: None)


def test_an_update_waiting_on_a_lost_node_is_issued_again_once(service):
    said = []
    docker = ScriptedDocker(
        ["updating", "updating", "updating", "completed"],
        tasks=[task("gates-n2", "Starting 2 minutes ago"), task("gates-n1", "Running 1 second"),
               task("gates-n2", "Shutdown 5 minutes ago")],  # fmt: skip
        nodes=["gates-n1 Ready", "gates-n2 Down", "gates-n3 Ready"],
    )
    service.docker = docker
    assert service.wait_update(float("inf"), said.append).state == "completed"
    assert [u[-2:] for u in docker.updates] == [("--force", service.name)]  # once, not per poll
    assert any("waits on tasks on gates-n2, which Swarm sees Down" in line for line in said)


def test_an_update_with_every_node_ready_is_left_to_swarm(service):
    docker = ScriptedDocker(
        ["updating", "completed"],
        tasks=[task("gates-n1", "Starting 1 second ago")],
        nodes=["gates-n1 Ready", "gates-n2 Ready"],
    )
    service.docker = docker
    assert service.wait_update(float("inf"), lambda _: None).state == "completed"
    assert docker.updates == []


@pytest.mark.parametrize(
    "stderr",
    [
        "docker: Error response from daemon: attach failed.\n"
        "Run 'docker run --help' for more information\n",
        "docker: Error response from daemon: attach failed.\nSee 'docker run --help'.\n",
    ],
)
def test_a_refusal_is_the_daemons_line_not_the_clis_hint(stderr):
    done = subprocess.CompletedProcess(["docker", "run"], 125, "", stderr)
    assert said(done) == "docker: Error response from daemon: attach failed."
