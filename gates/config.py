"""Pipeline configuration: the ``[tool.pipeline]`` table of pyproject.toml, validated on load.

The file is found from ``--config``, else ``$PIPELINE_CONFIG``, else the nearest
pyproject.toml with a ``[tool.pipeline]`` table at or above the working directory.
``$PIPELINE_STATE_DIR`` overrides ``state_dir``. Relative paths are relative to the file.
"""

import os
import tomllib
from dataclasses import dataclass
from pathlib import Path

from gates.outcome import ConfigError

STATE_DIR_ENV = "PIPELINE_STATE_DIR"
CONFIG_ENV = "PIPELINE_CONFIG"
TABLE = "tool.pipeline"

# key -> (type, default); a default of None means the key is required.
ROOT_SCHEMA = {
    "state_dir": (str, ".pipeline"),
    "service": (str, None),
    "service_dir": (str, None),
}
LINT_SCHEMA = {
    "paths": (list, ["."]),
}
TEST_SCHEMA = {
    "junit_xml": (str, "reports/junit.xml"),
    "coverage_xml": (str, "reports/coverage.xml"),
}
SECTIONS = {"lint": LINT_SCHEMA, "test": TEST_SCHEMA}


@dataclass(frozen=True)
class LintConfig:
    paths: tuple


@dataclass(frozen=True)
class PytestConfig:
    junit_xml: Path
    coverage_xml: Path
    coverage_fail_under: float


@dataclass(frozen=True)
class PipelineConfig:
    path: Path
    root: Path
    state_dir: Path
    service: str
    service_dir: Path
    lint: LintConfig
    test: PytestConfig

    @property
    def reports_dir(self):
        return self.state_dir / "reports"


def find_config(explicit=None, start=None):
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


def _has_pipeline_table(path):
    try:
        return "pipeline" in _read_toml(path).get("tool", {})
    except ConfigError:
        return True  # report the parse error when loading, not "not found"


def _read_toml(path):
    try:
        with open(path, "rb") as handle:
            return tomllib.load(handle)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML ({exc}); fix the syntax") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read ({exc.strerror})") from None


def _section(table, where, schema):
    """Validate one table against its schema: known keys, right types, required present."""
    if not isinstance(table, dict):
        raise ConfigError(f"{where} must be a table, got {type(table).__name__}")
    unknown = sorted(set(table) - set(schema))
    if unknown:
        raise ConfigError(
            f"{where}: unknown key {unknown[0]!r} (known keys: {', '.join(sorted(schema))})"
        )
    values = {}
    for key, (kind, default) in schema.items():
        if key not in table:
            if default is None:
                raise ConfigError(f"{where}: required key {key!r} is missing")
            values[key] = default
            continue
        value = table[key]
        if not isinstance(value, kind) or (kind is str and not value.strip()):
            raise ConfigError(f"{where}: {key} must be a non-empty {kind.__name__}, got {value!r}")
        if kind is list and (not value or not all(isinstance(v, str) and v for v in value)):
            raise ConfigError(f"{where}: {key} must be a non-empty list of strings, got {value!r}")
        values[key] = value
    return values


def _coverage_fail_under(document, path):
    value = document.get("tool", {}).get("coverage", {}).get("report", {}).get("fail_under")
    if value is None:
        raise ConfigError(
            f"{path}: [tool.coverage.report] fail_under is not set; "
            "the test gate needs a coverage threshold (e.g. fail_under = 90)"
        )
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 100:
        raise ConfigError(
            f"{path}: [tool.coverage.report] fail_under must be a number 0-100, got {value!r}"
        )
    return float(value)


def load_config(explicit=None, start=None, environ=None):
    """Find, parse and validate the configuration; ConfigError on any problem."""
    environ = os.environ if environ is None else environ
    path = find_config(explicit, start).resolve()
    document = _read_toml(path)
    table = document.get("tool", {}).get("pipeline")
    if table is None:
        raise ConfigError(f"{path}: no [{TABLE}] table; add one (see README.md, Configuration)")
    root_table = {k: v for k, v in table.items() if k not in SECTIONS}
    values = _section(root_table, f"{path} [{TABLE}]", ROOT_SCHEMA)
    sections = {
        name: _section(table.get(name, {}), f"{path} [{TABLE}.{name}]", schema)
        for name, schema in SECTIONS.items()
    }
    root = path.parent
    state_dir = root / (environ.get(STATE_DIR_ENV) or values["state_dir"])
    service_dir = root / values["service_dir"]
    if not (service_dir / "pyproject.toml").is_file():
        raise ConfigError(
            f"{path} [{TABLE}]: service_dir {values['service_dir']!r} has no pyproject.toml"
        )
    return PipelineConfig(
        path=path,
        root=root,
        state_dir=state_dir,
        service=values["service"],
        service_dir=service_dir,
        lint=LintConfig(paths=tuple(sections["lint"]["paths"])),
        test=PytestConfig(
            junit_xml=state_dir / sections["test"]["junit_xml"],
            coverage_xml=state_dir / sections["test"]["coverage_xml"],
            coverage_fail_under=_coverage_fail_under(document, path),
        ),
    )
