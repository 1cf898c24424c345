"""The one client of the Docker CLI (or podman's, which takes the same commands).

Every command runs the client found on PATH (``docker`` unless told ``podman``) with
``DOCKER_HOST`` set to ``[tool.pipeline.engine] docker_host`` (``$DOCKER_HOST`` already won over
the file when the configuration was loaded); an empty ``docker_host`` leaves the choice to
Docker: ``$DOCKER_HOST``, else its current context (``ssh://user@manager``, ``tcp://`` with TLS,
a unix socket). ``DOCKER_BUILDKIT`` is removed: the distributions' clients have no buildx
plugin, and the classic builder does everything the pipeline needs. Nothing here speaks the
Engine API itself.

Two errors, both exit 3 (could not measure), both one line:

- :class:`EngineUnreachable`: the engine cannot be reached, the client is not installed, or a
  command hangs;
- :class:`DockerRefused`: the engine answered and refused a command, with the client's own
  last line (``said``), unless the caller expects it (``check=False``) and reads the result.

Probes that must not raise (is there an engine? which version?) use :meth:`Docker.ask`.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from gates.outcome import COULD_NOT_MEASURE, GateError

if TYPE_CHECKING:
    from gates.config import EngineConfig

# What the client says when it cannot talk to the daemon (unix socket, tcp, ssh).
UNREACHABLE = (
    "Cannot connect to the Docker daemon",
    "error during connect",
    "connection refused",
    "no such host",
    "ssh: ",
    "dial-stdio",
)
# The Debian package that installs each client.
PACKAGES = {"docker": "docker.io", "podman": "podman"}


class EngineUnreachable(GateError):
    """The container engine (or its client) cannot be used: exit 3."""

    exit_code = COULD_NOT_MEASURE


class DockerRefused(GateError):
    """A command was refused by the engine: exit 3, with the client's own words."""

    exit_code = COULD_NOT_MEASURE

    def __init__(self, message: str, stderr: str = "", said: str = "") -> None:
        super().__init__(message)
        self.stderr = stderr
        self.said = said or message  # the client's last line, when it gave one


Completed = subprocess.CompletedProcess[str]


# What the CLI adds after the line that says why (`docker run` after a daemon error).
HINT = re.compile(r"^(Run|See) '\S+ [\w -]+--help'( for more information)?\.?$")


def said(done: Completed) -> str:
    """The line of a failed command that says why: the last non-blank one of stderr, else of
    stdout (the CLI's "Run 'docker run --help'" hint skipped), else its exit code."""
    for text in (done.stderr or "", done.stdout or ""):
        lines = [line.strip() for line in text.splitlines() if line.strip()]
        lines = [line for line in lines if not HINT.match(line)] or lines
        if lines:
            return lines[-1]
    return f"exit {done.returncode}"


@dataclass(frozen=True)
class Docker:
    """The client (``docker`` or ``podman``) and the engine it talks to."""

    host: str = ""  # a Docker host URL, or "" for Docker's own choice
    client: str = "docker"  # the binary: a name on PATH ("docker", "podman") or a path
    timeout: float = 60.0  # seconds a command may take unless told otherwise

    @classmethod
    def of(cls, engine: EngineConfig, client: str = "docker") -> Docker:
        return cls(engine.docker_host, client)

    @property
    def name(self) -> str:
        return os.path.basename(self.client)

    @property
    def where(self) -> str:
        return (
            self.host
            or os.environ.get("DOCKER_HOST")
            or "Docker's current context (docker_host and $DOCKER_HOST unset)"
        )

    def env(self) -> dict[str, str]:
        environ = {k: v for k, v in os.environ.items() if k != "DOCKER_BUILDKIT"}
        if self.host:
            environ["DOCKER_HOST"] = self.host
        return environ

    def binary(self) -> str:
        """The client's path; EngineUnreachable when it is not installed."""
        found = shutil.which(self.client)
        if found is None:
            package = PACKAGES.get(self.name, self.name)
            raise EngineUnreachable(
                f"the {self.name} CLI is not installed: not on PATH "
                f"(Debian: apt-get install {package})"
            )
        return found

    def _call(self, args: tuple[str, ...], stdin: str | None, timeout: float | None) -> Completed:
        """``client args`` to the end, whatever its exit; EngineUnreachable only when the
        client is missing or the command outlives ``timeout``."""
        limit = timeout or self.timeout
        try:
            return subprocess.run(
                [self.binary(), *args],
                input=stdin,
                capture_output=True,
                text=True,
                timeout=limit,
                env=self.env(),
                check=False,
            )
        except subprocess.TimeoutExpired:
            raise EngineUnreachable(
                f"{self.name} {' '.join(args[:2])} did not answer within {limit:g} s "
                f"(engine at {self.where})"
            ) from None

    def run(
        self,
        *args: str,
        stdin: str | None = None,
        timeout: float | None = None,
        check: bool = True,
        echo: bool = False,
    ) -> Completed:
        """``client args``; DockerRefused when it fails and ``check``, EngineUnreachable when
        the engine cannot be reached at all (``check`` or not). ``echo`` prints its output."""
        done = self._call(args, stdin, timeout)
        if echo and (done.stdout or done.stderr):
            print((done.stdout + done.stderr).rstrip("\n"), flush=True)
        if done.returncode != 0:
            line = said(done)
            answered = "Error response from daemon" in line  # the engine is there
            if not answered and any(marker in line for marker in UNREACHABLE):
                raise EngineUnreachable(
                    f"the container engine at {self.where} is unreachable: {line}"
                )
            if check:
                raise DockerRefused(
                    f"{self.name} {' '.join(args[:2])} failed: {line}", done.stderr, line
                )
        return done

    def lines(self, *args: str) -> list[str]:
        """The non-blank lines ``client args`` prints."""
        return [line for line in self.run(*args).stdout.splitlines() if line.strip()]

    def inspect(self, kind: str, name: str) -> dict[str, Any] | None:
        """``inspect --type kind name`` as JSON; None when there is no such object."""
        done = self.run("inspect", "--type", kind, name, check=False)
        if done.returncode != 0:
            if "No such" in done.stderr or "not found" in done.stderr:
                return None
            line = said(done)
            raise DockerRefused(
                f"{self.name} inspect {kind} {name} failed: {line}", done.stderr, line
            )
        found = json.loads(done.stdout)
        return found[0] if found else None

    def ask(self, *args: str, timeout: float = 30) -> tuple[str, None] | tuple[None, str]:
        """(the last line ``client args`` printed, "" if none, None) when it succeeds, or
        (None, why it did not answer): a probe, which never raises."""
        try:
            done = self._call(args, None, timeout)
        except EngineUnreachable as exc:
            return None, str(exc)
        if done.returncode != 0:
            return None, said(done)
        printed = [line.strip() for line in done.stdout.splitlines() if line.strip()]
        return (printed[-1] if printed else ""), None

    def server_version(self) -> tuple[str, None] | tuple[None, str]:
        """(the engine's version, None), or (None, why it does not answer)."""
        answer = self.ask("version", "--format", "{{.Server.Version}}")
        return (None, "it named no server version") if answer[0] == "" else answer

    def image_id(self, reference: str) -> str | None:
        """The id of the image ``reference`` in the engine; None when it has none."""
        done = self.run("image", "inspect", "--format", "{{.Id}}", reference, check=False)
        if done.returncode != 0:
            return None
        return done.stdout.strip() or None
