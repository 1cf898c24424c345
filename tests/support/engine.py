"""The container engine for engine-backed tests: found, never started, by the tests.

``find_engine()`` reads this repository's configuration (the caller's ``$DOCKER_HOST``, kept
as ``hermetic.ENGINE_DOCKER_HOST``, overrides its ``[tool.pipeline.engine] docker_host``, as
everywhere) and returns the engine when everything ``gates engine up`` makes answers there:
dockerd, the swarm, the registry, the base and edge images. Otherwise the test is skipped with
the reason and the command that fixes it; when the ``CI`` environment variable is set it fails
instead, because CI must run these tests (``.ci/run`` starts the engine first).

Tests share the engine with others: every image, service, network, container or config a
test makes carries a unique prefix (``unique_name``) and is removed by that name afterwards.
"""

import os
import secrets
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from gates.config import EngineConfig, load_config
from gates.docker import Docker
from gates.engine import prerequisites
from gates.engine.survey import plan, survey
from gates.registry import Registry
from support.hermetic import ENGINE_DOCKER_HOST
from support.timeouts import HANG

ROOT = Path(__file__).resolve().parents[2]
CI_ENV = "CI"


@dataclass(frozen=True)
class Engine:
    config: EngineConfig

    @property
    def docker_host(self) -> str:
        return self.config.docker_host

    @property
    def registry(self) -> Registry:
        return Registry.parse(self.config.registry)

    def docker(
        self, *args: str, check: bool = True, timeout: float = 120
    ) -> "subprocess.CompletedProcess[str]":
        client = Docker.of(self.config)
        done = subprocess.run(
            [client.binary(), *args],
            env=client.env(),
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if check and done.returncode != 0:
            raise AssertionError(f"docker {' '.join(args)} exited {done.returncode}: {done.stderr}")
        return done

    def toml(self) -> str:
        """An [tool.pipeline.engine] table naming this engine, for a test project."""
        lines = [f'{key} = "{getattr(self.config, key)}"' for key in EngineConfig.model_fields]
        return "[tool.pipeline.engine]\n" + "\n".join(lines) + "\n"


def unique_name(kind: str = "") -> str:
    """``gates-t<random>[-kind]``: a name no other test (or person) uses on the engine."""
    return f"gates-t{secrets.token_hex(4)}" + (f"-{kind}" if kind else "")


def why_not_ready(engine: EngineConfig) -> str | None:
    """None when the engine is ready; else what is missing and how to fix it, in one line."""
    state = survey(engine)
    if state.ready():
        return None
    missing = prerequisites.missing(plan(engine, state))
    fix = (
        f"this machine cannot run it yet: {missing.describe()}"
        if missing
        else "start it with `nox -s engine -- up` (README: Engine-backed tests)"
    )
    where = Docker.of(engine).where
    return f"the container engine at {where} is not ready ({', '.join(state.lacking())}); {fix}"


def find_engine() -> Engine:
    engine = load_config(
        ROOT / "pyproject.toml", environ={"DOCKER_HOST": ENGINE_DOCKER_HOST}
    ).engine
    reason = why_not_ready(engine)
    if reason is None:
        return Engine(engine)
    if os.environ.get(CI_ENV):
        pytest.fail(f"engine-backed test, and CI is set: {reason}", pytrace=False)
    pytest.skip(f"engine-backed test skipped: {reason}")


__all__ = ["Engine", "HANG", "find_engine", "unique_name"]
