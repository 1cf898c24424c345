"""The three-node swarm for the fault scenarios: ``gates engine up --nodes 3``
(gates.engine.nodes), three dockerds in network namespaces of their own, all managers, the
registry with TLS and credentials on node 1's address, where every node pulls from.

``three_nodes()`` returns the :class:`Cluster` when it is up; otherwise the test is skipped
saying what to run, and fails when ``CI`` is set (.ci/run starts it). A scenario talks to one
node (:meth:`Cluster.engine`), whose dockerd also runs the environment's edge, as the pipeline
talks to the manager DOCKER_HOST names; the faults are done to the nodes from outside, the way
a machine dies or a network splits:

- ``lose(node)``: the node's link goes down, then everything of it is killed (its dockerd,
  containerd, shims and containers): a machine that stopped, whose packets go nowhere;
- ``kill(node)``: everything of it killed with -9, its address still answering with resets;
- ``partition(node)`` / ``heal(node)``: its link down / up, its processes untouched;
- ``restore()``: links up and ``gates engine up --nodes 3`` (a lost node's dockerd starts
  again on its data root and rejoins), then wait until every node is Ready again.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from filelock import FileLock

from deploy_fixture import ROOT, Checkout, SharedReleases
from gates.engine import nodes
from gates.engine.nodes import Node
from support.ssh_node import SshNode, node_problem
from support.swarm import SwarmEngine, SwarmScenario, release_image
from support.timeouts import HANG

COUNT = 3
READY_TIMEOUT = 120.0  # s: a node back and Ready (a bound on a hang; Swarm takes ~20 s)


def three_nodes(home: Path) -> Cluster:
    problem = node_problem(COUNT)
    if problem is not None:
        if os.environ.get("CI"):
            pytest.fail(f"CI is set but the fault scenarios cannot run: {problem}")
        pytest.skip(
            f"FAULT SCENARIOS NOT RUN: {problem}; run `sudo nox -s engine -- up --nodes {COUNT}`"
        )
    return Cluster(json.loads(nodes.OUTPUTS.read_text()), home)


def node_docker(node: Node, *args: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    """The docker CLI against ``node``'s own dockerd (its socket on this host); never raises
    on a refusal: a lost node's is the caller's to read."""
    return subprocess.run(
        ["docker", *args], capture_output=True, text=True, timeout=timeout,
        env={**os.environ, "DOCKER_HOST": node.docker_host},
    )  # fmt: skip


@dataclass
class Cluster:
    given: dict[str, str]  # what a GitHub environment is given (gates.engine.nodes.environment)
    home: Path

    @property
    def all(self) -> list[Node]:
        return nodes.nodes(COUNT)

    def engine(self, node: Node) -> SwarmEngine:
        """The swarm as a scenario reaches it through ``node``'s dockerd (which runs the edge
        and Prometheus), logged in to the registry with a client configuration of its own."""
        config = self.home / "docker-config"
        config.mkdir(parents=True, exist_ok=True)
        engine = SwarmEngine(
            docker_host=node.docker_host,
            registry=nodes.registry_host(),
            edge_image=self.given_image("edge_image"),
            prometheus_image=self.given_image("prometheus_image"),
            address=node.address,
            environ=(
                ("DOCKER_CONFIG", str(config)),
                ("REGISTRY_USERNAME", self.given["REGISTRY_USERNAME"]),
                ("REGISTRY_PASSWORD", self.given["REGISTRY_PASSWORD"]),
            ),
        )
        engine.docker("login", nodes.registry_host(), "--username",
                      self.given["REGISTRY_USERNAME"], "--password-stdin",
                      stdin=self.given["REGISTRY_PASSWORD"])  # fmt: skip
        return engine

    def given_image(self, key: str) -> str:
        """The image ``key`` names in PIPELINE_TARGETS (already the registry's name)."""
        for line in self.given["PIPELINE_TARGETS"].splitlines():
            if line.startswith(f"{key} = "):
                return line.split("=", 1)[1].strip().strip('"')
        raise AssertionError(f"{key} is not in PIPELINE_TARGETS: {self.given['PIPELINE_TARGETS']}")

    def leader(self, via: list[Node] | None = None) -> Node | None:
        """The node Swarm says leads now (asked of the first live node of ``via``)."""
        for node in via or self.all:
            done = node_docker(node, "node", "ls", "--format", "{{.Hostname}} {{.ManagerStatus}}")
            if done.returncode != 0:
                continue
            for line in done.stdout.splitlines():
                name, _, status = line.partition(" ")
                if status == "Leader":
                    return next(n for n in self.all if n.name == name)
        return None

    def ready(self, via: Node) -> dict[str, str]:
        """Each node's status as ``via`` sees it ({} when it cannot say)."""
        done = node_docker(via, "node", "ls", "--format", "{{.Hostname}} {{.Status}}")
        if done.returncode != 0:
            return {}
        return dict(line.split(" ", 1) for line in done.stdout.splitlines() if " " in line)

    def whole(self) -> bool:
        """Every node is in the swarm and every node sees all of them Ready."""
        if nodes.status(COUNT, lambda _: None):
            return False
        return all(list(self.ready(n).values()) == ["Ready"] * COUNT for n in self.all)

    def where(self, service: str, via: Node) -> dict[str, int]:
        """How many running tasks of ``service`` each node has, as ``via`` sees it."""
        done = node_docker(via, "service", "ps", "--filter", "desired-state=running",
                           "--format", "{{.Node}} {{.CurrentState}}", service)  # fmt: skip
        counts: dict[str, int] = {}
        for line in done.stdout.splitlines():
            name, _, state = line.partition(" ")
            if state.startswith("Running"):
                counts[name] = counts.get(name, 0) + 1
        return counts

    def partition(self, node: Node) -> None:
        subprocess.run(["ip", "link", "set", node.veth, "down"], check=True, timeout=HANG)

    def heal(self, node: Node) -> None:
        subprocess.run(["ip", "link", "set", node.veth, "up"], check=True, timeout=HANG)

    def lose(self, node: Node) -> None:
        """The node stops as a machine does: unreachable at once, then nothing of it runs
        (its peers' connections to it hang until they time out)."""
        self.partition(node)
        nodes.reap(node, lambda _: None)

    def kill(self, node: Node) -> None:
        """Everything of the node killed with -9 (dockerd, containerd, shims, containers),
        its address still there: its peers' connections are reset at once."""
        nodes.reap(node, lambda _: None)

    def restore(self) -> float:
        """Every node back and Ready; the seconds that took."""
        began = time.monotonic()
        for node in self.all:
            if nodes.link_exists(node.veth):  # after a `down` there is none: `up` makes it
                self.heal(node)
        done = subprocess.run(
            [sys.executable, "-m", "gates", "engine", "up", "--nodes", str(COUNT)],
            capture_output=True, text=True, timeout=READY_TIMEOUT, cwd=ROOT,
        )  # fmt: skip
        assert done.returncode == 0, done.stdout + done.stderr
        print(done.stdout + done.stderr, end="")  # what `up` found missing and started
        wait_until(self.whole, READY_TIMEOUT, f"all {COUNT} nodes active and Ready")
        return time.monotonic() - began


def wait_until(condition: Callable[[], object], timeout: float, what: str) -> float:
    """Seconds until ``condition()`` holds; AssertionError naming ``what`` after ``timeout``."""
    began = time.monotonic()
    while not condition():
        if time.monotonic() - began > timeout:
            raise AssertionError(f"not within {timeout:g} s: {what}")
        time.sleep(0.25)
    return time.monotonic() - began


class NodesScenario(SwarmScenario):
    """A swarm scenario on the three-node swarm, through one node; its releases' images
    pushed to the nodes' registry (once per test run)."""

    def __init__(
        self, directory: Path, shared: SharedReleases, cluster: Cluster, through: Node
    ) -> None:
        super().__init__(directory, shared, cluster.engine(through))
        self.cluster, self.through = cluster, through

    def checkout(self, *names: str) -> Checkout:
        """A clone as SwarmScenario's, its environments with a task on every node."""
        checkout = super().checkout(*names)
        pyproject = checkout.path / "pyproject.toml"
        text = pyproject.read_text()
        pyproject.write_text(text.replace("replicas = 2\n", f"replicas = {COUNT}\n"))
        return checkout

    def image(self, name: str) -> dict[str, str]:
        cache = self.shared.root / f"{name}.nodes-image.json"
        with FileLock(self.shared.root / f"{name}.nodes-image.lock"):
            if cache.is_file():
                return dict(json.loads(cache.read_text()))
            local = release_image(self.shared, name)
            rid = self.shared.release_dir(name).name
            pusher = SshNode(self.cluster.given, self.cluster.home)
            image = pusher.push(local["reference"], f"gates-e2e/techcorp-api:{rid}")
            cache.write_text(json.dumps(image))
            return image
