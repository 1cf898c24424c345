"""The Docker CLI aimed at the configured engine.

Every call runs the ``docker`` client found on PATH with ``DOCKER_HOST`` set to
``[tool.pipeline.engine] docker_host`` (``$DOCKER_HOST`` already won over the file when the
configuration was loaded); an empty ``docker_host`` leaves the choice to Docker (its current
context, else its default socket). ``DOCKER_BUILDKIT`` is removed: the distributions' clients
have no buildx plugin, and the classic builder does everything the pipeline needs.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from typing import TYPE_CHECKING

from gates.outcome import MeasurementError
from gates.tools import ToolRun, run_tool

if TYPE_CHECKING:
    from gates.config import EngineConfig

CLIENT = "docker"
START_HINT = "start it with `nox -s engine -- up` (README: Engine-backed tests)"


@dataclass(frozen=True)
class Docker:
    """The client and the engine it talks to."""

    host: str  # a Docker host URL, or "" for Docker's own choice

    @classmethod
    def of(cls, engine: EngineConfig) -> Docker:
        return cls(engine.docker_host)

    @property
    def where(self) -> str:
        return self.host or "Docker's default engine (docker_host and $DOCKER_HOST unset)"

    def env(self) -> dict[str, str]:
        environ = {k: v for k, v in os.environ.items() if k != "DOCKER_BUILDKIT"}
        if self.host:
            environ["DOCKER_HOST"] = self.host
        return environ

    def binary(self) -> str:
        found = shutil.which(CLIENT)
        if found is None:
            raise MeasurementError(
                "the docker client is not on PATH; install it (Debian: apt-get install docker.io)"
            )
        return found

    def run(self, *args: str, timeout: float = 60, echo: bool = False, name: str = "") -> ToolRun:
        """``docker args`` to the end, output captured; a non-zero exit is the caller's."""
        argv = [self.binary(), *args]
        return run_tool(name or f"docker {args[0]}", argv, ".", echo, timeout, env=self.env())

    def output(self, *args: str, timeout: float = 60, what: str = "") -> str:
        """Stdout of ``docker args``; MeasurementError naming ``what`` with docker's last line."""
        done = self.run(*args, timeout=timeout)
        if done.returncode != 0:
            doing = what or f"docker {' '.join(args[:2])}"
            raise MeasurementError(f"{doing} failed on {self.where}: {last_line(done)}")
        return done.output.strip()

    def server_version(self) -> tuple[str, None] | tuple[None, str]:
        """(the engine's version, None), or (None, why it does not answer)."""
        try:
            done = self.run("version", "--format", "{{.Server.Version}}", timeout=30)
        except MeasurementError as exc:
            return None, str(exc)
        version = done.output.strip().splitlines()[-1:] if done.returncode == 0 else []
        if not version:
            return None, last_line(done)
        return version[0], None

    def require(self) -> str:
        """The engine's version; MeasurementError (exit 3) in one line when it does not answer."""
        version, why = self.server_version()
        if version is None:
            raise MeasurementError(
                f"the container engine at {self.where} does not answer ({why}); {START_HINT}"
            )
        return version


def last_line(done: ToolRun) -> str:
    """The line of a failed docker command that says why (its last non-blank one)."""
    lines = [line.strip() for line in done.output.splitlines() if line.strip()]
    return lines[-1] if lines else f"exit {done.returncode}"
