"""Pipeline configuration: the ``[tool.pipeline]`` table of pyproject.toml, validated on load.

The file is found from ``--config``, else ``$PIPELINE_CONFIG``, else the nearest
pyproject.toml with a ``[tool.pipeline]`` table at or above the working directory.
``$PIPELINE_STATE_DIR`` overrides ``state_dir``; ``$DOCKER_HOST`` overrides
``engine.docker_host``; ``$PIPELINE_TARGETS`` (TOML) places the engine's registry and images
and the environments' target, url and stack, laid over the table before it is validated
(``placement``: where environments live on GitHub). Relative paths are relative to the file.
The tables are declared in ``models`` (with the ``rules`` that errors quote); ``errors`` words
what is wrong with one; ``reference`` writes docs/configuration.md from the models.
"""

import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from gates.config.errors import validated
from gates.config.models import TABLE, CoverageReport, Origin, PipelineConfig
from gates.config.models import BanditWaiver, EnvironmentConfig, VulnerabilityWaiver, SecurityConfig
from gates.config.models import PerfConfig, PytestConfig, Waiver, as_json, json_schema
from gates.config.models import EngineConfig
from gates.config.placement import TARGETS_ENV, merged, overlay
from gates.outcome import ConfigError

__all__ = ["CONFIG_ENV", "STATE_DIR_ENV", "TABLE", "find_config", "load_config", "json_schema"]
__all__ += ["as_json", "PipelineConfig", "PytestConfig", "EnvironmentConfig", "SecurityConfig"]
__all__ += ["Waiver", "BanditWaiver", "VulnerabilityWaiver", "PerfConfig", "EngineConfig"]
__all__ += ["TARGETS_ENV"]

STATE_DIR_ENV = "PIPELINE_STATE_DIR"
CONFIG_ENV = "PIPELINE_CONFIG"
DOCKER_HOST_ENV = "DOCKER_HOST"  # overrides [tool.pipeline.engine] docker_host
COVERAGE_TABLE = "tool.coverage.report"


def find_config(explicit: str | Path | None = None, start: str | Path | None = None) -> Path:
    """The config file to use, or ConfigError saying where we looked."""
    chosen = explicit or os.environ.get(CONFIG_ENV)
    if chosen:
        path = Path(chosen)
        if not path.is_file():
            raise ConfigError(f"config file {path} does not exist (from --config or ${CONFIG_ENV})")
        return path
    start = Path(start or Path.cwd()).resolve()
    for directory in (start, *start.parents):
        candidate = directory / "pyproject.toml"
        if candidate.is_file() and _has_pipeline_table(candidate):
            return candidate
    raise ConfigError(
        f"no pyproject.toml with a [{TABLE}] table at or above {start}; "
        "run from the repository or pass --config PATH"
    )


def _has_pipeline_table(path: Path) -> bool:
    try:
        return "pipeline" in _read_toml(path).get("tool", {})
    except ConfigError:
        return True  # report the parse error when loading, not "not found"


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with open(path, "rb") as handle:
            return tomllib.load(handle)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML ({exc}); fix the syntax") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read ({exc.strerror})") from None


def _coverage_fail_under(document: dict[str, Any], path: Path) -> float:
    report = document.get("tool", {}).get("coverage", {}).get("report", {})
    if isinstance(report, dict) and "fail_under" not in report:
        raise ConfigError(
            f"{path}: [{COVERAGE_TABLE}] fail_under is not set; "
            "the test gate needs a coverage threshold (e.g. fail_under = 90)"
        )
    return validated(CoverageReport, report, path, COVERAGE_TABLE, None).fail_under


def load_config(
    explicit: str | Path | None = None,
    start: str | Path | None = None,
    environ: Mapping[str, str] | None = None,
) -> PipelineConfig:
    """Find, parse and validate the configuration; ConfigError on any problem."""
    environ = os.environ if environ is None else environ
    path = find_config(explicit, start).resolve()
    document = _read_toml(path)
    table = document.get("tool", {}).get("pipeline")
    if table is None:
        raise ConfigError(f"{path}: no [{TABLE}] table; add one (see README.md, Configuration)")
    fail_under = _coverage_fail_under(document, path)

    def origin() -> Origin:
        found = Origin(path, environ.get(STATE_DIR_ENV, ""), fail_under)
        found.docker_host_override = environ.get(DOCKER_HOST_ENV, "")
        return found

    environments = table.get("environments") if isinstance(table, dict) else None
    declared = environments if isinstance(environments, dict) else {}
    over = overlay(environ.get(TARGETS_ENV, ""), declared, path)
    if not over or not isinstance(table, dict):
        return validated(PipelineConfig, table, path, TABLE, origin())
    try:
        return validated(PipelineConfig, merged(table, over), path, TABLE, origin())
    except ConfigError as exc:
        validated(PipelineConfig, table, path, TABLE, origin())  # the file's own error first
        raise ConfigError(f"${TARGETS_ENV} over {exc}") from None
