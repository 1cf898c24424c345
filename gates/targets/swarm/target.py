"""The swarm target: each environment a Docker Swarm service behind its own edge proxy, with
its history kept in the engine, so it outlives the machine (or CI runner) that deployed it.

It implements gates.targets.base.Target. See gates.targets.swarm.deployer for how a release
goes live, gates.targets.swarm.converge for how an interrupted command is settled, and
gates.targets.swarm.ledger for how the history is read and written.
"""

import json
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from gates import httpget
from gates.config import PipelineConfig
from gates.httpget import Response
from gates.outcome import ConfigError, MeasurementError
from gates.release import store
from gates.report import Report
from gates.targets import probe
from gates.targets.probe import Answer
from gates.targets.request import DeployRequest, Release, ServiceConfig
from gates.targets.swarm.converge import converge
from gates.targets.swarm.deployer import SwarmDeployer
from gates.targets.swarm.edge import REPLICA_HEADER, Edge, EdgeDown
from gates.targets.swarm.environment import SwarmEnvironment
from gates.targets.swarm.ledger import EngineLedger
from gates.targets.swarm.lock import EngineLock
from gates.targets.swarm.prometheus import EnvironmentPrometheus
from gates.targets.swarm.service import Service

ATTEMPTS_PER_REPLICA = 10  # requests through the edge to reach each running task once


@dataclass(frozen=True)
class SwarmLive:
    release_id: str
    deployment: str
    server: str  # running/desired tasks and the image digest, as status shows them


@dataclass(frozen=True)
class SwarmStatus:
    live: SwarmLive | None
    busy: bool


class SwarmTarget:
    def __init__(self, config: PipelineConfig, name: str) -> None:
        self.config = config
        self.env = SwarmEnvironment(config, name)
        self.service = Service(self.env)

    @property
    def name(self) -> str:
        return self.env.name

    @property
    def base_url(self) -> str:
        return self.env.base_url

    @cached_property
    def ledger(self) -> EngineLedger:
        return EngineLedger.open_for(self.config)

    def lock(self) -> EngineLock:
        env, deploy = self.env, self.config.deploy
        # Longer than any command holding it may take: settling an interrupted update, then
        # an update, its verification and a rollback.
        lease = 3 * env.converge_timeout + 2 * deploy.cutover_timeout + 60
        return EngineLock(env.docker, env.lock, env.stack, lease)

    @contextmanager
    def hold(self, stopping: bool = False) -> Iterator[SwarmLive | None]:
        """The environment settled (converge) and, unless ``stopping`` (``gates down``), its
        edge ensured: the edge is part of the desired state of an environment that has a
        service (the first deploy creates both)."""
        with self.lock().acquire(self.config.deploy.lock_timeout):
            converge(self.env, self.ledger)
            if not stopping:
                self.ensure_edge()
            yield self.live()

    def ensure_edge(self) -> None:
        """Start, create or repair the edge of an environment whose service exists."""
        if self.service.spec() is not None:
            Edge(self.env).ensure(self.say, with_service=True)

    def say(self, message: str) -> None:
        print(f"gates {self.name}: {message}", flush=True)

    def live(self) -> SwarmLive | None:
        spec = self.service.spec()
        if spec is None or not spec.release_id:
            return None
        running = self.service.running(spec.image)
        digest = spec.image.rsplit("@", 1)[-1][:19]
        return SwarmLive(spec.release_id, spec.deployment, f"{running}/{spec.replicas} {digest}")

    def status(self) -> SwarmStatus:
        """What is live; settled first, its edge ensured, unless another command holds the
        environment. An edge that cannot be repaired is said, and shows as not serving."""
        lock = self.lock()
        busy = not lock.try_acquire()
        try:
            if not busy:
                try:
                    converge(self.env, self.ledger)
                    self.ensure_edge()
                except EdgeDown as exc:  # said; the row then shows it does not serve
                    self.say(str(exc))
            return SwarmStatus(self.live(), busy)
        finally:
            lock.release()

    def deploy(self, request: DeployRequest, release: Release, report: Report) -> None:
        live = self.live()
        deployer = SwarmDeployer(self.env, self.ledger, report)
        deployer.deploy(request, release, live.release_id if live else None)

    def keep(self, kind: str, record: Mapping[str, Any]) -> None:
        self.ledger.keep(self.name, kind, record)

    def kept(self, kind: str) -> list[dict[str, Any]]:
        return list(self.ledger.kept.get((self.name, kind), []))

    def service_config(self, deployment: str) -> ServiceConfig | None:
        for row in reversed(self.ledger.deploys(self.name)):
            recorded = json.loads(row["config"])
            if recorded.get("key") == deployment:
                return ServiceConfig(recorded["env"], recorded["workers"])
        return None

    def release(self, release_id: str) -> Release:
        """From the release store when it is here; else as recorded in the environment's
        history (its manifest: the image digest pins its content)."""
        try:
            return Release.verified(self.config, release_id)
        except ConfigError:
            manifest = self.ledger.manifests.get(release_id)
            if manifest is None:
                raise
            return Release(store.releases_dir(self.config) / release_id, manifest)

    def probe(self, path: str) -> Answer:
        return probe.get(path, port=self.base_url)

    def fetch_each(self, path: str) -> dict[str, Response]:
        """GET ``path`` through the edge until every running task has answered once; the
        edge names the task that answered a /metrics request (edge.REPLICA_HEADER)."""
        spec = self.service.spec()
        want = self.service.running(spec.image) if spec else 0
        if want == 0:
            raise MeasurementError(f"no task of {self.env.service} is running")
        found: dict[str, Response] = {}
        for _ in range(ATTEMPTS_PER_REPLICA * want):
            try:
                answer = httpget.fetch(path, self.base_url)
            except httpget.FAILURES as exc:
                raise MeasurementError(f"{self.base_url}{path}: {exc}") from None
            replica = answer[1].get(REPLICA_HEADER.lower())
            if replica is None:
                raise MeasurementError(
                    f"the edge of {self.name} does not say which task answered {path} (made by "
                    "an older gates?); the next deploy recreates it"
                )
            found[replica] = answer
            if len(found) >= want:
                return found
        raise MeasurementError(
            f"{self.base_url}{path} reached {len(found)} of the {want} running tasks "
            f"in {ATTEMPTS_PER_REPLICA * want} requests ({', '.join(sorted(found))})"
        )

    def stop(self) -> list[SwarmLive]:
        """Remove the service, the edge, its Prometheus (its history volume stays) and the
        network; record it (call inside ``hold``)."""
        live = self.live()
        self.service.remove()
        EnvironmentPrometheus(self.env).remove()
        Edge(self.env).remove()
        self.ledger.record_event(self.name, "down", live.server if live else "")
        return [live] if live else []
