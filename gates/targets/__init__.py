"""Where environments live. One interface (gates.targets.base.Target), one package per kind:

    local   gunicorn on 127.0.0.1, history in the SQLite ledger (the default)

A new kind of target (Docker Swarm, Kubernetes) is a sibling package implementing the
protocol, chosen here in ``target_for``. ``request`` holds what a deploy is asked to do;
``live`` is what the measuring gates see of an environment; ``contract`` is what the
service must answer (smoke's checks, also a deploy's pre-flight).
"""

from gates.config import PipelineConfig
from gates.targets.base import Target
from gates.targets.local.target import LocalTarget

__all__ = ["Target", "target_for"]


def target_for(config: PipelineConfig, name: str) -> Target:
    """The target environment ``name`` lives on; ConfigError if it is not configured."""
    return LocalTarget(config, name)
