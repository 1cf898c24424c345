"""A container a swarm environment runs beside its service (the edge, its Prometheus), started
from its configuration and kept while that configuration holds.

The configuration travels in the container's environment (``$GATES_CONFIG``): a small shell
script writes it to a file and execs the server, so no file on the engine's host is needed and
the same works over ``ssh://``. The container is labelled with the configuration's digest, so a
later deploy keeps it when the configuration is the same and recreates it when it changed.
"""

import hashlib
from collections.abc import Callable

from gates.docker import Docker

# The variable a container started by run_configured finds its configuration in.
CONFIG_ENV = "GATES_CONFIG"


def config_digest(config: str) -> str:
    """The short digest a configured container is labelled with."""
    return hashlib.sha256(config.encode()).hexdigest()[:16]


def keep_container(
    docker: Docker, name: str, label: str, config: str, what: str, say: Callable[[str], object]
) -> bool:
    """True when container ``name`` was started with ``config`` (run_configured labels it
    ``label=<its digest>``; started if it had stopped); otherwise a container of that name,
    made for another configuration, is removed: False, and the caller runs it anew."""
    found = docker.inspect("container", name)
    if found is None:
        return False
    if (found["Config"].get("Labels") or {}).get(label) == config_digest(config):
        if not found["State"].get("Running"):
            say(f"starting {what}")
            docker.run("container", "start", name)
        return True
    say(f"the configuration of {what} changed: recreating it")
    docker.run("container", "rm", "--force", name)
    return False


def run_configured(
    docker: Docker,
    name: str,
    image: str,
    options: tuple[str, ...],
    label: str,
    config: str,
    script: str,
    timeout: float,
) -> None:
    """Start container ``name`` from ``image``, restarted by the engine unless stopped, with
    its configuration in ``$GATES_CONFIG``: ``script`` (run by /bin/sh) writes it to a file
    and execs the server. Labelled ``label=<digest of config>`` for keep_container."""
    docker.run(
        "container", "run", "--detach", "--name", name, *options,
        "--restart", "unless-stopped",
        "--label", f"{label}={config_digest(config)}",
        "--env", f"{CONFIG_ENV}={config}",
        "--entrypoint", "/bin/sh",
        image, "-c", script,
        timeout=timeout,
    )  # fmt: skip
