"""Targets: where an environment lives, and what the verification gates measure there.

:class:`Target` is the one interface the stages reach an environment through (deploy,
rollback, drill, status, down, summary, and the measuring gates via :func:`live_target`).
``target_for`` picks the implementation; today every environment is local
(gates.deploy.local_target.LocalTarget: gunicorn on 127.0.0.1, history in the SQLite ledger).
A new kind of target (Docker Swarm, Kubernetes) is a sibling class implementing the same
protocol, chosen in ``target_for``.
"""

from collections.abc import Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Protocol
from urllib.parse import urlsplit

from gates.config import PipelineConfig
from gates.deploy.local_target import LocalTarget
from gates.deploy.probe import Answer
from gates.deploy.request import DeployRequest, Release, ServiceConfig
from gates.ledger import Ledger
from gates.outcome import MeasurementError
from gates.release import store
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

    def hold(self) -> AbstractContextManager[LiveDeployment | None]:
        """Exclusive use of the environment, brought back to one known live deployment
        (interrupted commands finished or undone); None when nothing is live."""
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

    def service_config(self, deployment: str) -> ServiceConfig | None:
        """The service config ``deployment`` was deployed with; None if it is not known."""
        ...

    def probe(self, path: str) -> Answer:
        """GET ``path`` from the environment's service."""
        ...

    def stop(self) -> Sequence[LiveDeployment]:
        """Stop the environment's servers and record it; what was stopped. Inside ``hold``."""
        ...


def target_for(config: PipelineConfig, name: str) -> Target:
    """The target environment ``name`` lives on; ConfigError if it is not configured."""
    return LocalTarget(config, name)


@dataclass(frozen=True)
class LiveRelease:
    """What a verification gate measures: the release live in an environment."""

    environment: str
    port: int
    release_id: str
    version: str  # what /health and /api/data must report
    service_env: dict[str, str]  # the deployment config's environment variables
    deployment: str  # release + config key

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def live_target(config: PipelineConfig, name: str) -> LiveRelease:
    """The environment's live release; MeasurementError (exit 3) when nothing is deployed."""
    target = target_for(config, name)
    settings = config.environment(name)
    live = target.live()
    if live is None:
        raise MeasurementError(
            f"nothing is running in {name} ({urlsplit(target.base_url).netloc}); deploy first"
        )
    version = settings.env.get("APP_VERSION")
    if not version:
        try:
            manifest = store.load_manifest(store.resolve(config, live.release_id))
            version = manifest["service"]["version"]
        except Exception as exc:  # the release directory may have been pruned
            raise MeasurementError(
                f"cannot tell which version {live.release_id} should report: {exc}"
            ) from None
    recorded = target.service_config(live.deployment)
    service_env = dict(recorded.env) if recorded else dict(settings.env)
    return LiveRelease(
        name, settings.port, live.release_id, str(version), service_env, live.deployment
    )
