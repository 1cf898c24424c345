"""Where the environments live when the pipeline runs on GitHub.

``$PIPELINE_TARGETS`` holds TOML, a subset of the ``[tool.pipeline]`` table, laid over the
file's table before it is validated: the "where" of the engine (``engine.registry``,
``edge_image``, ``prometheus_image``) and of each environment the file declares
(``environments.NAME.target``, ``url``, ``stack``), never a gate's thresholds. The workflow sets
it from the repository variable of the same name, so the repository keeps ``target = "local"``
for laptops and tests while its GitHub runs deploy to the persistent swarm.

A GitHub runner is thrown away after its job: under ``GITHUB_ACTIONS=true`` a local
environment, or a build pushing to a registry on the runner's loopback, is a configuration
error (exit 2) before anything starts.
"""

import tomllib
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from gates.outcome import ConfigError
from gates.registry import Registry

TARGETS_ENV = "PIPELINE_TARGETS"
GITHUB_ACTIONS_ENV = "GITHUB_ACTIONS"
HOW = "docs/ci.md#where-the-environments-live"
# The keys $PIPELINE_TARGETS may set: table -> keys (environments: in each named table).
ENGINE_KEYS = ("registry", "edge_image", "prometheus_image")
ENVIRONMENT_KEYS = ("target", "url", "stack")
SETS = (
    f"it sets only engine.{', engine.'.join(ENGINE_KEYS)} and "
    f"environments.NAME.{', '.join(ENVIRONMENT_KEYS)}"
)


def overlay(text: str, declared: Iterable[str], path: Path) -> dict[str, Any]:
    """The tables ``$PIPELINE_TARGETS`` (``text``) lays over the file's; {} when it is empty.
    ConfigError naming the variable and the key for anything it may not set."""
    if not text.strip():
        return {}
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"${TARGETS_ENV} is not valid TOML ({exc}); fix the variable") from None
    for key, value in document.items():
        if key == "tool":
            raise _refused(key, "write its tables without tool.pipeline, e.g. [engine]")
        if key not in ("engine", "environments"):
            raise _refused(key, f"set it in {path}")
        _table(key, value)
    for key in _table("engine", document.get("engine", {})):
        if key not in ENGINE_KEYS:
            raise _refused(f"engine.{key}", f"set it in {path}")
    known = list(declared)
    for name, table in _table("environments", document.get("environments", {})).items():
        if name not in known:
            raise ConfigError(
                f"${TARGETS_ENV}: environments.{name}: {path} declares no such environment "
                f"(declared: {', '.join(known) or 'none'}); it places only those"
            )
        for key in _table(f"environments.{name}", table):
            if key not in ENVIRONMENT_KEYS:
                raise _refused(f"environments.{name}.{key}", f"set it in {path}")
    return document


def _table(key: str, value: object) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ConfigError(f"${TARGETS_ENV}: {key} must be a table, got {type(value).__name__}")
    return value


def _refused(key: str, instead: str) -> ConfigError:
    return ConfigError(f"${TARGETS_ENV}: {key} cannot be set there ({SETS}); {instead}")


def merged(table: Mapping[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    """``table`` with ``over`` laid on it: tables merged key by key, any other value replaced."""
    result = dict(table)
    for key, value in over.items():
        below = result.get(key)
        if isinstance(below, Mapping) and isinstance(value, Mapping):
            value = merged(below, value)
        result[key] = value
    return result


def on_github(environ: Mapping[str, str]) -> bool:
    return environ.get(GITHUB_ACTIONS_ENV) == "true"


def refuse_local(environment: str, target: str, environ: Mapping[str, str]) -> None:
    """ConfigError when a GitHub runner would deploy to, or measure, a local environment."""
    if target == "local" and on_github(environ):
        raise ConfigError(
            f'{environment} is a local environment (target = "local"): on a GitHub runner it '
            f"would be thrown away with the runner; set the repository variable {TARGETS_ENV} "
            f"to place it ({HOW})"
        )


def refuse_loopback_registry(registry: str, environ: Mapping[str, str]) -> None:
    """ConfigError when a GitHub runner would push to a registry on its own loopback."""
    if on_github(environ) and Registry.parse(registry).loopback:
        raise ConfigError(
            f"the registry {registry} ([tool.pipeline.engine] registry) is on this GitHub "
            "runner's loopback: an image pushed there is thrown away with the runner; set the "
            f"repository variable {TARGETS_ENV} (engine.registry) to one the swarm pulls from "
            f"({HOW})"
        )
