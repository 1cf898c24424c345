"""The docker CLI against the configured engine: one command, a timeout, one line on failure.

The engine is reached the Docker way: ``[tool.pipeline.engine] docker_host`` when set, else
``$DOCKER_HOST`` or the current docker context (``ssh://user@manager``, ``tcp://`` with TLS,
a unix socket). Nothing here speaks the Engine API itself.

An engine that cannot be reached, a CLI that is missing or a command that hangs is
:class:`EngineUnreachable` (exit 3: could not measure); any other refusal is
:class:`DockerError` (exit 3 too, with the CLI's own last line), unless the caller expects it
(``check=False``) and reads the result.
"""

import hashlib
import json
import os
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from gates.outcome import COULD_NOT_MEASURE, GateError

# What the CLI says when it cannot talk to the daemon (unix socket, tcp, ssh).
UNREACHABLE = (
    "Cannot connect to the Docker daemon",
    "error during connect",
    "connection refused",
    "no such host",
    "ssh: ",
    "dial-stdio",
)


# The variable a container started by run_configured finds its configuration in.
CONFIG_ENV = "GATES_CONFIG"


def config_digest(config: str) -> str:
    """The short digest a configured container is labelled with."""
    return hashlib.sha256(config.encode()).hexdigest()[:16]


class EngineUnreachable(GateError):
    """The container engine (or the docker CLI) cannot be used: exit 3."""

    exit_code = COULD_NOT_MEASURE


class DockerError(GateError):
    """A docker command was refused: exit 3, with the CLI's own words."""

    exit_code = COULD_NOT_MEASURE

    def __init__(self, message: str, stderr: str = "") -> None:
        super().__init__(message)
        self.stderr = stderr


def last_line(text: str) -> str:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return lines[-1] if lines else ""


@dataclass(frozen=True)
class Docker:
    host: str = ""  # DOCKER_HOST for every command; "" leaves the environment's choice
    timeout: float = 60.0

    @property
    def where(self) -> str:
        return self.host or os.environ.get("DOCKER_HOST") or "the default docker context"

    def run(
        self,
        *args: str,
        stdin: str | None = None,
        timeout: float | None = None,
        check: bool = True,
    ) -> "subprocess.CompletedProcess[str]":
        """``docker args``; DockerError when it fails and ``check``, EngineUnreachable when
        the engine cannot be reached at all."""
        binary = shutil.which("docker")
        if binary is None:
            raise EngineUnreachable(
                "the docker CLI is not installed (swarm environments need it on PATH; "
                "see README: the engine-backed environments)"
            )
        env = {**os.environ, "DOCKER_HOST": self.host} if self.host else None
        limit = timeout or self.timeout
        try:
            done = subprocess.run(
                [binary, *args],
                input=stdin,
                capture_output=True,
                text=True,
                timeout=limit,
                env=env,
                check=False,
            )
        except subprocess.TimeoutExpired:
            raise EngineUnreachable(
                f"docker {args[0]} {args[1] if len(args) > 1 else ''} did not answer within "
                f"{limit:g} s (engine at {self.where})"
            ) from None
        if done.returncode != 0:
            line = last_line(done.stderr) or last_line(done.stdout) or f"exit {done.returncode}"
            answered = "Error response from daemon" in line  # the engine is there
            if not answered and any(marker in line for marker in UNREACHABLE):
                raise EngineUnreachable(
                    f"the container engine at {self.where} is unreachable: {line}"
                )
            if check:
                raise DockerError(f"docker {' '.join(args[:2])} failed: {line}", done.stderr)
        return done

    def ok(self, *args: str, timeout: float | None = None) -> bool:
        """Whether ``docker args`` succeeds (an object exists, say)."""
        return self.run(*args, timeout=timeout, check=False).returncode == 0

    def inspect(self, kind: str, name: str) -> dict[str, Any] | None:
        """``docker inspect --type kind name`` as JSON; None when there is no such object."""
        done = self.run("inspect", "--type", kind, name, check=False)
        if done.returncode != 0:
            if "No such" in done.stderr or "not found" in done.stderr:
                return None
            raise DockerError(f"docker inspect {kind} {name} failed: {last_line(done.stderr)}")
        found = json.loads(done.stdout)
        return found[0] if found else None

    def keep_container(
        self, name: str, label: str, config: str, what: str, say: Callable[[str], object]
    ) -> bool:
        """True when container ``name`` was started with ``config`` (run_configured labels it
        ``label=<its digest>``; started if it had stopped); otherwise a container of that
        name, made for another configuration, is removed: False, and the caller runs it anew."""
        found = self.inspect("container", name)
        if found is None:
            return False
        if (found["Config"].get("Labels") or {}).get(label) == config_digest(config):
            if not found["State"].get("Running"):
                say(f"starting {what}")
                self.run("container", "start", name)
            return True
        say(f"the configuration of {what} changed: recreating it")
        self.run("container", "rm", "--force", name)
        return False

    def run_configured(
        self,
        name: str,
        image: str,
        options: tuple[str, ...],
        label: str,
        config: str,
        script: str,
        timeout: float,
    ) -> None:
        """Start container ``name`` from ``image``, restarted by the engine unless stopped,
        with its configuration in ``$GATES_CONFIG``: ``script`` (run by /bin/sh) writes it to
        a file and execs the server. Labelled ``label=<digest of config>`` for keep_container."""
        self.run(
            "container", "run", "--detach", "--name", name, *options,
            "--restart", "unless-stopped",
            "--label", f"{label}={config_digest(config)}",
            "--env", f"{CONFIG_ENV}={config}",
            "--entrypoint", "/bin/sh",
            image, "-c", script,
            timeout=timeout,
        )  # fmt: skip

    def lines(self, *args: str) -> list[str]:
        return [line for line in self.run(*args).stdout.splitlines() if line.strip()]
