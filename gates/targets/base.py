"""The interface every target implements: :class:`Target`, one environment wherever it lives.

The stages reach an environment only through it (deploy, rollback, drill, status, down,
summary, and the measuring gates via gates.targets.live_release). Implementations live beside
this module, one package each (gates.targets.local); gates.targets.target_for picks one.
"""

from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager
from typing import Any, Protocol

from gates.httpget import Response
from gates.targets.probe import Answer
from gates.targets.request import DeployRequest, Release, ServiceConfig
from gates.ledger import Ledger
from gates.report import Report


class LiveDeployment(Protocol):
    """What serves an environment: a release with its service config, run by a server."""

    @property
    def release_id(self) -> str: ...

    @property
    def deployment(self) -> str: ...  # the deployment key: release plus service config

    @property
    def server(self) -> str: ...  # which server runs it, as status shows it (a pid locally)


class Status(Protocol):
    @property
    def live(self) -> LiveDeployment | None: ...

    @property
    def busy(self) -> bool: ...  # another command holds the environment


class Target(Protocol):
    """One environment, wherever it lives."""

    @property
    def name(self) -> str: ...

    @property
    def base_url(self) -> str: ...  # where its service answers, e.g. http://127.0.0.1:8001

    @property
    def ledger(self) -> Ledger: ...  # its history: deploys, gate results, events

    def hold(self, stopping: bool = False) -> AbstractContextManager[LiveDeployment | None]:
        """Exclusive use of the environment, brought back to one known live deployment
        (interrupted commands finished or undone) and to the rest of its desired state (the
        swarm target's edge: started, recreated or repaired); None when nothing is live.
        ``stopping``: the command is about to stop the environment (``gates down``), so
        nothing it would stop is started again."""
        ...

    def live(self) -> LiveDeployment | None:
        """What is live now, without holding the environment."""
        ...

    def status(self) -> Status: ...

    def deploy(self, request: DeployRequest, release: Release, report: Report) -> None:
        """Make ``release`` live with the request's service config, replacing what is live
        without a failed request; DeployFailed (what was live keeps serving) if it cannot.
        Called inside ``hold``."""
        ...

    def release(self, release_id: str) -> Release:
        """The release ``release_id`` as this target deploys it, verified: from the release
        store, or from the environment's own history where it keeps one (the swarm target:
        the manifest, whose image digest pins the content). GateError when neither has it."""
        ...

    def keep(self, kind: str, record: Mapping[str, Any]) -> None:
        """Keep a measurement with the environment's history, e.g. a perf run (the next run's
        baseline). A target whose history is this machine's keeps nothing here: the gate's
        own files are the record."""
        ...

    def kept(self, kind: str) -> list[dict[str, Any]]:
        """The measurements of ``kind`` kept with the environment, oldest first."""
        ...

    def service_config(self, deployment: str) -> ServiceConfig | None:
        """The service config ``deployment`` was deployed with; None if it is not known."""
        ...

    def probe(self, path: str) -> Answer:
        """GET ``path`` from the environment's service."""
        ...

    def fetch_each(self, path: str) -> dict[str, Response]:
        """GET ``path`` from every replica serving the environment, keyed by replica (a local
        environment has one); MeasurementError when one cannot be reached."""
        ...

    def stop(self) -> Sequence[LiveDeployment]:
        """Stop the environment's servers and record it; what was stopped. Inside ``hold``."""
        ...
