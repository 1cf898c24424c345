"""The namespaced swarm (``gates engine up --nodes 1``, gates.engine.nodes) reached the way a
GitHub deploy job reaches the persistent swarm: ``DOCKER_HOST=ssh://deploy@10.231.0.2``, the key
and known hosts from what ``up`` gives a GitHub environment, installed by ``gates engine ssh``
into a home of the test's own, and images in the node's TLS registry with its credentials.

``ssh_node(home)`` returns the node when it is up; otherwise the test is skipped saying what to
run, and fails when ``CI`` is set (.ci/run starts it).

OpenSSH takes ``~`` from the passwd entry, not from ``$HOME``: on a GitHub runner the two are
the same directory, here (root, a temporary home) they are not. So the test's PATH starts
with an ``ssh`` that names ``$HOME/.ssh``'s key and known hosts, nothing else.
"""

import json
import os
import subprocess
import tomllib
from dataclasses import dataclass
from pathlib import Path

import pytest

from gates.engine import nodes
from support.swarm import DOCKER_ENV
from support.timeouts import HANG

SSH = """#!/bin/sh
exec /usr/bin/ssh -o UserKnownHostsFile="$HOME/.ssh/known_hosts" \\
  -o IdentityFile="$HOME/.ssh/id_ed25519" "$@"
"""


@dataclass(frozen=True)
class SshNode:
    given: dict[str, str]  # what a GitHub environment is given (gates.engine.nodes.environment)
    home: Path

    @property
    def targets(self) -> dict[str, dict[str, object]]:
        return tomllib.loads(self.given["PIPELINE_TARGETS"])

    @property
    def env(self) -> dict[str, str]:
        """The deploy job's environment: its home, the engine over ssh://, the registry's
        credentials."""
        return {
            "HOME": str(self.home),
            "PATH": f"{self.home / 'bin'}:{os.environ['PATH']}",
            "DOCKER_HOST": self.given["DOCKER_HOST"],
            "REGISTRY_USERNAME": self.given["REGISTRY_USERNAME"],
            "REGISTRY_PASSWORD": self.given["REGISTRY_PASSWORD"],
        }

    @property
    def key_env(self) -> dict[str, str]:
        """What `gates engine ssh` reads: the environment's secret key and known hosts."""
        return {name: self.given[name] for name in ("ENGINE_SSH_KEY", "ENGINE_SSH_KNOWN_HOSTS")}

    def docker(self, *args: str, stdin: str | None = None) -> str:
        """The docker CLI over ssh://, as the deploy job runs it."""
        done = subprocess.run(["docker", *args], input=stdin, capture_output=True, text=True,
                              timeout=HANG, env={**os.environ, **self.env})  # fmt: skip
        if done.returncode != 0:
            raise AssertionError(f"docker {' '.join(args)} over ssh: {done.stderr.strip()}")
        return done.stdout

    def remove_under(self, prefix: str) -> None:
        """Remove every service, container, config and network named under ``prefix``."""
        for kind, listed in (("service", ()), ("container", ("--all",)), ("config", ()),
                             ("network", ())):  # fmt: skip
            names = self.docker(kind, "ls", *listed, "--format", "{{.Names}}" if kind ==
                                "container" else "{{.Name}}").split()  # fmt: skip
            doomed = [name for name in names if prefix in name]
            if doomed:
                force = ("--force",) if kind == "container" else ()
                subprocess.run(["docker", kind, "rm", *force, *doomed], capture_output=True,
                               timeout=HANG, env={**os.environ, **self.env})  # fmt: skip

    def push(self, reference: str, tag: str) -> dict[str, str]:
        """Push an image of the dev engine (``reference``) to the node's registry as ``tag``
        (a repository:tag under it); {"reference", "digest"} by the digest it serves."""
        target = f"{nodes.registry_host()}/{tag}"
        config = self.home / "push-docker-config"
        config.mkdir(exist_ok=True)
        environ = {**DOCKER_ENV, "DOCKER_CONFIG": str(config)}

        def dev(*args: str, stdin: str | None = None) -> str:
            done = subprocess.run(["docker", *args], input=stdin, capture_output=True,
                                  text=True, timeout=HANG, env=environ)  # fmt: skip
            assert done.returncode == 0, f"docker {' '.join(args)}: {done.stderr.strip()}"
            return done.stdout

        dev("login", nodes.registry_host(), "--username", self.given["REGISTRY_USERNAME"],
            "--password-stdin", stdin=self.given["REGISTRY_PASSWORD"])  # fmt: skip
        dev("tag", reference, target)
        dev("push", "--quiet", target)
        digests = json.loads(dev("image", "inspect", "--format", "{{json .RepoDigests}}", target))
        pushed = [d for d in digests if d.startswith(f"{target.rsplit(':', 1)[0]}@")]
        # The dev engine is shared: leave its image's names (and RepoDigests) as they were.
        for name in (target, *pushed):  # the tag's removal may take its digest name along
            subprocess.run(["docker", "rmi", "--no-prune", name], capture_output=True,
                           timeout=HANG, env=environ)  # fmt: skip
        assert pushed, f"{target} has no digest in {nodes.registry_host()}: {digests}"
        return {"reference": pushed[0], "digest": pushed[0].rsplit("@", 1)[1]}


def node_problem(count: int = 1) -> str | None:
    """Why the tests that need ``count`` namespaced nodes cannot run here, or None."""
    missing = nodes.missing()
    if missing:
        return missing.describe()
    if not nodes.OUTPUTS.is_file():
        return f"no namespaced swarm ({nodes.OUTPUTS} is absent)"
    lacking = nodes.status(count, lambda _: None)
    return f"the namespaced swarm is not up ({', '.join(lacking)})" if lacking else None


def ssh_node(home: Path) -> SshNode:
    """The node, with ``home`` ready for ``gates engine ssh`` (its ``ssh`` first on PATH);
    skip (fail under CI) when it is not up."""
    problem = node_problem()
    if problem is not None:
        if os.environ.get("CI"):
            pytest.fail(f"CI is set but the ssh:// tests cannot run: {problem}")
        pytest.skip(f"SSH:// TESTS NOT RUN: {problem}; run `sudo nox -s engine -- up --nodes 1`")
    (home / "bin").mkdir(parents=True, exist_ok=True)
    (home / "bin" / "ssh").write_text(SSH)
    (home / "bin" / "ssh").chmod(0o755)
    return SshNode(json.loads(nodes.OUTPUTS.read_text()), home)
