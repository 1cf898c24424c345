"""The local target: each environment a gunicorn server on 127.0.0.1:<port> serving one
release installed into its own directory, with its history in the SQLite ledger.

It is a rehearsal environment: it lives as long as the machine that runs it. It implements
gates.targets.base.Target; see gates.targets.local.deployer for how a release goes live
without a failed request, and gates.targets.local.converge for how an interrupted command is
finished or undone.
"""

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from gates import httpget
from gates.config import PipelineConfig
from gates.httpget import Response
from gates.outcome import MeasurementError
from gates.targets.local import deployments
from gates.targets.local.converge import converge
from gates.targets.local.deployer import Deployer
from gates.targets.local.environment import LocalEnvironment
from gates.targets.local.masters import LIVE, Master
from gates.targets.probe import Answer
from gates.targets.request import DeployRequest, Release, ServiceConfig
from gates.ledger import Ledger
from gates.report import Report


@dataclass(frozen=True)
class LocalStatus:
    live: Master | None
    busy: bool  # another command holds the environment: shown as found, not converged


class LocalTarget:
    def __init__(self, config: PipelineConfig, name: str) -> None:
        self.config = config
        self.env = LocalEnvironment(config, name)

    @property
    def name(self) -> str:
        return self.env.name

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.env.port}"

    @cached_property
    def ledger(self) -> Ledger:
        ledger: Ledger = Ledger.open(self.config)
        return ledger

    @contextmanager
    def hold(self, stopping: bool = False) -> Iterator[Master | None]:
        """Hold the environment's lock, converged to its live master (None: nothing runs).
        ``stopping`` changes nothing here: a local environment has nothing beside its server
        that converging would start."""
        with self.env.lock.acquire(self.config.deploy.lock_timeout):
            yield converge(self.env, self.ledger)

    def live(self) -> Master | None:
        """The live master, as registered now (without the lock)."""
        found = self.env.masters(LIVE)
        return found[-1] if found else None

    def status(self) -> LocalStatus:
        """What is live; converged first unless another command holds the environment."""
        busy = not self.env.lock.try_acquire()
        try:
            live = self.live() if busy else converge(self.env, self.ledger)
        finally:
            self.env.lock.release()
        return LocalStatus(live, busy)

    def deploy(self, request: DeployRequest, release: Release, report: Report) -> None:
        """Make ``release`` live with the request's service config (call inside ``hold``)."""
        Deployer(self.config, self.env, self.ledger, report).deploy(request, release, self.live())

    def release(self, release_id: str) -> Release:
        return Release.verified(self.config, release_id)

    def keep(self, kind: str, record: Mapping[str, Any]) -> None:
        """Nothing: the local environment's measurements are the gates' own files."""

    def kept(self, kind: str) -> list[dict[str, Any]]:
        return []

    def service_config(self, deployment: str) -> ServiceConfig | None:
        """The service config ``deployment`` was deployed with; None if it is gone."""
        return deployments.recorded_service(self.env.layout, deployment)

    def probe(self, path: str) -> Answer:
        return self.env.probe(path)

    def fetch_each(self, path: str) -> dict[str, Response]:
        """One server: its answer, keyed by its address."""
        try:
            return {f"127.0.0.1:{self.env.port}": httpget.fetch(path, self.env.port)}
        except httpget.FAILURES as exc:
            raise MeasurementError(f"127.0.0.1:{self.env.port}{path}: {exc}") from None

    def stop(self) -> list[Master]:
        """Stop every server of the environment and record it (call inside ``hold``)."""
        stopped = [m for m in self.env.masters() if self.env.stop_master(m)]
        self.env.current.unlink(missing_ok=True)
        self.ledger.record_event(self.name, "down", ",".join(m.server for m in stopped))
        return stopped
