"""What is there now (``State``), and what ``gates engine up`` has left to do (``Plan``).

The engine is probed through the Docker CLI, the registry through its HTTP API, the images by
``docker image inspect`` and the registry's manifests. A plan starts only what does not
answer, and only where this machine can: a dockerd on a ``unix://`` ``docker_host``, a
registry on a loopback address with a port. Anything else that does not answer is a problem
the plan names (``up`` exits 3 with it).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from gates.docker import Docker
from gates.engine.layout import Layout
from gates.outcome import MeasurementError
from gates.registry import Registry, split_reference

if TYPE_CHECKING:
    from gates.config import EngineConfig

ACTIVE = "active"


@dataclass(frozen=True)
class State:
    engine: str | None  # the engine's version when it answers
    engine_why: str  # why it does not
    swarm: str  # the node's swarm state ("active", "inactive", ...); "" when unknown
    registry_why: str | None  # None: answers (or none configured); else why not
    base_image: bool | None  # present in the engine; None when the engine is down
    edge_image: bool | None
    edge_pushed: bool | None  # in the registry; None when it does not go to one
    prometheus_image: bool | None = None
    prometheus_pushed: bool | None = None

    def lacking(self, swarm: bool = True) -> list[str]:
        """What ``up`` makes that is not there, in words; empty when everything is."""
        if self.engine is None:
            return ["dockerd does not answer"] + (
                ["the registry does not answer"] if self.registry_why else []
            )
        named = [
            (swarm and self.swarm != ACTIVE, f"swarm {self.swarm or 'unknown'}"),
            (self.registry_why is not None, "the registry does not answer"),
            (not self.base_image, "no base image"),
            (not self.edge_image, "no edge image"),
            (self.edge_pushed is False, "the edge image is not in the registry"),
            # Only swarm environments run a Prometheus (a machine that only builds needs none).
            (swarm and not self.prometheus_image, "no prometheus image"),
            (
                swarm and self.prometheus_pushed is False,
                "the prometheus image is not in the registry",
            ),
        ]
        return [what for lacking, what in named if lacking]

    def ready(self, swarm: bool = True) -> bool:
        """Everything ``up`` makes is there."""
        return not self.lacking(swarm)


@dataclass(frozen=True)
class Plan:
    start_engine: bool
    start_registry: bool
    init_swarm: bool
    build_base: bool
    build_edge: bool
    push_edge: bool
    problems: tuple[str, ...]  # what does not answer and cannot be started here
    build_prometheus: bool = False
    push_prometheus: bool = False


def edge_repository(engine: EngineConfig) -> tuple[Registry, str, str] | None:
    """(registry, repository, tag) when the edge image lives in the configured registry."""
    return repository_of(engine, engine.edge_image)


def repository_of(engine: EngineConfig, reference: str) -> tuple[Registry, str, str] | None:
    """(registry, repository, tag) when the image ``reference`` lives in the configured
    registry."""
    if not engine.registry:
        return None
    registry = Registry.parse(engine.registry)
    host, repository, tag = split_reference(reference)
    return (registry, repository, tag) if host == registry.host else None


def image_present(docker: Docker, reference: str) -> bool:
    return docker.image_id(reference) is not None


def survey(engine: EngineConfig) -> State:
    docker = Docker.of(engine)
    version, why = docker.server_version()
    registry_why = Registry.parse(engine.registry).answers() if engine.registry else None
    pushed: dict[str, bool | None] = {}
    for reference in (engine.edge_image, engine.prometheus_image):
        found = repository_of(engine, reference)
        if found is not None and registry_why is None:
            registry, repository, tag = found
            try:
                pushed[reference] = registry.manifest_digest(repository, tag) is not None
            except MeasurementError as exc:
                registry_why = str(exc)
    edge_pushed = pushed.get(engine.edge_image)
    prometheus_pushed = pushed.get(engine.prometheus_image)
    if version is None:
        return State(
            None, why or "", "", registry_why, None, None, edge_pushed, None, prometheus_pushed
        )
    swarm, _ = docker.ask("info", "--format", "{{.Swarm.LocalNodeState}}", timeout=60)
    return State(
        version,
        "",
        swarm or "",
        registry_why,
        image_present(docker, engine.base_image),
        image_present(docker, engine.edge_image),
        edge_pushed,
        image_present(docker, engine.prometheus_image),
        prometheus_pushed,
    )


def plan(engine: EngineConfig, state: State, swarm: bool = True) -> Plan:
    layout, problems = Layout.of(engine), []
    start_engine = state.engine is None and layout.socket is not None
    if state.engine is None and layout.socket is None:
        problems.append(
            f"the container engine at {Docker.of(engine).where} does not answer "
            f"({state.engine_why}); `up` starts one only on a unix:// socket: set "
            "[tool.pipeline.engine] docker_host, e.g. unix:///run/gates-docker/docker.sock"
        )
    registry = Registry.parse(engine.registry)
    start_registry = state.registry_why is not None and registry.loopback and bool(registry.port)
    if state.registry_why is not None and not start_registry:
        problems.append(
            f"{state.registry_why}; `up` starts a registry only on a loopback address with a "
            "port ([tool.pipeline.engine] registry, e.g. 127.0.0.1:15000)"
        )
    engine_down = state.engine is None
    build_edge = engine_down or not state.edge_image
    pushes = edge_repository(engine) is not None
    build_prometheus = swarm and (engine_down or not state.prometheus_image)
    pushes_prometheus = repository_of(engine, engine.prometheus_image) is not None
    return Plan(
        start_engine=start_engine,
        start_registry=start_registry,
        init_swarm=swarm and state.swarm != ACTIVE,
        build_base=engine_down or not state.base_image,
        build_edge=build_edge,
        push_edge=pushes and (build_edge or state.edge_pushed is not True),
        problems=tuple(problems),
        build_prometheus=build_prometheus,
        push_prometheus=swarm
        and pushes_prometheus
        and (build_prometheus or state.prometheus_pushed is not True),
    )
