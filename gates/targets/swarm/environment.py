"""One swarm environment's settings and the names of its objects in the engine.

Everything the environment owns is named after its stack (``[environments.NAME] stack``,
default ``<service>-<NAME>``): the service ``<stack>``, the overlay network ``<stack>-net``,
the edge proxy container ``<stack>-edge``, its Prometheus ``<stack>-prometheus`` with the
volume ``<stack>-prometheus-data`` (when ``prometheus_port`` is set), the history records
``gates.<stack>.<seq>`` and the lock ``gates.lock.<stack>``. Every object also carries the
label ``gates.stack=<stack>``.
"""

from dataclasses import dataclass
from functools import cached_property

from gates.config import EnvironmentConfig, PipelineConfig
from gates.outcome import ConfigError
from gates.docker import Docker

STACK_LABEL = "gates.stack"
SERVICE_PORT = 8000  # where the service listens inside its container (the image's BIND)
EDGE_PORT = 8080  # where the edge listens inside its container


def lock_name(stack: str) -> str:
    """The config that is the environment's lock (gates.targets.swarm.lock)."""
    return f"gates.lock.{stack}"


def stack_name(config: PipelineConfig, name: str) -> str:
    stack = config.environment(name).stack_name(config.service)
    if len(stack) > 48 or not all(c.isalnum() or c == "-" for c in stack):
        raise ConfigError(
            f"[tool.pipeline.environments.{name}]: cannot name its engine objects {stack!r}; "
            "set stack = \"<lower-case letters, digits and '-'>\""
        )
    return stack


@dataclass(frozen=True)
class SwarmEnvironment:
    config: PipelineConfig
    name: str

    @property
    def settings(self) -> EnvironmentConfig:
        return self.config.environment(self.name)

    @cached_property
    def stack(self) -> str:
        return stack_name(self.config, self.name)

    @property
    def service(self) -> str:
        return self.stack

    @property
    def network(self) -> str:
        return f"{self.stack}-net"

    @property
    def edge(self) -> str:
        return f"{self.stack}-edge"

    @property
    def prometheus(self) -> str:
        return f"{self.stack}-prometheus"

    @property
    def history(self) -> str:
        """The volume of its Prometheus's TSDB (gates.targets.swarm.prometheus)."""
        return f"{self.stack}-prometheus-data"

    @property
    def lock(self) -> str:
        return lock_name(self.stack)

    @property
    def base_url(self) -> str:
        return self.settings.base_url

    @property
    def publish(self) -> str:
        """The edge's ``docker run -p`` value: the URL's address (or every interface, for a
        host name) and port."""
        address, port = self.settings.published
        if not address:
            return f"{port}:{EDGE_PORT}"
        shown = f"[{address}]" if ":" in address else address
        return f"{shown}:{port}:{EDGE_PORT}"

    @cached_property
    def docker(self) -> Docker:
        return Docker(self.config.engine.docker_host)

    @property
    def replicas(self) -> int:
        return self.settings.replicas

    @property
    def converge_timeout(self) -> float:
        """How long Swarm may take to roll the service over (or back): one cutover timeout
        per replica, and one more for the rollback."""
        return float(self.config.deploy.cutover_timeout * (self.replicas + 1))
