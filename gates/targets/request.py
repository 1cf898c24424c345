"""What a deploy is asked to do, the release it carries, and how it fails.

A :class:`DeployRequest` is built once, by the stage that was asked (``deploy`` from its
command line, ``rollback`` and ``drill`` from what they decided), and read by everything
after: the promotion policy, the ledger record and the target that carries it out.
"""

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from gates.config import EnvironmentConfig, PipelineConfig
from gates.outcome import FAILED, GateError
from gates.release import store

Kind = Literal["deploy", "rollback"]


class DeployFailed(GateError):
    """The release did not go live (or was refused); what was live keeps serving."""

    exit_code = FAILED


@dataclass(frozen=True)
class ServiceConfig:
    """How a release runs in an environment: its environment variables and worker count.

    A release plus its service config is a *deployment*; deploying the same pair again
    changes nothing, a new config for the same release is a new deployment.
    """

    env: Mapping[str, str]
    workers: int

    @classmethod
    def configured(cls, environment: EnvironmentConfig) -> "ServiceConfig":
        """What the pipeline configuration declares for ``environment``."""
        return cls(dict(environment.env), environment.workers)

    def deployment_key(self, release_id: str) -> str:
        """The deployment's name: the release id and a digest of this config."""
        config = json.dumps({"env": dict(self.env), "workers": self.workers}, sort_keys=True)
        return f"{release_id}-{hashlib.sha256(config.encode()).hexdigest()[:8]}"


@dataclass(frozen=True)
class DeployRequest:
    environment: str
    service: ServiceConfig
    # A release id or "latest"; None: the environment's default (see deploy.choose_release).
    release: str | None = None
    kind: Kind = "deploy"
    reason: str = ""  # recorded in the ledger
    # Deploy although the promotion policy refuses; the reason is recorded.
    override_promotion: str | None = None


@dataclass(frozen=True)
class Release:
    """A release from the store whose manifest and artifacts were just verified."""

    directory: Path
    manifest: Mapping[str, Any] = field(repr=False)

    @classmethod
    def verified(cls, config: PipelineConfig, name: str) -> "Release":
        """The release ``name`` (an id or "latest"), verified; GateError if it cannot be."""
        directory = store.resolve(config, name)
        return cls(directory, store.verify(directory))

    @property
    def id(self) -> str:
        return str(self.manifest["release_id"])

    @property
    def commit(self) -> str:
        return str(self.manifest["source"]["commit"])
