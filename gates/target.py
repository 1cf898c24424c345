"""What a verification gate measures: the release live in an environment, and its port."""

from dataclasses import dataclass

from gates.deploy.environment import LIVE, Environment
from gates.outcome import MeasurementError
from gates.release import store


@dataclass(frozen=True)
class Target:
    environment: str
    port: int
    release_id: str
    version: str  # what /health and /api/data must report
    service_env: dict  # the deployment config's environment variables
    deployment: str  # release + config key

    @property
    def base_url(self):
        return f"http://127.0.0.1:{self.port}"


def live_target(config, name):
    """The environment's live release; MeasurementError (exit 3) when nothing is deployed."""
    env = Environment(config, name)
    masters = env.masters(LIVE)
    if not masters:
        raise MeasurementError(
            f"nothing is running in {name} (127.0.0.1:{env.config.port}); deploy first"
        )
    master = masters[-1]
    version = env.config.env.get("APP_VERSION")
    if not version:
        try:
            manifest = store.load_manifest(store.resolve(config, master.release_id))
            version = manifest["service"]["version"]
        except Exception as exc:  # the release directory may have been pruned
            raise MeasurementError(
                f"cannot tell which version {master.release_id} should report: {exc}"
            ) from None
    recorded = env.recorded_deployment(master.deployment)
    service_env = recorded[0] if recorded else dict(env.config.env)
    return Target(name, env.config.port, master.release_id, version, service_env, master.deployment)
