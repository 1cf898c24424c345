"""Where environments live. One interface (gates.targets.base.Target), one package per kind:

    local   gunicorn on 127.0.0.1, history in the SQLite ledger (the default)
    swarm   a Docker Swarm service behind an HAProxy edge, history in the engine

A new kind of target (Kubernetes) is a sibling package implementing the protocol, chosen
here in ``target_for`` from the environment's ``target``. ``request`` holds what a deploy is
asked to do; :func:`live_release` is what the measuring gates (smoke, perf, slo) see of an
environment; ``contract`` is what the service must answer (smoke's checks, also a deploy's
pre-flight).

Every command that deploys to, rolls back, probes or measures an environment gets its target
from ``target_for``, which is why a local environment is refused there under
``GITHUB_ACTIONS=true``, before anything starts (gates.config.placement).
"""

import os
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

from gates import httpget
from gates.httpget import Response
from gates.outcome import MeasurementError
from gates.config import PipelineConfig
from gates.config.placement import refuse_local
from gates.targets.base import Target
from gates.targets.local.target import LocalTarget
from gates.targets.swarm.target import SwarmTarget

__all__ = ["LiveRelease", "Target", "live_release", "target_for"]


def target_for(config: PipelineConfig, name: str) -> Target:
    """The target environment ``name`` lives on; ConfigError if it is not configured, or is
    local on a GitHub runner."""
    settings = config.environment(name)
    refuse_local(name, settings.target, os.environ)
    if settings.target == "swarm":
        return SwarmTarget(config, name)
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
    url: str = ""  # where it answers (the target's base URL); "" = 127.0.0.1:port
    # GET a path from every replica serving it (Target.fetch_each); None: the one at base_url
    each: Callable[[str], dict[str, Response]] | None = None

    @property
    def base_url(self) -> str:
        return self.url or f"http://127.0.0.1:{self.port}"

    def fetch_each(self, path: str) -> dict[str, Response]:
        if self.each is not None:
            return self.each(path)
        try:
            return {self.base_url: httpget.fetch(path, self.base_url)}
        except httpget.FAILURES as exc:
            raise MeasurementError(f"{self.base_url}{path}: {exc}") from None


def live_release(config: PipelineConfig, name: str) -> LiveRelease:
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
            manifest = target.release(live.release_id).manifest
            version = manifest["service"]["version"]
        except Exception as exc:  # the release directory may have been pruned
            raise MeasurementError(
                f"cannot tell which version {live.release_id} should report: {exc}"
            ) from None
    recorded = target.service_config(live.deployment)
    service_env = dict(recorded.env) if recorded else dict(settings.env)
    return LiveRelease(
        name,
        settings.port,
        live.release_id,
        str(version),
        service_env,
        live.deployment,
        target.base_url,
        target.fetch_each,
    )
