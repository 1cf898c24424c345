"""``gates engine login``: log the docker CLI in to the registry images are pushed to and
deployed from (``[tool.pipeline.engine] registry``), against the configured engine.

The credentials come from ``$REGISTRY_USERNAME`` and ``$REGISTRY_PASSWORD`` (in GitHub Actions:
the secrets of the environment holding them); the password goes to ``docker login
--password-stdin``, never on a command line and never into a message. Docker keeps them in
its client configuration (``$DOCKER_CONFIG``, else ``~/.docker``): a push sends them, and a
swarm service created or updated ``--with-registry-auth`` hands them to the nodes that pull.
The pipeline's own registry client (gates.registry: digests, the registry's health) reads the
same two variables.

Neither set: an anonymous registry, nothing to do. One without the other, or credentials the
registry refuses (401): a configuration error (exit 2: fix the secrets). A registry or engine
that cannot be reached: exit 3, with docker's own line.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import TYPE_CHECKING

from gates.docker import Docker, said
from gates.outcome import ConfigError, MeasurementError
from gates.registry import CREDENTIALS_ENV, Registry

if TYPE_CHECKING:
    from gates.config import EngineConfig

USERNAME_ENV, PASSWORD_ENV = CREDENTIALS_ENV
ANONYMOUS = "no registry credentials set: pushing and pulling anonymously"
# What docker says when the registry refuses the credentials themselves.
REFUSED = re.compile(r"\b401\b|unauthorized|incorrect username or password", re.IGNORECASE)
LOGIN_TIMEOUT = 60.0


def log_in(engine: EngineConfig, environ: Mapping[str, str]) -> str:
    """Log in to the engine's registry with the credentials in ``environ``; what was done,
    in one line. ConfigError or MeasurementError, never quoting the password."""
    username, password = environ.get(USERNAME_ENV, ""), environ.get(PASSWORD_ENV, "")
    if not username and not password:
        return ANONYMOUS
    if not username or not password:
        empty, other = (USERNAME_ENV, PASSWORD_ENV) if password else (PASSWORD_ENV, USERNAME_ENV)
        raise ConfigError(
            f"${empty} is empty but ${other} is set: set both (the registry's credentials, "
            "e.g. from the environment's secrets) or neither (an anonymous registry)"
        )
    if not engine.registry:
        raise ConfigError(
            "no registry to log in to: [tool.pipeline.engine] registry is empty (set it, or "
            "engine.registry in $PIPELINE_TARGETS), yet $REGISTRY_USERNAME is set"
        )
    host = Registry.parse(engine.registry).host
    docker = Docker.of(engine)
    login = ("login", host, "--username", username, "--password-stdin")
    done = docker.run(*login, stdin=password, timeout=LOGIN_TIMEOUT, check=False)
    if done.returncode == 0:
        return f"logged in to {host} as {username} (engine: {docker.where})"
    line = said(done).replace(password, "***")
    if REFUSED.search(line):
        raise ConfigError(
            f"the registry {host} refused the credentials of {username} (${USERNAME_ENV}, "
            f"${PASSWORD_ENV}): {line}"
        )
    raise MeasurementError(f"could not log in to the registry {host}: {line}")
