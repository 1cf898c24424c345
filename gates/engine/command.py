"""``gates engine check|up|down|status``: the engine the swarm target and the image build need,
on this machine, from Debian packages.

- ``check``: what is there, what ``up`` would do, and whether everything it needs for that is
  installed. Exit 2 naming each missing program, its package and the ``apt-get`` line.
- ``up``: start what does not answer (dockerd on the private socket, the registry), initialise
  the swarm, build the base, edge and Prometheus images when absent and push the edge and
  Prometheus images. Idempotent:
  on an engine that is already up it only checks (seconds). Exit 3 with the log's last line
  when a daemon does not start.
- ``down``: stop what ``up`` started, by pid (never an engine that was already running), leave
  the swarm it made, and remove what dockerd leaves behind. Images and data stay on disk, so
  the next ``up`` is warm.
- ``status``: what is there; exit 0 when everything ``up`` makes answers, 3 when not.
- ``up|down|status --nodes N``: the namespaced swarm of N nodes (gates.engine.nodes), reached
  over ``ssh://`` with its own TLS registry, as a persistent swarm is reached from GitHub
  Actions; its images are seeded from the engine above, which ``up`` needs up. ``down --nodes``
  removes the nodes only, never that engine.
- ``ssh``: install the key and known hosts that reach a remote engine over ``ssh://`` (from
  ``$ENGINE_SSH_KEY`` and ``$ENGINE_SSH_KNOWN_HOSTS``, e.g. in GitHub Actions).
- ``login``: log the docker CLI in to the registry (``$REGISTRY_USERNAME``,
  ``$REGISTRY_PASSWORD``); neither set: anonymous, nothing to do.
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from gates.docker import Docker
from gates.engine import daemons, images, nodes, prerequisites, registry_login, ssh_access
from gates.engine.layout import Layout
from gates.engine.record import Record
from gates.engine.survey import (
    ACTIVE,
    Plan,
    State,
    edge_repository,
    plan,
    repository_of,
    survey,
)
from gates.locks import FileLock
from gates.outcome import COULD_NOT_MEASURE, PASSED, ConfigError, MeasurementError

if TYPE_CHECKING:
    from gates.config import EngineConfig, PipelineConfig

ACTIONS = ("check", "up", "down", "status", "ssh", "login")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("action", choices=ACTIONS, help="; ".join(ACTIONS))
    parser.add_argument(
        "--no-swarm",
        action="store_true",
        help="the engine, registry and images only, no swarm (e.g. a machine that only builds)",
    )
    parser.add_argument(
        "--nodes",
        type=int,
        default=0,
        metavar="N",
        help="up/down/status the namespaced swarm of N nodes (10.231.0.2...) instead; down "
        "removes every node",
    )


def say(message: str) -> None:
    print(f"gates engine: {message}", flush=True)


def run(config: PipelineConfig | None, args: argparse.Namespace) -> int:
    assert config is not None
    engine, swarm = config.engine, not args.no_swarm
    if args.action == "ssh":
        say(ssh_access.install(os.environ, Path.home()))
        return PASSED
    if args.action == "login":
        say(registry_login.log_in(engine, os.environ))
        return PASSED
    if args.nodes:
        return namespaced(engine, args.action, args.nodes)
    if args.action in ("up", "down"):
        with exclusive(engine):  # and decided inside: a second `up` finds the first's engine
            return down(engine) if args.action == "down" else up(engine, swarm)
    state = survey(engine)
    describe(engine, state)
    if args.action == "status":
        lacking = state.lacking(swarm)
        if lacking:
            say(f"not ready ({', '.join(lacking)}): run `nox -s engine -- up`")
            return COULD_NOT_MEASURE
        say("ready")
        return PASSED
    todo = plan(engine, state, swarm)
    require(todo)
    say(f"ready to go: `up` would {', '.join(steps(todo)) or 'do nothing: all is up'}")
    return PASSED


def namespaced(engine: EngineConfig, action: str, count: int) -> int:
    """``up``/``down``/``status``/``check`` of the namespaced nodes (gates.engine.nodes)."""
    if action == "ssh":
        raise ConfigError("`gates engine ssh` takes no --nodes: it installs a key, see --help")
    if action == "check":
        missing = nodes.missing()
        if missing:
            raise ConfigError(missing.describe())
        say(f"ready to go: `up --nodes {count}` has everything it needs")
        return PASSED
    if action == "status":
        return COULD_NOT_MEASURE if nodes.status(count, say) else PASSED
    with nodes.lock().acquire(timeout=None):
        if action == "down":
            nodes.down(say)
            return PASSED
        nodes.up(count, Docker.of(engine), [engine.edge_image, engine.prometheus_image], say)
    return PASSED


@contextmanager
def exclusive(engine: EngineConfig) -> Iterator[None]:
    """One ``up`` or ``down`` at a time per engine: a second waits for the first. Where the
    lock cannot be made (not root), nothing can be started there either: no lock needed."""
    path = Layout.of(engine).run_dir / "gates-engine.lock"
    lock = FileLock(
        path, f"the engine at {engine.docker_host}", "another `gates engine up` or `down`"
    )
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        lock.acquire(timeout=None)
    except OSError:
        yield
        return
    with lock:
        yield


def require(todo: Plan) -> None:
    """ConfigError (exit 2) naming what is missing; MeasurementError for what cannot be done."""
    missing = prerequisites.missing(todo)
    if missing:
        raise ConfigError(missing.describe())
    if todo.problems:
        raise MeasurementError("; ".join(todo.problems))


def steps(todo: Plan) -> list[str]:
    named = [
        (todo.start_engine, "start dockerd"),
        (todo.start_registry, "start the registry"),
        (todo.init_swarm, "initialise the swarm"),
        (todo.build_base, "build the base image (debootstrap)"),
        (todo.build_edge, "build the edge image"),
        (todo.push_edge, "push the edge image"),
        (todo.build_prometheus, "build the prometheus image"),
        (todo.push_prometheus, "push the prometheus image"),
    ]
    return [what for needed, what in named if needed]


def up(engine: EngineConfig, swarm: bool) -> int:
    began = time.monotonic()
    state = survey(engine)
    describe(engine, state)
    todo = plan(engine, state, swarm)
    require(todo)
    if todo.start_engine:
        daemons.start_dockerd(engine, say)
        # Now the engine can be asked what it already holds (a kept data root: a warm start).
        todo = plan(engine, survey(engine), swarm)
        require(todo)
    if todo.start_registry:
        daemons.start_registry(engine, say)
    if todo.init_swarm:
        daemons.init_swarm(engine, say)
    layout = Layout.of(engine)
    if todo.build_base:
        timed(lambda: images.build_base(engine, layout.run_dir / "debootstrap.log", say), "base")
    if todo.build_edge:
        timed(lambda: images.build_edge(engine, say), "edge")
    if todo.push_edge:
        timed(lambda: images.push(engine, engine.edge_image, say), "push")
    if todo.build_prometheus:
        timed(lambda: images.build_prometheus(engine, say), "prometheus")
    if todo.push_prometheus:
        timed(lambda: images.push(engine, engine.prometheus_image, say), "push")
    final = survey(engine)
    if final.lacking(swarm):
        describe(engine, final)
        raise MeasurementError(f"`up` finished, but: {', '.join(final.lacking(swarm))}")
    say(f"up in {time.monotonic() - began:.1f} s: {Docker.of(engine).where}")
    return PASSED


def timed(step: Callable[[], None], what: str) -> None:
    began = time.monotonic()
    step()
    say(f"{what} done in {time.monotonic() - began:.1f} s")


def down(engine: EngineConfig) -> int:
    record = Record(Layout.of(engine).record)
    dockerd, registry, swarm = record.started("dockerd"), record.started("registry"), record.swarm
    if dockerd is None and registry is None and not swarm:
        say(
            f"nothing to stop: `up` started nothing at {Docker.of(engine).where} "
            "(what runs there was running before it)"
        )
        return PASSED
    docker = Docker.of(engine)
    owned_engine = dockerd is not None and dockerd.alive
    if (swarm or owned_engine) and docker.server_version()[0] is not None:
        state = docker.ask("info", "--format", "{{.Swarm.LocalNodeState}}", timeout=60)[0]
        if state == ACTIVE:
            daemons.leave_swarm(engine, say)
    record.update(swarm=None)
    if registry is not None:
        say(daemons.stop(registry) if registry.alive else "the registry had already stopped")
        record.update(registry=None)
    if dockerd is not None:
        if dockerd.alive:
            daemons.stop_dockerd(engine, dockerd, say)
        else:
            say("dockerd had already stopped")
        record.update(dockerd=None)
    return PASSED


def describe(engine: EngineConfig, state: State) -> None:
    record = Record(Layout.of(engine).record)

    def started(name: str) -> str:
        found = record.started(name)
        return (
            f"started by `up`, pid {found.pid}" if found and found.alive else "not started by `up`"
        )

    where = Docker.of(engine).where
    if state.engine:
        say(f"engine: {where}: dockerd {state.engine} ({started('dockerd')})")
        say(f"swarm: {state.swarm or 'unknown'}")
    else:
        say(f"engine: {where}: not answering ({state.engine_why})")
    if engine.registry:
        answer = (
            "answers" if state.registry_why is None else f"not answering ({state.registry_why})"
        )
        say(f"registry: {engine.registry}: {answer} ({started('registry')})")
    else:
        say("registry: none configured ([tool.pipeline.engine] registry): images are not pushed")
    if state.engine:
        say(f"base image: {engine.base_image}: {present(state.base_image)}")
        pushed = (
            ""
            if edge_repository(engine) is None
            else f", {present(state.edge_pushed)} in the registry"
        )
        say(f"edge image: {engine.edge_image}: {present(state.edge_image)}{pushed}")
        pushed = (
            ""
            if repository_of(engine, engine.prometheus_image) is None
            else f", {present(state.prometheus_pushed)} in the registry"
        )
        say(
            f"prometheus image: {engine.prometheus_image}: "
            f"{present(state.prometheus_image)}{pushed}"
        )


def present(found: bool | None) -> str:
    return "present" if found else "absent"
