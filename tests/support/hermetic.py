"""The caller's environment never reaches a test: what the pipeline and the service read from
environment variables is removed for the whole run, so every test sets what it is about.

A developer who exports the docs' offline settings (``PIPELINE_ADVISORY_SOURCES=osv``,
``PIPELINE_OSV_DIR=…``), a state directory, a job's ``GITHUB_STEP_SUMMARY`` or a remote
``DOCKER_HOST`` gets the same verdicts as CI. Two things are kept, because they are what the
suite is pointed at rather than inputs of the code under test: ``CI`` (engine-backed tests fail
instead of skipping) and the engine (``ENGINE_DOCKER_HOST``, read before anything is removed;
engine-backed tests name it in their projects' configuration).
"""

import os
from collections.abc import Iterator
from pathlib import Path

from gates.config import load_config
from techcorp_api.envvars import INT_SETTINGS
from techcorp_api.settings import ENVIRONMENT_KEYS

# Read by gates (PIPELINE_*, GITHUB_ACTIONS/OUTPUT/STEP_SUMMARY, ENGINE_SSH_*, REGISTRY_*),
# the docker CLI it runs (DOCKER_*), the workflow's steps and the service (its settings,
# gunicorn's, its metrics).
PREFIXES = ("PIPELINE_", "GITHUB_", "ENGINE_SSH_", "REGISTRY_", "DOCKER_", "GUNICORN_")
PREFIXES += ("TECHCORP_",)
NAMES = frozenset(
    {*ENVIRONMENT_KEYS, *INT_SETTINGS, "PROMETHEUS_MULTIPROC_DIR", "BIND", "REASON", "GH_TOKEN"}
)

_ROOT_CONFIG = Path(__file__).resolve().parents[2] / "pyproject.toml"
# The engine the engine-backed tests use: $DOCKER_HOST as the caller set it, else this
# repository's [tool.pipeline.engine] docker_host (what `nox -s engine -- up` starts).
ENGINE_DOCKER_HOST = load_config(
    _ROOT_CONFIG, environ={"DOCKER_HOST": os.environ.get("DOCKER_HOST", "")}
).engine.docker_host


def caller_variables(environ: dict[str, str] | os._Environ[str]) -> list[str]:
    return sorted(name for name in environ if name in NAMES or name.startswith(PREFIXES))


def without_caller_variables() -> Iterator[dict[str, str]]:
    """Remove them from ``os.environ`` (so from every subprocess) until resumed; yields what
    was removed."""
    removed = {name: os.environ.pop(name) for name in caller_variables(os.environ)}
    try:
        yield removed
    finally:
        os.environ.update(removed)
