"""What a verification gate (smoke, perf, slo) measures: the release live in an environment."""

from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

from gates import httpget
from gates.config import PipelineConfig
from gates.httpget import Response
from gates.outcome import MeasurementError
from gates.targets import target_for


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
