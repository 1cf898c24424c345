"""Where environments live. One interface (gates.targets.base.Target), one package per kind:

    local   gunicorn on 127.0.0.1, history in the SQLite ledger (the default)
    swarm   a Docker Swarm service behind an HAProxy edge, history in the engine

A new kind of target (Kubernetes) is a sibling package implementing the protocol, chosen
here in ``target_for`` from the environment's ``target``. ``request`` holds what a deploy is
asked to do; ``live`` is what the measuring gates see of an environment; ``contract`` is what
the service must answer (smoke's checks, also a deploy's pre-flight).
"""

from gates.config import PipelineConfig
from gates.targets.base import Target
from gates.targets.local.target import LocalTarget
from gates.targets.swarm.target import SwarmTarget

__all__ = ["Target", "target_for"]


def target_for(config: PipelineConfig, name: str) -> Target:
    """The target environment ``name`` lives on; ConfigError if it is not configured."""
    if config.environment(name).target == "swarm":
        return SwarmTarget(config, name)
    return LocalTarget(config, name)
