"""The ``[tool.pipeline]`` tables as pydantic models: each key declared once, with its type,
default and rule; unknown keys refused; values frozen once loaded.

Validated with an :class:`Origin` as context, relative paths come out resolved: against the
config file's directory, and the test reports' against the state directory. A key whose rule
a validation error cannot say by itself (a bounded number, a list, a map, a pattern) declares
it with ``rule("must be ...")``, which errors quote.
"""

import importlib
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Annotated, Any, Literal, get_args

from pydantic import (
    AfterValidator,
    AnyHttpUrl,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PrivateAttr,
    StrictStr,
    StringConstraints,
    ValidationInfo,
    computed_field,
    field_validator,
    model_validator,
)

from gates import durations
from gates.config.rules import refuse_unknown_keys, rule
from gates.outcome import ConfigError

TABLE = "tool.pipeline"
# A name that is one path component everywhere it is used (directories, reports, services).
SIMPLE_NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,62}")
MAX_WORKERS = 64
# Bounds on every wait: a timeout bounds a hang, and an unbounded one is a hang of its own.
SHORT_WAIT = 600  # s: pre-flight, cutover, the SLO gate's synthetic probe
LONG_WAIT = 3600  # s: a build or scanner run, the deploy lock, a perf run
SLO_WINDOW = 6 * 3600  # s: a longer evaluation window outlives the CI job measuring it
ServiceCheck = Callable[[Mapping[str, str]], object]


@dataclass
class Origin:
    """The validation context: the config file, and where its relative paths start."""

    path: Path = Path("pyproject.toml")
    state_dir_override: str = ""  # $PIPELINE_STATE_DIR
    coverage_fail_under: float = 0.0  # from [tool.coverage.report]
    # Set when [tool.pipeline] state_dir and service_settings are validated; fields validate
    # in declaration order, so the tables declared after them find them here.
    state_dir: Path = Path(".")
    service_check: tuple[str, ServiceCheck] | None = None  # (module:function, the function)
    docker_host_override: str = ""  # $DOCKER_HOST: the engine, chosen the Docker way

    @staticmethod
    def of(context: object) -> "Origin":
        return context if isinstance(context, Origin) else Origin()


def _relative(value: object) -> str:
    """A path as written in the file (a string), or a declared default (a Path)."""
    if not isinstance(value, (str, Path)) or not str(value).strip():
        raise ValueError(f"must be a non-empty string, got {value!r}")
    return str(value)


def _from_root(value: object, info: ValidationInfo) -> Path:
    return Origin.of(info.context).path.parent / _relative(value)


def _maybe_from_root(value: object, info: ValidationInfo) -> Path | None:
    return None if value is None else _from_root(value, info)


def _under_state_dir(value: object, info: ValidationInfo) -> Path:
    return Origin.of(info.context).state_dir / _relative(value)


def _state_dir(value: object, info: ValidationInfo) -> Path:
    origin = Origin.of(info.context)
    origin.state_dir = _from_root(origin.state_dir_override or value, info)
    _can_be_a_directory(origin.state_dir, origin.state_dir_override != "")
    return origin.state_dir


def _can_be_a_directory(path: Path, overridden: bool) -> None:
    """Refuse a path that is, or lies below, something other than a directory."""
    named = f"(from $PIPELINE_STATE_DIR) {path}" if overridden else str(path)
    for candidate in (path, *path.parents):
        if candidate.is_dir():
            return
        if candidate.exists() or candidate.is_symlink():  # a file, or a broken symbolic link
            what = "a file" if candidate.exists() else "a broken symbolic link"
            below = "" if candidate == path else f" cannot be made: {candidate}"
            raise ValueError(
                f"{named}{below} is {what}, not a directory; name a directory, e.g. .pipeline"
            )


def _simple_name(name: str) -> str:
    if not SIMPLE_NAME.fullmatch(name):
        raise ValueError(
            "must be a simple name: lowercase letters, digits, - and _, starting with a letter "
            "or digit, at most 63 characters (e.g. staging)"
        )
    return name


def _service_check(reference: str, info: ValidationInfo) -> str:
    """Import the service's check of its environment variables, for the environments' ``env``."""
    module, _, function = reference.partition(":")
    try:
        check = getattr(importlib.import_module(module), function)
    except Exception as exc:  # not importable, no such function, or the module failed
        raise ValueError(
            f"cannot load {reference!r} ({type(exc).__name__}: {exc}); name a function of an "
            "installed module, e.g. techcorp_api.settings:check_environment"
        ) from None
    if not callable(check):
        raise ValueError(f"{reference!r} is not callable; name a function")
    Origin.of(info.context).service_check = (reference, check)
    return reference


def _duration(value: str) -> str:
    durations.parse(value)
    return value


def _slo_window(value: str) -> str:
    durations.parse(value, most=SLO_WINDOW)
    return value


def _has_pyproject(directory: Path) -> Path:
    if not (directory / "pyproject.toml").is_file():
        raise ValueError(f"{directory} has no pyproject.toml")
    return directory


def _upper(value: object) -> object:
    return value.upper() if isinstance(value, str) else value


def _lower(value: object) -> object:
    return value.lower() if isinstance(value, str) else value


def _date(value: object) -> object:
    """TOML dates arrive as dates; a datetime or an ISO string is accepted too, as a date."""
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, str):
        try:
            return date.fromisoformat(value)
        except ValueError:
            pass  # refused below as "not a date"
    return value


NonEmptyStr = Annotated[str, StringConstraints(strict=True, pattern=r"\S")]
Stripped = Annotated[NonEmptyStr, AfterValidator(str.strip)]
PositiveInt = Annotated[int, Field(strict=True, ge=1), rule("must be a whole number >= 1")]
ShortWait = Annotated[
    int, Field(strict=True, ge=1, le=SHORT_WAIT), rule(f"must be a whole number 1-{SHORT_WAIT}")
]
LongWait = Annotated[
    int, Field(strict=True, ge=1, le=LONG_WAIT), rule(f"must be a whole number 1-{LONG_WAIT}")
]
SloWindow = Annotated[str, StringConstraints(strict=True), AfterValidator(_slo_window)]
Duration = Annotated[str, StringConstraints(strict=True), AfterValidator(_duration)]
EnvironmentName = Annotated[str, StringConstraints(strict=True), AfterValidator(_simple_name)]
ServiceSettings = Annotated[
    str,
    StringConstraints(strict=True, pattern=r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$"),
    AfterValidator(_service_check),
    rule("must name a callable as module:function, e.g. techcorp_api.settings:check_environment"),
]
# A pace of the swarm rollout or of an environment's Prometheus, in seconds (fractions allowed:
# Docker and Prometheus take "1.5s"); at least half a second, at most SHORT_WAIT.
SwarmSeconds = Annotated[
    float, Field(strict=True, ge=0.5, le=SHORT_WAIT), rule(f"must be a number 0.5-{SHORT_WAIT}")
]
NonNegative = Annotated[float, Field(strict=True, ge=0), rule("must be a number >= 0")]
Ratio = Annotated[float, Field(strict=True, ge=0, lt=1), rule("must be a number >= 0 and < 1")]
UrlPath = Annotated[str, StringConstraints(strict=True, pattern=r"^/")]
FromRoot = Annotated[Path, BeforeValidator(_from_root), Field(validate_default=True)]
MaybeFromRoot = Annotated[Path | None, BeforeValidator(_maybe_from_root)]
UnderStateDir = Annotated[Path, BeforeValidator(_under_state_dir), Field(validate_default=True)]
StateDir = Annotated[Path, BeforeValidator(_state_dir), Field(validate_default=True)]
Level = Annotated[Literal["LOW", "MEDIUM", "HIGH"], BeforeValidator(_upper)]
VulnLevel = Annotated[Literal["ANY", "LOW", "MEDIUM", "HIGH", "CRITICAL"], BeforeValidator(_upper)]
AdvisorySource = Literal["safety", "pip-audit", "osv"]
HttpUrl = Annotated[
    str,
    StringConstraints(strict=True, pattern=r"^https?://[^\s/]+(/\S*)?$"),
    rule("must be an http(s) URL"),
]
OptionalHttpUrl = Annotated[
    str,
    StringConstraints(strict=True, pattern=r"^$|^https?://[^\s/]+(/\S*)?$"),
    rule("must be empty or an http(s) URL"),
]
Engine = Annotated[Literal["auto", "docker", "podman", "none"], BeforeValidator(_lower)]
Expiry = Annotated[
    date, Field(strict=True), BeforeValidator(_date), rule("must be a date like 2027-01-31")
]
Suite = Literal["test", "e2e"]
PATHS = "must be a non-empty list of strings"


class Table(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    @model_validator(mode="before")
    @classmethod
    def _known_keys_only(cls, data: object) -> object:
        return refuse_unknown_keys(cls, data)


class LintConfig(Table):
    paths: Annotated[tuple[NonEmptyStr, ...], Field(min_length=1), rule(PATHS)] = (".",)
    workflows: FromRoot = Path(".github/workflows")
    # The workflow that runs this pipeline on GitHub: the lint gate holds it to
    # gates/checks/workflow_policy.py (only the pipeline's nox sessions, in order). Unset: no
    # such check.
    pipeline_workflow: MaybeFromRoot = None


class PytestConfig(Table):
    """Each suite (a gates stage) and its pytest arguments; coverage is decided over all."""

    suites: Annotated[
        dict[Suite, tuple[StrictStr, ...]],
        Field(min_length=1),
        rule(f"must map suite names ({', '.join(get_args(Suite))}) to lists of pytest arguments"),
    ] = {"test": ()}
    coverage_xml: UnderStateDir = Path("reports/coverage.xml")
    _state_dir: Path = PrivateAttr()
    _fail_under: float = PrivateAttr()

    def model_post_init(self, context: Any, /) -> None:
        origin = Origin.of(context)
        self._state_dir, self._fail_under = origin.state_dir, origin.coverage_fail_under

    @computed_field  # type: ignore[prop-decorator]  # mypy cannot type decorated properties
    @property
    def coverage_fail_under(self) -> float:
        """[tool.coverage.report] fail_under: the threshold, decided once over every suite."""
        return self._fail_under

    @property
    def reports_dir(self) -> Path:
        return self._state_dir / "reports"

    @property
    def coverage_dir(self) -> Path:
        """One subdirectory of coverage data per suite."""
        return self._state_dir / "coverage"

    def suite_args(self, suite: str) -> tuple[str, ...]:
        for name, arguments in self.suites.items():
            if name == suite:
                return arguments
        raise ConfigError(
            f"no {suite!r} suite in [{TABLE}.test] suites (configured: "
            f"{', '.join(self.suites)}); add e.g. {suite} = [\"tests/{suite}\"]"
        )

    def junit_xml(self, suite: str) -> Path:
        return self.reports_dir / f"junit-{suite}.xml"

    def coverage_data(self, suite: str) -> Path:
        return self.coverage_dir / suite


class _Waiver(Table):
    """Accepts one finding until ``expires``."""

    scanner: str
    id: Stripped
    reason: NonEmptyStr
    expires: Expiry


class _PathWaiver(_Waiver):
    """Accepts a finding in the files matching ``path`` (a glob)."""

    path: Stripped

    @property
    def target(self) -> str:
        return self.path


class BanditWaiver(_PathWaiver):
    """Accepts a bandit test id in the files matching ``path``."""

    model_config = ConfigDict(title="bandit waiver")
    scanner: Literal["bandit"]


class VulnerabilityWaiver(_Waiver):
    """Accepts a vulnerability in ``package`` by any of its ids (CVE, GHSA, PYSEC, pyup),
    whichever advisory source reports it; ``scanner`` may name one, it waives for all."""

    model_config = ConfigDict(title="vulnerability waiver")
    scanner: Literal["dependencies", "safety", "pip-audit", "osv"]
    package: Stripped

    @property
    def target(self) -> str:
        return self.package


class SecretWaiver(_PathWaiver):
    """Accepts a detect-secrets type or hashed secret in the files matching ``path``."""

    model_config = ConfigDict(title="detect-secrets waiver")
    scanner: Literal["detect-secrets"]


Waiver = Annotated[
    BanditWaiver | VulnerabilityWaiver | SecretWaiver, Field(discriminator="scanner")
]


class SecurityConfig(Table):
    bandit_paths: Annotated[tuple[NonEmptyStr, ...], Field(min_length=1), rule(PATHS)] = (".",)
    bandit_fail_severity: Level = "HIGH"
    bandit_fail_confidence: Level = "MEDIUM"
    dependency_fail_severity: VulnLevel = "ANY"
    # The advisory sources every dependency audit asks; "osv" needs osv_dir (or the env var).
    advisory_sources: Annotated[
        tuple[AdvisorySource, ...],
        Field(min_length=1),
        rule('must be a non-empty list of "safety", "pip-audit", "osv"'),
    ] = ("safety", "pip-audit")
    # Advisory data older than this many days cannot vouch for the pins (exit 3 under CI).
    max_advisory_age: Annotated[
        int, Field(strict=True, ge=1, le=3650), rule("must be a whole number 1-3650")
    ] = 30
    safety_db_url: HttpUrl = "https://pyup.io/aws/safety/free/"
    offline_db: NonEmptyStr = ""
    pip_audit_service: Literal["osv", "pypi"] = "osv"
    # An OSV-API-compatible mirror for pip-audit ("" = api.osv.dev).
    osv_api_url: OptionalHttpUrl = ""
    # An OSV directory in the PyPA advisory database's layout; $PIPELINE_OSV_DIR overrides.
    osv_dir: str = ""
    scanner_timeout: LongWait = 600
    secrets_baseline: Annotated[
        FromRoot,
        Field(
            description="must be the detect-secrets baseline of reviewed false positives, "
            "relative to the project root"
        ),
    ] = Path(".secrets.baseline")
    waivers: Annotated[
        tuple[Waiver, ...],
        rule(f"must be a list of tables: [[{TABLE}.security.waivers]]"),
    ] = ()


class BuildConfig(Table):
    container_engine: Engine = "auto"
    timeout: LongWait = 900
    # the service image's `ARG BASE`: any image with python3 (3.11) and venv
    base_image: NonEmptyStr = "python:3.11-slim"


def _docker_host(value: object, info: ValidationInfo) -> object:
    """$DOCKER_HOST wins over the file, as it does for every Docker client."""
    return Origin.of(info.context).docker_host_override or value


def _short_socket(value: str) -> str:
    socket = value.removeprefix("unix://")
    if value.startswith("unix://") and len(socket.encode()) > SOCKET_PATH_MAX:
        raise ValueError(
            f"must be a unix socket path of at most {SOCKET_PATH_MAX} bytes (the kernel's "
            f"limit), got {len(socket.encode())}: {socket}"
        )
    return value


def _absolute(value: object) -> object:
    if isinstance(value, str) and not value.startswith("/"):
        raise ValueError(f"must be an absolute path, got {value!r}")
    return value


SOCKET_PATH_MAX = 107  # sun_path holds 108 bytes, the last one a NUL
DockerHost = Annotated[
    str,
    StringConstraints(strict=True, pattern=r"^$|^(unix|tcp|ssh|fd|npipe)://\S+$"),
    AfterValidator(_short_socket),
    Field(validate_default=True),
    rule("must be empty or a Docker host URL: unix:///PATH, tcp://HOST:PORT or ssh://USER@HOST"),
    BeforeValidator(_docker_host),  # outside the rule: a refused $DOCKER_HOST is what it quotes
]
Registry = Annotated[
    str,
    StringConstraints(strict=True, pattern=r"^$|^[A-Za-z0-9.-]+(:[0-9]+)?(/[a-z0-9._-]+)*$"),
    rule("must be empty or HOST[:PORT][/NAMESPACE], e.g. 127.0.0.1:15000"),
]
AbsolutePath = Annotated[Path, BeforeValidator(_absolute)]


class EngineConfig(Table):
    """The container engine: where stages reach it, the registry images go to, and the engine
    `gates engine up` runs on this machine when nothing answers at ``docker_host``."""

    # "" = Docker's own choice ($DOCKER_HOST, the current context, its default socket)
    docker_host: DockerHost = ""
    registry: Registry = ""  # images are pushed here and deployed by digest; "" = not pushed
    data_root: AbsolutePath = Path("/var/lib/gates-docker")  # a dockerd that `up` starts
    registry_data: AbsolutePath = Path("/var/lib/gates-registry")  # a registry `up` starts
    base_image: NonEmptyStr = "gates-base:bookworm"  # Debian, made by debootstrap
    edge_image: NonEmptyStr = "gates-haproxy:2.6"  # HAProxy from Debian, FROM base_image
    # Prometheus from Debian, FROM base_image: a swarm environment's own (prometheus_port)
    prometheus_image: NonEmptyStr = "gates-prometheus:2.42"
    mirror: Annotated[str, StringConstraints(strict=True, pattern=r"^https?://\S+$")] = (
        "http://deb.debian.org/debian"
    )
    suite: Annotated[str, StringConstraints(strict=True, pattern=r"^[a-z]+$")] = "bookworm"


class DeployConfig(Table):
    preflight_timeout: ShortWait = 30
    cutover_timeout: ShortWait = 60
    lock_timeout: LongWait = 120
    # local target: how long the new deployment must serve through the port (every worker
    # answering, at least 20 answers) before the ledger says succeeded
    verify_seconds: Annotated[
        float,
        Field(strict=True, gt=0, le=SHORT_WAIT),
        rule(f"must be a number > 0 and <= {SHORT_WAIT}"),
    ] = 2.0


# A DNS label, with room for the suffixes of the environment's other objects (-edge, -net).
StackName = Annotated[
    str, StringConstraints(strict=True, pattern=r"^[a-z0-9]([a-z0-9-]{0,46}[a-z0-9])?$")
]


PrometheusLabel = Annotated[
    str, StringConstraints(strict=True, pattern=r"^[a-zA-Z_][a-zA-Z0-9_]*$")
]


class EnvironmentConfig(Table):
    """One environment: a gunicorn server on 127.0.0.1:port (target "local"), or a Docker
    Swarm service behind an edge proxy published at ``url`` (target "swarm")."""

    port: Annotated[
        int, Field(strict=True, ge=1024, le=65535), rule("must be a whole number 1024-65535")
    ]
    target: Literal["local", "swarm"] = "local"  # where it lives (gates.targets)
    # Where its service answers; "" means http://127.0.0.1:<port>. For swarm, the edge is
    # published on this URL's host (an IP address; a name publishes on every interface) and port.
    url: Annotated[str, Field(strict=True)] = ""
    replicas: PositiveInt = 2  # swarm: tasks of the service
    stack: Annotated[  # swarm: its objects' names in the engine; "" = <service>-<name>
        StackName | Literal[""],
        rule("must be lower-case letters, digits and '-' (a DNS label of <= 48)"),
    ] = ""
    workers: Annotated[
        int,
        Field(strict=True, ge=1, le=MAX_WORKERS),
        rule(f"must be a whole number 1-{MAX_WORKERS}"),
    ] = 2
    # the service's environment variables, deployed and recorded with each release; checked by
    # the service's own rules when [tool.pipeline] service_settings names them
    env: Annotated[dict[StrictStr, StrictStr], rule("must map names to strings")] = {}
    promote_from: NonEmptyStr = ""  # the environment a release must have passed first
    required_gates: Annotated[
        tuple[NonEmptyStr, ...], rule("must be a list of names")
    ] = ()  # the gates it must have passed there
    # swarm: run the environment's own Prometheus, published on 127.0.0.1:<this port>
    # (gates.targets.swarm.prometheus); then prometheus_url defaults to it. 0 = none.
    prometheus_port: Annotated[
        int, Field(strict=True, ge=0, le=65535), rule("must be a whole number 0-65535")
    ] = 0
    # The SLO gate's Prometheus for this environment ("": scrape mode; --prometheus-url
    # overrides), and the labels that pick this environment's series there, e.g.
    # { job = "techcorp-production" } (added to every SLI selector and to its up checks).
    prometheus_url: Annotated[str, Field(strict=True, validate_default=True)] = ""
    prometheus_labels: Annotated[
        dict[PrometheusLabel, StrictStr],
        rule("must map Prometheus label names to values"),
    ] = {}
    # swarm: the rollout's pace (gates.targets.swarm.service). How long Swarm keeps watching
    # an update (and a rollback) for a failing task after its last task is running, before it
    # calls it complete; and how long a starting task's failed health checks do not count.
    # Shorter ones are for rehearsals on a test engine (the e2e suite); a release whose tasks
    # fail later, or start slower, than these is then not caught or not given the time.
    update_monitor: SwarmSeconds = 5.0
    health_start_period: SwarmSeconds = 15.0
    # swarm with prometheus_port: how often its Prometheus scrapes the tasks, evaluates the
    # rules and re-resolves the tasks by DNS (the same pace: gates.targets.swarm.prometheus).
    prometheus_interval: SwarmSeconds = 2.0
    _name: str = PrivateAttr(default="")

    @field_validator("prometheus_port")
    @classmethod
    def _own_prometheus(cls, port: int, info: ValidationInfo) -> int:
        if port and info.data.get("target") != "swarm":
            raise ValueError(
                "runs a Prometheus beside a swarm environment only; for a local one, run your "
                'own and set prometheus_url (or set target = "swarm")'
            )
        return port

    @field_validator("update_monitor", "health_start_period", "prometheus_interval")
    @classmethod
    def _swarm_only(cls, seconds: float, info: ValidationInfo) -> float:
        if info.data.get("target") != "swarm":
            raise ValueError(
                'paces a swarm environment only (target = "swarm"); a local one has no rollout '
                "or Prometheus of its own: remove it"
            )
        return seconds

    @field_validator("prometheus_url")
    @classmethod
    def _prometheus_url(cls, url: str, info: ValidationInfo) -> str:
        own = info.data.get("prometheus_port")
        if own and not url:
            return f"http://127.0.0.1:{own}"
        if url and not re.fullmatch(r"https?://[^/?#\s]+/?", url):
            raise ValueError(
                f"must be http(s)://host:port, e.g. http://127.0.0.1:9090, got {url!r}"
            )
        return url.rstrip("/")

    @field_validator("env")
    @classmethod
    def _service_accepts(cls, env: dict[str, str], info: ValidationInfo) -> dict[str, str]:
        service_check = Origin.of(info.context).service_check
        if service_check is None:
            return env
        reference, check = service_check
        try:
            check(env)
        except Exception as exc:  # ValueError by contract; anything else is the check's bug
            what = str(exc) if isinstance(exc, ValueError) else f"could not be checked: {exc!r}"
            raise ValueError(f"{what} (the service's rule: {reference})") from None
        return env

    @property
    def name(self) -> str:
        return self._name

    @field_validator("url")
    @classmethod
    def _url_fits_the_target(cls, url: str, info: ValidationInfo) -> str:
        if not url:
            return url
        try:
            parsed = AnyHttpUrl(url)
        except ValueError:
            parsed = None
        if parsed is None or parsed.path not in (None, "", "/") or parsed.query or parsed.fragment:
            raise ValueError(
                f"must be http(s)://host[:port], e.g. http://127.0.0.1:18080, got {url!r}"
            )
        port = info.data.get("port")
        if info.data.get("target") == "local" and url.rstrip("/") != f"http://127.0.0.1:{port}":
            raise ValueError(
                f"is for swarm environments; a local one serves on http://127.0.0.1:{port} "
                '(set target = "swarm", or remove url)'
            )
        return url

    @property
    def local_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def base_url(self) -> str:
        """Where the environment's service answers, without a trailing slash."""
        return self.url.rstrip("/") if self.url else self.local_url


class SloConfig(Table):
    objectives: FromRoot = Path("slo/objectives.yaml")
    # The runbook every generated burn-rate alert links to (gates.slo.rules): set it to where
    # your team reads this repository's docs, e.g. https://github.com/<org>/<repo>/blob/main/...
    runbook_url: NonEmptyStr = "docs/verification.md#slo-burn-rate-alerts-runbook"
    window: SloWindow = "30s"  # default evaluation window, e.g. "30s" or "15min"
    # A floor: never decide on fewer requests, whatever the confidence bounds allow (the
    # bounds set the real need: 99.9 % takes 2,995 requests without an error).
    min_requests: PositiveInt = 300
    # The synthetic probe, sized from the requests still needed, within these bounds:
    # 99.9 % at 50 requests/s takes 60 s; 120 s also covers a window with one error (4,742).
    probe_rate: Annotated[
        int, Field(strict=True, ge=1, le=1000), rule("must be a whole number 1-1000")
    ] = 50  # requests/s
    probe_max_seconds: ShortWait = 120


class PerfConfig(Table):
    rate: PositiveInt = 50  # requests/s, open loop
    duration: LongWait = 10  # seconds
    paths: Annotated[
        dict[UrlPath, PositiveInt],
        Field(min_length=1),
        rule("must map URL paths to whole-number weights"),
    ] = {"/api/data": 4, "/health": 1}
    p95_ms: PositiveInt = 200
    max_error_rate: Ratio = 0.001
    max_late_ratio: Ratio = 0.01  # share the generator may send late before "invalid"
    regression_alpha: Ratio = 0.01  # significance of each comparison (gates.perf.regression)
    regression_min_ratio: NonNegative = 0.5  # p50 this much slower than the baseline's...
    regression_tail_ratio: NonNegative = 1.5  # ...or p95 this much slower (1.5 = 150 %)...
    regression_min_ms: NonNegative = 0.5  # ...and this many ms slower, or it is noise
    regression_baseline_runs: PositiveInt = 3  # earlier deployments whose median is the baseline
    regression_busier_lag_ratio: NonNegative = 2.0  # generator lag p95 x this: machine busier


class DoraConfig(Table):
    window: Duration = "30d"  # what `gates dora` looks back over, e.g. "7d" or "12h"
    min_success_rate: Ratio = 0.999  # deployment success rate at least this (the exercise's)
    max_change_failure_rate: Ratio = 0.15  # at most this (the elite band's limit)
    max_time_to_restore: Duration = "1h"  # median time to restore at most this (elite band)


class CoverageReport(BaseModel):
    """The one key of coverage.py's [tool.coverage.report] that the pipeline reads."""

    model_config = ConfigDict(extra="ignore", frozen=True)
    fail_under: Annotated[float, Field(strict=True, ge=0, le=100), rule("must be a number 0-100")]


class PipelineConfig(Table):
    """The pipeline's configuration: the [tool.pipeline] table of pyproject.toml."""

    state_dir: StateDir = Path(".pipeline")  # first: the tables below live under it
    service: NonEmptyStr
    service_dir: Annotated[FromRoot, AfterValidator(_has_pyproject)]
    # before the environments: their env is checked with it
    service_settings: ServiceSettings = ""
    lint: LintConfig = Field(default_factory=dict, validate_default=True)
    test: PytestConfig = Field(default_factory=dict, validate_default=True)
    security: SecurityConfig = Field(default_factory=dict, validate_default=True)
    build: BuildConfig = Field(default_factory=dict, validate_default=True)
    engine: EngineConfig = Field(default_factory=dict, validate_default=True)
    deploy: DeployConfig = Field(default_factory=dict, validate_default=True)
    environments: Annotated[
        dict[EnvironmentName, EnvironmentConfig],
        rule(f"must define at least one [{TABLE}.environments.NAME] table"),
    ] = Field(
        default_factory=dict,
        validate_default=True,
        min_length=1,
        json_schema_extra={"propertyNames": {"pattern": f"^{SIMPLE_NAME.pattern}$"}},
    )
    slo: SloConfig = Field(default_factory=dict, validate_default=True)
    perf: PerfConfig = Field(default_factory=dict, validate_default=True)
    dora: DoraConfig = Field(default_factory=dict, validate_default=True)
    _path: Path = PrivateAttr()

    def model_post_init(self, context: Any, /) -> None:
        self._path = Origin.of(context).path

    @field_validator("environments")
    @classmethod
    def _named_on_distinct_ports(
        cls, environments: dict[str, EnvironmentConfig]
    ) -> dict[str, EnvironmentConfig]:
        for name, environment in environments.items():
            environment._name = name
        ports = sorted(e.port for e in environments.values())
        if len(set(ports)) != len(ports):
            raise ValueError(f"must each have their own port, got {ports}")
        for environment in environments.values():
            if environment.promote_from and environment.promote_from not in environments:
                raise ValueError(
                    f"must promote from a configured one: {environment.name} has promote_from "
                    f"{environment.promote_from!r} (configured: {', '.join(environments)})"
                )
        return environments

    @property
    def path(self) -> Path:
        """The config file."""
        return self._path

    @property
    def root(self) -> Path:
        return self._path.parent

    @property
    def reports_dir(self) -> Path:
        return self.state_dir / "reports"

    def environment(self, name: str) -> EnvironmentConfig:
        if name not in self.environments:
            known = ", ".join(self.environments) or "none configured"
            raise ConfigError(f"unknown environment {name!r} (known: {known})")
        return self.environments[name]


def json_schema() -> dict[str, Any]:
    """JSON Schema of the [tool.pipeline] table, for editors (taplo, Even Better TOML)."""
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        **PipelineConfig.model_json_schema(),
    }


def as_json(config: PipelineConfig) -> str:
    """The validated configuration as indented JSON: paths resolved, the file it came from first."""
    return json.dumps({"path": str(config.path), **config.model_dump(mode="json")}, indent=2)
