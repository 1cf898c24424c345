"""Pipeline configuration: the ``[tool.pipeline]`` table of pyproject.toml, validated on load.

The file is found from ``--config``, else ``$PIPELINE_CONFIG``, else the nearest
pyproject.toml with a ``[tool.pipeline]`` table at or above the working directory.
``$PIPELINE_STATE_DIR`` overrides ``state_dir``. Relative paths are relative to the file.
"""

import os
import tomllib
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

from gates.outcome import ConfigError

STATE_DIR_ENV = "PIPELINE_STATE_DIR"
CONFIG_ENV = "PIPELINE_CONFIG"
TABLE = "tool.pipeline"


class ListOf:
    """A schema kind: a list whose items all pass ``valid``; empty only if ``may_be_empty``."""

    def __init__(self, what, valid, may_be_empty):
        self.what, self.valid, self.may_be_empty = what, valid, may_be_empty

    def accepts(self, value):
        return (
            isinstance(value, list)
            and (self.may_be_empty or bool(value))
            and all(self.valid(v) for v in value)
        )


def _name(value):
    return isinstance(value, str) and bool(value)


PATHS = ListOf("non-empty list of strings", _name, may_be_empty=False)
NAMES = ListOf("list of names", _name, may_be_empty=True)
# Each table is validated by its own reader (see _waiver).
TABLES = ListOf("list of tables", lambda value: True, may_be_empty=True)

# key -> (type or ListOf, default); a default of None means the key is required.
ROOT_SCHEMA = {
    "state_dir": (str, ".pipeline"),
    "service": (str, None),
    "service_dir": (str, None),
}
LINT_SCHEMA = {
    "paths": (PATHS, ["."]),
    "workflows": (str, ".github/workflows"),
}
TEST_SCHEMA = {
    # suite (a gates stage: test, e2e) -> its pytest arguments; coverage is decided over all
    "suites": (dict, {"test": []}),
    "coverage_xml": (str, "reports/coverage.xml"),
}
SUITES = ("test", "e2e")
SECURITY_SCHEMA = {
    "bandit_paths": (PATHS, ["."]),
    "bandit_fail_severity": (str, "HIGH"),
    "bandit_fail_confidence": (str, "MEDIUM"),
    "safety_fail_severity": (str, "ANY"),
    "offline_db": (str, ""),
    "scanner_timeout": (int, 600),
    "waivers": (TABLES, []),
}
BUILD_SCHEMA = {
    "container_engine": (str, "auto"),
    "timeout": (int, 900),
}
DEPLOY_SCHEMA = {
    "preflight_timeout": (int, 30),
    "cutover_timeout": (int, 60),
    "lock_timeout": (int, 120),
}
ENVIRONMENT_SCHEMA = {
    "port": (int, None),
    "workers": (int, 2),
    "env": (dict, {}),
    "promote_from": (str, ""),
    "required_gates": (NAMES, []),
}
SLO_SCHEMA = {
    "objectives": (str, "slo/objectives.yaml"),
    "window": (str, "30s"),
    "min_requests": (int, 300),
    "probe_rate": (int, 50),
    "probe_max_seconds": (int, 30),
}
PERF_SCHEMA = {
    "rate": (int, 50),
    "duration": (int, 10),
    "paths": (dict, {"/api/data": 4, "/health": 1}),
    "p95_ms": (int, 200),
    "max_error_rate": (float, 0.001),
    "max_late_ratio": (float, 0.01),
    "regression_alpha": (float, 0.01),
    "regression_min_ratio": (float, 0.2),
    "regression_min_ms": (float, 5.0),
}
SECTIONS = {
    "perf": PERF_SCHEMA,
    "slo": SLO_SCHEMA,
    "lint": LINT_SCHEMA,
    "test": TEST_SCHEMA,
    "security": SECURITY_SCHEMA,
    "build": BUILD_SCHEMA,
    "deploy": DEPLOY_SCHEMA,
}
SPECIAL_SECTIONS = ("environments",)
ENGINES = ("AUTO", "DOCKER", "PODMAN", "NONE")
LEVELS = ("LOW", "MEDIUM", "HIGH")
VULN_LEVELS = ("ANY", "LOW", "MEDIUM", "HIGH", "CRITICAL")
WAIVER_KEYS = {
    "bandit": ("id", "path", "reason", "expires"),
    "safety": ("id", "package", "reason", "expires"),
}


@dataclass(frozen=True)
class LintConfig:
    paths: tuple
    workflows: Path


@dataclass(frozen=True)
class PytestConfig:
    suites: dict  # suite name -> tuple of pytest arguments
    reports_dir: Path
    coverage_dir: Path  # one subdirectory of coverage data per suite
    coverage_xml: Path
    coverage_fail_under: float

    def suite_args(self, suite):
        if suite not in self.suites:
            raise ConfigError(
                f"no {suite!r} suite in [{TABLE}.test] suites (configured: "
                f"{', '.join(self.suites)}); add e.g. {suite} = [\"tests/{suite}\"]"
            )
        return self.suites[suite]

    def junit_xml(self, suite):
        return self.reports_dir / f"junit-{suite}.xml"

    def coverage_data(self, suite):
        return self.coverage_dir / suite


@dataclass(frozen=True)
class Waiver:
    """Accepts one finding until ``expires``: bandit test id + path, or vulnerability + package."""

    scanner: str
    id: str
    target: str  # a path (glob) for bandit, a package name for safety
    reason: str
    expires: date


@dataclass(frozen=True)
class SecurityConfig:
    bandit_paths: tuple
    bandit_fail_severity: str
    bandit_fail_confidence: str
    safety_fail_severity: str
    offline_db: str
    scanner_timeout: int
    waivers: tuple


@dataclass(frozen=True)
class BuildConfig:
    container_engine: str  # auto, docker, podman or none
    timeout: int


@dataclass(frozen=True)
class DeployConfig:
    preflight_timeout: int
    cutover_timeout: int
    lock_timeout: int


@dataclass(frozen=True)
class PerfConfig:
    rate: int  # requests/s, open loop
    duration: int  # seconds
    paths: dict  # path -> weight in the mix
    p95_ms: int
    max_error_rate: float
    max_late_ratio: float  # share of requests the generator may send late before "invalid"
    regression_alpha: float  # Mann-Whitney U significance
    regression_min_ratio: float  # and the p50 must be this much slower (0.2 = 20 %)...
    regression_min_ms: float  # ...and this many ms slower, or it is noise


@dataclass(frozen=True)
class SloConfig:
    objectives: Path
    window: str  # default evaluation window, e.g. "30s" or "15min"
    min_requests: int  # fewer than this in the window: probe, then exit 3 if still short
    probe_rate: int  # synthetic requests/s when traffic is too low
    probe_max_seconds: int


@dataclass(frozen=True)
class EnvironmentConfig:
    """One local environment: a gunicorn server on 127.0.0.1:port."""

    name: str
    port: int
    workers: int
    env: dict  # service environment variables, deployed and recorded with each release
    promote_from: str  # the environment a release must have passed first, or ""
    required_gates: tuple  # gates it must have passed there


@dataclass(frozen=True)
class PipelineConfig:
    path: Path
    root: Path
    state_dir: Path
    service: str
    service_dir: Path
    lint: LintConfig
    test: PytestConfig
    security: SecurityConfig
    build: BuildConfig
    deploy: DeployConfig
    environments: dict
    slo: SloConfig
    perf: PerfConfig

    def environment(self, name):
        if name not in self.environments:
            known = ", ".join(self.environments) or "none configured"
            raise ConfigError(f"unknown environment {name!r} (known: {known})")
        return self.environments[name]

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
        if isinstance(kind, ListOf):
            if not kind.accepts(value):
                raise ConfigError(f"{where}: {key} must be a {kind.what}, got {value!r}")
            values[key] = value
            continue
        if kind is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if not isinstance(value, kind) or (kind is str and not value.strip()):
            raise ConfigError(f"{where}: {key} must be a non-empty {kind.__name__}, got {value!r}")
        if kind is int and (isinstance(value, bool) or value < 1):
            raise ConfigError(f"{where}: {key} must be a whole number >= 1, got {value!r}")
        values[key] = value
    return values


def _choice(values, key, choices, where):
    value = values[key].upper()
    if value not in choices:
        raise ConfigError(
            f"{where}: {key} must be one of {', '.join(choices)}, got {values[key]!r}"
        )
    return value


def _waiver(entry, where):
    if not isinstance(entry, dict):
        raise ConfigError(f"{where}: each waiver must be a table, got {entry!r}")
    scanner = entry.get("scanner")
    if scanner not in WAIVER_KEYS:
        raise ConfigError(f"{where}: waiver scanner must be bandit or safety, got {scanner!r}")
    keys = WAIVER_KEYS[scanner]
    unknown = sorted(set(entry) - set(keys) - {"scanner"})
    missing = [k for k in keys if k not in entry]
    if unknown or missing:
        problem = f"unknown key {unknown[0]!r}" if unknown else f"missing key {missing[0]!r}"
        raise ConfigError(
            f"{where}: {scanner} waiver {entry.get('id', '?')!r}: {problem} "
            f"(a {scanner} waiver has {', '.join(keys)})"
        )
    for key in keys[:3]:
        if not isinstance(entry[key], str) or not entry[key].strip():
            raise ConfigError(
                f"{where}: waiver {key} must be a non-empty string, got {entry[key]!r}"
            )
    expires = entry["expires"]
    if isinstance(expires, str):
        try:
            expires = date.fromisoformat(expires)
        except ValueError:
            expires = None
    if isinstance(expires, datetime):
        expires = expires.date()
    if not isinstance(expires, date):
        raise ConfigError(
            f"{where}: waiver {entry['id']!r} expires must be a date like 2027-01-31, "
            f"got {entry['expires']!r}"
        )
    return Waiver(scanner, entry["id"].strip(), entry[keys[1]].strip(), entry["reason"], expires)


def _security(values, where):
    return SecurityConfig(
        bandit_paths=tuple(values["bandit_paths"]),
        bandit_fail_severity=_choice(values, "bandit_fail_severity", LEVELS, where),
        bandit_fail_confidence=_choice(values, "bandit_fail_confidence", LEVELS, where),
        safety_fail_severity=_choice(values, "safety_fail_severity", VULN_LEVELS, where),
        offline_db=values["offline_db"],
        scanner_timeout=values["scanner_timeout"],
        waivers=tuple(_waiver(entry, where) for entry in values["waivers"]),
    )


def _environments(table, where):
    if not isinstance(table, dict) or not table:
        raise ConfigError(f"{where}: define at least one [{TABLE}.environments.NAME] table")
    environments = {}
    for name, entry in table.items():
        here = f"{where}.{name}"
        values = _section(entry, here, ENVIRONMENT_SCHEMA)
        if not 1024 <= values["port"] <= 65535:
            raise ConfigError(f"{here}: port must be 1024-65535, got {values['port']}")
        env = values["env"]
        if not all(isinstance(k, str) and isinstance(v, str) for k, v in env.items()):
            raise ConfigError(f"{here}: env must map names to strings, got {env!r}")
        environments[name] = EnvironmentConfig(
            name,
            values["port"],
            values["workers"],
            dict(env),
            values["promote_from"],
            tuple(values["required_gates"]),
        )
    ports = [e.port for e in environments.values()]
    if len(set(ports)) != len(ports):
        raise ConfigError(f"{where}: two environments share a port ({sorted(ports)})")
    for env in environments.values():
        if env.promote_from and env.promote_from not in environments:
            raise ConfigError(
                f"{where}.{env.name}: promote_from {env.promote_from!r} is not an environment"
            )
    return environments


def _perf(values, where):
    paths = values["paths"]
    if not paths or not all(
        isinstance(p, str) and p.startswith("/") and isinstance(w, int) and w > 0
        for p, w in paths.items()
    ):
        raise ConfigError(f"{where}: paths must map URL paths to whole-number weights")
    for key in ("max_error_rate", "max_late_ratio", "regression_alpha"):
        if not 0 <= values[key] < 1:
            raise ConfigError(f"{where}: {key} must be between 0 and 1, got {values[key]}")
    return PerfConfig(**values)


def _suites(table, where):
    if not table or not all(
        name in SUITES and isinstance(args, list) and all(isinstance(a, str) for a in args)
        for name, args in table.items()
    ):
        raise ConfigError(
            f"{where}: suites must map suite names ({', '.join(SUITES)}) to lists of pytest "
            f"arguments, got {table!r}"
        )
    return {name: tuple(args) for name, args in table.items()}


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
    root_table = {k: v for k, v in table.items() if k not in (*SECTIONS, *SPECIAL_SECTIONS)}
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
        lint=LintConfig(
            paths=tuple(sections["lint"]["paths"]),
            workflows=root / sections["lint"]["workflows"],
        ),
        test=PytestConfig(
            suites=_suites(sections["test"]["suites"], f"{path} [{TABLE}.test]"),
            reports_dir=state_dir / "reports",
            coverage_dir=state_dir / "coverage",
            coverage_xml=state_dir / sections["test"]["coverage_xml"],
            coverage_fail_under=_coverage_fail_under(document, path),
        ),
        security=_security(sections["security"], f"{path} [{TABLE}.security]"),
        build=BuildConfig(
            container_engine=_choice(
                sections["build"], "container_engine", ENGINES, f"{path} [{TABLE}.build]"
            ).lower(),
            timeout=sections["build"]["timeout"],
        ),
        deploy=DeployConfig(**sections["deploy"]),
        environments=_environments(table.get("environments", {}), f"{path} [{TABLE}.environments"),
        slo=SloConfig(**{**sections["slo"], "objectives": root / sections["slo"]["objectives"]}),
        perf=_perf(sections["perf"], f"{path} [{TABLE}.perf]"),
    )
