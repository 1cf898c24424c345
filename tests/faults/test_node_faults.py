"""The swarm target past one machine: the pipeline on three nodes while a node dies, the
leader dies, the network splits, or the node running the edge is lost
(tests/support/swarm_nodes.py).

Each scenario runs staging with three replicas, spread one per node (the placement
preference), under RATE requests/s through the edge, and does its fault once Swarm is rolling
the service over (or, for the edge, while it serves). Whatever happens, the pipeline's verdict
is "done" (exit 0) or exactly why not (exit 1 or 3, one line), and afterwards the history the
engine keeps, read by a fresh runner, names the release that serves. Each scenario prints one
``FAULT {...}`` line of what it measured (failed requests / sent, seconds to recover, the
verdict, the node that ran the edge); benchmarks/swarm_faults.py runs them repeatedly and
docs/benchmarks.md has the figures.
"""

from __future__ import annotations

import collections
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import psutil
import pytest

from deploy_fixture import ROOT, Checkout
from gates.engine import mounts, nodes
from gates.engine.nodes import Node
from gates.perf.load import ConstantRateLoad, LoadResult
from support.swarm import engine_ledger, load, serving
from support.swarm_nodes import Cluster, NodesScenario, node_docker, three_nodes, wait_until

REPLICAS = 3
COMMAND_TIMEOUT = 600.0  # s: a bound on a hung gates command, never a verdict
RECOVERY_TIMEOUT = 180.0  # s: the service whole again after a fault (a bound on a hang)
RECORD_ENV = "GATES_FAULTS_RECORD"  # a JSON-lines file the measurements are appended to
# Each fault scenario runs this many times (benchmarks/swarm_faults.py sets 5).
ROUNDS = int(os.environ.get("GATES_FAULTS_ROUNDS", "1"))
each_round = pytest.mark.parametrize("round_", range(1, ROUNDS + 1), ids=lambda r: f"round{r}")


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    cluster = three_nodes(tmp_path / "home")
    cluster.restore()  # whatever an earlier scenario left: every node back and Ready
    yield cluster


@pytest.fixture
def on_nodes(tmp_path, shared_releases, cluster) -> Iterator[Callable[[Node], NodesScenario]]:
    """Factory: a scenario reaching the swarm through a node; afterwards every node is back
    and every object of the scenario removed."""
    made: list[NodesScenario] = []

    def make(through: Node) -> NodesScenario:
        made.append(NodesScenario(tmp_path / f"s{len(made)}", shared_releases, cluster, through))
        return made[-1]

    yield make
    cluster.restore()
    for scenario in made:
        scenario.remove_everything()


def failures(result: LoadResult) -> dict[str, int]:
    """The failed requests by what went wrong (status or error), most frequent first."""
    kinds = collections.Counter(
        f"{s.status}" if s.status else s.error.split(":")[0] for s in result.failures
    )
    return dict(kinds.most_common(3))


def record(fault: str, **measured: object) -> None:
    line = json.dumps({"fault": fault, **measured})
    print(f"FAULT {line}")
    where = os.environ.get(RECORD_ENV)
    if where:
        with open(where, "a") as out:
            out.write(line + "\n")


def record_run(
    fault: str,
    run: Faulted,
    result: LoadResult,
    recovered: float,
    history: str,
    live: str,
    **where: object,
) -> None:
    """``record`` a command run under a fault: ``where`` names the nodes involved."""
    record(fault, **where, failed=len(result.failures), errors=failures(result),
           sent=len(result.samples), recovered_s=recovered, exit=run.exit, said=run.said,
           history=history, serving=live)  # fmt: skip


@dataclass
class Faulted:
    """A gates command run under load, with a fault done once its rollout had begun."""

    exit: int
    output: str
    faulted_at: float  # time.monotonic() of the fault
    traffic: ConstantRateLoad

    @property
    def said(self) -> str:
        return said_last(self.output)


def said_last(output: str) -> str:
    """A command's last line: its verdict, or why it has none."""
    lines = [line for line in output.splitlines() if line.strip()]
    return lines[-1] if lines else ""


def update_state(service: str, via: Node) -> str:
    done = node_docker(via, "service", "inspect", "--format", "{{json .UpdateStatus}}", service)
    found = json.loads(done.stdout or "null") if done.returncode == 0 else None
    return str((found or {}).get("State") or "")


def under_fault(
    swarm: NodesScenario, checkout: Checkout, fault: Callable[[], object], *args: str
) -> Faulted:
    """``gates *args`` under RATE requests/s through the edge; ``fault()`` once Swarm rolls
    the service over (or the command ended first)."""
    service = f"{swarm.prefix}-staging"
    traffic = load(swarm, "staging")
    time.sleep(1.0)
    command = checkout.popen(*args)
    try:
        wait_until(lambda: update_state(service, swarm.through) == "updating"
                   or command.poll() is not None, COMMAND_TIMEOUT, "the rollout begun")  # fmt: skip
        fault()
        faulted_at = time.monotonic()
        output, _ = command.communicate(timeout=COMMAND_TIMEOUT)
        print(output)
    finally:
        if command.poll() is None:
            command.kill()
    return Faulted(command.returncode, output, faulted_at, traffic)


def recovered_after(run: Faulted, swarm: NodesScenario, lost: Node, via: Node) -> float:
    """Seconds from the fault until the service ran all its replicas on nodes other than
    ``lost``, as ``via`` sees it."""
    service = f"{swarm.prefix}-staging"

    def whole() -> bool:
        counts = swarm.cluster.where(service, via)
        return sum(n for name, n in counts.items() if name != lost.name) >= REPLICAS

    wait_until(whole, RECOVERY_TIMEOUT, f"{REPLICAS} replicas on live nodes")
    return round(time.monotonic() - run.faulted_at, 1)


def stop_traffic(run: Faulted) -> LoadResult:
    time.sleep(2.0)  # traffic after it all, too
    return run.traffic.stop()


def history_and_live(swarm: NodesScenario) -> tuple[str, str]:
    """(the release the history says is live in staging, the release that answers through
    the edge): the history read by a fresh runner from the engine. A command that could not
    judge its change (exit 3) leaves it in flight, to be settled by the next command on the
    environment: then a fresh runner's ``gates status`` is that command."""
    runner = swarm.checkout()
    # A healed partition can leave the swarm without a leader for tens of seconds (measured
    # ~34 s), when nothing can read the history: a command would say so (exit 3).
    wait_until(lambda: swarm.cluster.leader(via=[swarm.through]) is not None, RECOVERY_TIMEOUT,
               "the swarm has a leader")  # fmt: skip
    if engine_ledger(runner).in_flight("staging"):
        print(runner.gates("status", "--environment", "staging", check=False).stdout)
    book = engine_ledger(runner)
    open_ = [dict(row) for row in book.in_flight("staging")]
    assert open_ == [], open_
    last = book.last_succeeded("staging")
    return (str(last["release_id"]) if last else ""), steady_release(swarm)


def steady_release(swarm: NodesScenario, answers: int = 20) -> str:
    """The release ``answers`` consecutive requests through the edge name: what serves once
    the cluster settled (a node back from a partition may answer with its old task for a few
    seconds until Swarm stops it)."""
    names: list[str] = []

    def steady() -> bool:
        names.append(serving(swarm, "staging"))
        return len(names) >= answers and len(set(names[-answers:])) == 1

    wait_until(steady, RECOVERY_TIMEOUT, f"{answers} answers in a row from one release")
    stale = [name for name in names[:-answers] if name != names[-1]]
    if stale:
        print(f"before it settled, {len(stale)} of {len(names)} answers came from {set(stale)}")
    return names[-1]


def deployed(swarm: NodesScenario, *names: str) -> Checkout:
    """A clone holding ``names`` with the first deployed to staging, one task per node."""
    checkout = swarm.checkout(*names)
    checkout.gates("deploy", "--environment", "staging", "--release", checkout.releases[names[0]])
    spread = swarm.cluster.where(f"{swarm.prefix}-staging", swarm.through)
    assert sorted(spread.values()) == [1] * REPLICAS, spread  # spread over the nodes
    return checkout


def stated(run: Faulted) -> None:
    """Done, or exactly why not: exit 1 (judged bad) or 3 (could not tell), in one line."""
    assert run.exit in (0, 1, 3), run.output
    assert "Traceback" not in run.output, run.output
    if run.exit:
        assert run.said.startswith("gates "), run.output


def other_than(cluster: Cluster, *nodes: Node | None) -> Node:
    return next(n for n in cluster.all if n not in nodes)


@each_round
def test_a_worker_lost_mid_deploy_loses_no_request_and_the_deploy_completes(
    on_nodes, cluster, round_
):
    through = cluster.leader()  # the pipeline reaches the swarm through the leader: the edge
    swarm = on_nodes(through)
    checkout = deployed(swarm, "A", "B")
    b = checkout.releases["B"]
    victim = other_than(cluster, through)

    run = under_fault(swarm, checkout, lambda: cluster.lose(victim),
                      "deploy", "--environment", "staging", "--release", b)  # fmt: skip
    recovered = recovered_after(run, swarm, victim, through)
    result = stop_traffic(run)
    history, live = history_and_live(swarm)
    record_run("worker lost mid-deploy", run, result, recovered, history, live,
               lost=victim.name, edge=through.name)  # fmt: skip
    stated(run)
    assert result.failures == [], result.failures[:5]  # the edge retried on a live task
    assert run.exit == 0 and history == live == b, run.output


@each_round
def test_the_leader_lost_mid_deploy_leaves_a_verdict_that_agrees_with_the_history(
    on_nodes, cluster, round_
):
    leader = cluster.leader()
    through = other_than(cluster, leader)  # a manager that stays: the pipeline's and the edge's
    swarm = on_nodes(through)
    checkout = deployed(swarm, "A", "B")
    a, b = checkout.releases["A"], checkout.releases["B"]

    # Killed (its peers see resets), not cut off: a leader blackholed mid-deploy once left a
    # live node's agent taking no new task for over 8 minutes, a Swarm stall the deploy
    # cannot step past (docs/deploy.md, Running on your own cluster).
    run = under_fault(swarm, checkout, lambda: cluster.kill(leader),
                      "deploy", "--environment", "staging", "--release", b)  # fmt: skip
    recovered = recovered_after(run, swarm, leader, through)
    result = stop_traffic(run)
    history, live = history_and_live(swarm)
    elected = cluster.leader(via=[through])
    record_run("leader lost mid-deploy", run, result, recovered, history, live,
               lost=leader.name, edge=through.name,
               new_leader=elected.name if elected else None)  # fmt: skip
    stated(run)
    assert history == live, (history, live)
    assert live == (b if run.exit == 0 else live) and live in (a, b), run.output


@each_round
def test_a_node_partitioned_during_a_rollback(on_nodes, cluster, round_):
    through = cluster.leader()
    swarm = on_nodes(through)
    checkout = deployed(swarm, "A", "B")
    a, b = checkout.releases["A"], checkout.releases["B"]
    checkout.gates("deploy", "--environment", "staging", "--release", b)
    cut = other_than(cluster, through)

    run = under_fault(swarm, checkout, lambda: cluster.partition(cut), "rollback",
                      "--environment", "staging", "--reason", "partition drill")  # fmt: skip
    recovered = recovered_after(run, swarm, cut, through)
    cluster.heal(cut)
    result = stop_traffic(run)
    history, live = history_and_live(swarm)
    record_run("node partitioned during a rollback", run, result, recovered, history, live,
               partitioned=cut.name, edge=through.name)  # fmt: skip
    stated(run)
    assert history == live, (history, live)
    if run.exit == 0:
        assert live == a, run.output


@each_round
def test_the_node_running_the_edge_lost_is_a_single_point_until_it_is_back(
    on_nodes, cluster, round_
):
    leader = cluster.leader()
    through = other_than(cluster, leader)  # its edge and the pipeline's way in; not the leader
    swarm = on_nodes(through)
    checkout = deployed(swarm, "A")
    a = checkout.releases["A"]
    traffic = load(swarm, "staging")
    time.sleep(2.0)
    cluster.lose(through)
    lost_at = time.monotonic()
    time.sleep(3.0)
    # The pipeline cannot reach the swarm through the lost node: it says so, exit 3.
    status = checkout.gates("deploy", "--environment", "staging", "--release", a, check=False)
    # The machine comes back (what a reboot does), then the next command on the environment
    # (here `gates status`) finds the edge and starts it if its dockerd has not yet: an edge
    # on an overlay network cannot start until its node is active in the swarm again.
    back_at = time.monotonic()
    cluster.restore()
    node_back = time.monotonic() - back_at
    # Until the node is back in the swarm with its overlay networks, a command says why it
    # cannot start the edge (exit 3, e.g. "network ... not found"); the next one does.
    attempts: list[int] = []

    def repaired() -> bool:
        attempts.append(
            checkout.gates("status", "--environment", "staging", check=False).returncode
        )
        return attempts[-1] == 0 and serving(swarm, "staging") == a

    wait_until(repaired, RECOVERY_TIMEOUT, "the edge serving again after `gates status`")
    served_at = time.monotonic()
    time.sleep(2.0)
    result = traffic.stop()
    history, live = history_and_live(swarm)
    record("edge node lost", lost=through.name, edge=through.name,
           failed=len(result.failures), errors=failures(result), sent=len(result.samples),
           outage_s=round(served_at - lost_at, 1), node_back_s=round(node_back, 1),
           status_exits=attempts,
           recovered_s=round(served_at - back_at, 1), exit=status.returncode,
           said=said_last(status.stdout + status.stderr), history=history,
           serving=live)  # fmt: skip
    assert status.returncode == 3, status.stdout + status.stderr
    assert history == live == a, (history, live)


DRILL_LIMITS = "\n[tool.pipeline.drill]\ndetect_target = 120\nrestore_target = 120\n"


def test_the_pipeline_runs_whole_on_three_nodes_and_its_history_outlives_its_writer(
    on_nodes, cluster
):
    """Deploy, gates, promotion, rollback and the failure drill on the three-node swarm; then
    the node every record was written through is lost, and the history is read whole through
    another manager."""
    leader = cluster.leader()
    # Neither the leader (its loss keeps the majority) nor node 1 (the registry is there).
    writer = other_than(cluster, leader, nodes.MANAGER)
    swarm = on_nodes(writer)
    checkout = swarm.checkout("A", "B")
    pyproject = checkout.path / "pyproject.toml"
    pyproject.write_text(pyproject.read_text() + DRILL_LIMITS)
    a, b = checkout.releases["A"], checkout.releases["B"]
    for release in (a, b):
        checkout.gates("deploy", "--environment", "staging", "--release", release)
        checkout.gates("smoke", "--environment", "staging")
        checkout.gates("perf", "--environment", "staging")
        checkout.gates("deploy", "--environment", "production")  # promotes what staging runs
    assert serving(swarm, "production") == b
    for environment in ("staging", "production"):
        spread = cluster.where(f"{swarm.prefix}-{environment}", writer)
        print(f"{environment}: tasks per node {spread}")
        # One per node when every node takes tasks; a node just back may not yet.
        assert len(spread) > 1 and sum(spread.values()) == REPLICAS, (environment, spread)
    done = checkout.gates("rollback", "--environment", "production", "--reason", "three nodes")
    assert f"production: {b} -> {a}" in done.stdout, done.stdout
    drill = checkout.gates("drill", "--environment", "staging", "--rate", "50", check=False)
    assert drill.returncode == 0, drill.stdout + drill.stderr
    written = history_of(swarm)

    cluster.lose(writer)
    elsewhere = NodesScenario(swarm.directory / "elsewhere", swarm.shared, cluster,
                              other_than(cluster, writer, leader))  # fmt: skip
    elsewhere.prefix, elsewhere.ports = swarm.prefix, swarm.ports
    read = wait_until(lambda: history_of(elsewhere) == written, RECOVERY_TIMEOUT,
                      "the history read whole through another manager")  # fmt: skip
    record("writer lost, history read elsewhere", lost=writer.name, read_after_s=round(read, 1),
           records=sum(len(rows) for rows in written.values()))  # fmt: skip
    assert [(kind, rid, state) for kind, rid, state in written["production"]] == [
        ("deploy", a, "succeeded"),
        ("deploy", b, "succeeded"),
        ("rollback", a, "succeeded"),
    ]


def history_of(swarm: NodesScenario) -> dict[str, list[tuple[str, str, str]]]:
    """Each environment's deploys (kind, release, state) as a fresh runner reads them."""
    book = engine_ledger(swarm.checkout())
    return {
        environment: [(r["kind"], r["release_id"], r["state"]) for r in book.deploys(environment)]
        for environment in ("staging", "production")
    }


def engine_nodes(*args: str) -> str:
    """``gates engine <args>`` of this repository (what .ci/run and the workflow run)."""
    done = subprocess.run([sys.executable, "-m", "gates", "engine", *args], capture_output=True,
                          text=True, timeout=RECOVERY_TIMEOUT, cwd=ROOT)  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout + done.stderr


def kill_dockerd(node: Node) -> None:
    """``kill -9`` of the node's dockerd alone, as a killed test run leaves it: its
    containerd, shims and containers live on, its mounts stay."""
    started = node.record.started("dockerd")
    assert started is not None and started.alive, node.name
    os.kill(started.pid, signal.SIGKILL)
    wait_until(lambda: not started.alive, RECOVERY_TIMEOUT, f"{node.name}'s dockerd gone")


def still_running(processes: set[tuple[int, float]]) -> list[int]:
    """The pids of ``processes`` (pid, start time) that still run (not a reused pid)."""
    running = []
    for pid, started in processes:
        try:
            if psutil.Process(pid).create_time() == started:
                running.append(pid)
        except psutil.NoSuchProcess:
            continue
    return running


def test_what_a_run_killed_with_9_leaves_is_reaped_by_the_next_up_and_down(on_nodes, cluster):
    through = cluster.leader()
    swarm = on_nodes(through)
    deployed(swarm, "A")  # a task on every node: containers, shims, mounts
    victim = other_than(cluster, through)
    cluster.partition(victim)  # killed in the middle of a fault: cut off, its dockerd killed
    kill_dockerd(victim)
    left = {(p.pid, p.create_time()) for p in nodes.leftovers(victim)}
    assert len(left) >= 2, left  # containerd and the task's shim at least
    assert mounts.under(victim.exec_root), "no mounts left to reap"

    said = engine_nodes("up", "--nodes", str(len(cluster.all)))
    assert f"{victim.name}: killed" in said, said
    assert not still_running(left), left
    wait_until(cluster.whole, RECOVERY_TIMEOUT, "every node back in the swarm")

    kill_dockerd(other_than(cluster, through, victim))
    engine_nodes("down", "--nodes", str(len(cluster.all)))
    assert not [p for p in Path("/run/netns").glob("gates-n*")], "namespaces left"
    assert not nodes.link_exists(nodes.BRIDGE)
    assert not any(nodes.link_exists(node.veth) for node in cluster.all), "veths left"
    assert not [p.pid for node in cluster.all for p in nodes.leftovers(node)], "processes left"
    assert not mounts.under(nodes.RUN) and not mounts.under(nodes.STATE), "mounts left"
