"""The ``[tool.pipeline]`` tables as pydantic models: each key declared once, with its type,
default and rule; unknown keys refused; values frozen once loaded.

Validated with an :class:`Origin` as context, relative paths come out resolved: against the
config file's directory, and the test reports' against the state directory. A key whose rule
a validation error cannot say by itself (a bounded number, a list, a map, a pattern) declares
it with ``rule("must be ...")``, which errors quote.
"""

import importlib
import ipaddress
import json
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Annotated, Any, Literal, get_args
from urllib.parse import urlsplit

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
    ValidationError,
    ValidationInfo,
    ValidatorFunctionWrapHandler,
    WrapValidator,
    computed_field,
    field_validator,
    model_validator,
)

from gates import durations
from gates.config.rules import refuse_unknown_keys, refused_key, rule
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


def _named_engine(value: object) -> object:
    if value == "auto":
        raise ValueError(
            'must name the engine: docker, podman or none; "auto" is refused (it guessed, and '
            "took podman where docker was meant)"
        )
    return value


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
# Seconds (fractions allowed) that bound a wait or a verdict.
Seconds = Annotated[
    float,
    Field(strict=True, gt=0, le=SHORT_WAIT),
    rule(f"must be a number > 0 and <= {SHORT_WAIT}"),
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
Engine = Annotated[
    Literal["docker", "podman", "none"], BeforeValidator(_named_engine), BeforeValidator(_lower)
]
Expiry = Annotated[
    date, Field(strict=True), BeforeValidator(_date), rule("must be a date like 2027-01-31")
]
Suite = Literal["test", "e2e", "faults"]
PATHS = "must be a non-empty list of strings"


class Table(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    @model_validator(mode="before")
    @classmethod
    def _known_keys_only(cls, data: object) -> object:
        return refuse_unknown_keys(cls, data)


class LintConfig(Table):
    """What the lint gate checks: the code (black, flake8, mypy) and the workflows."""

    paths: Annotated[tuple[NonEmptyStr, ...], Field(min_length=1), rule(PATHS)] = Field(
        (".",), description="What black, flake8 and mypy check, relative to the project root."
    )
    workflows: FromRoot = Field(
        Path(".github/workflows"), description="The workflows zizmor and actionlint check."
    )
    pipeline_workflow: MaybeFromRoot = Field(
        None,
        description="The workflow that runs this pipeline on GitHub, held to the workflow policy "
        "(only the pipeline's nox sessions, in order); unset: no such check.",
    )


class PytestConfig(Table):
    """Each suite (a gates stage) and its pytest arguments; coverage is decided over all."""

    suites: Annotated[
        dict[Suite, tuple[StrictStr, ...]],
        Field(min_length=1),
        rule(f"must map suite names ({', '.join(get_args(Suite))}) to lists of pytest arguments"),
    ] = Field(
        {"test": ()},
        description="Each suite (a gates stage: test, e2e, faults) and its pytest arguments; "
        "coverage is decided once over all of them.",
    )
    coverage_xml: UnderStateDir = Field(
        Path("reports/coverage.xml"),
        description="The combined coverage XML report, under state_dir.",
    )
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

    scanner: str = Field(description="The scanner whose finding is waived.")
    id: Stripped = Field(
        description="The finding's id: a bandit test id, a vulnerability id (CVE, GHSA, PYSEC, "
        "pyup) or a detect-secrets type or hashed secret."
    )
    reason: NonEmptyStr = Field(description="Why the finding is accepted.")
    expires: Expiry = Field(description="The day the waiver stops applying, e.g. 2027-01-31.")


class _PathWaiver(_Waiver):
    """Accepts a finding in the files matching ``path`` (a glob)."""

    path: Stripped = Field(description="The files the finding is accepted in (a glob).")

    @property
    def target(self) -> str:
        return self.path


class BanditWaiver(_PathWaiver):
    """Accepts a bandit test id in the files matching ``path``."""

    model_config = ConfigDict(title="bandit waiver")
    scanner: Literal["bandit"] = Field(description="A bandit finding.")


class VulnerabilityWaiver(_Waiver):
    """Accepts a vulnerability in ``package`` by any of its ids (CVE, GHSA, PYSEC, pyup),
    whichever advisory source reports it; ``scanner`` may name one, it waives for all."""

    model_config = ConfigDict(title="vulnerability waiver")
    scanner: Literal["dependencies", "safety", "pip-audit", "osv"] = Field(
        description="Any advisory source: the waiver applies to all of them."
    )
    package: Stripped = Field(description="The package the vulnerability is in.")

    @property
    def target(self) -> str:
        return self.package


class SecretWaiver(_PathWaiver):
    """Accepts a detect-secrets type or hashed secret in the files matching ``path``."""

    model_config = ConfigDict(title="detect-secrets waiver")
    scanner: Literal["detect-secrets"] = Field(description="A detect-secrets finding.")


Waiver = Annotated[
    BanditWaiver | VulnerabilityWaiver | SecretWaiver, Field(discriminator="scanner")
]


class SecurityConfig(Table):
    """The security gate's scanners, their thresholds, the advisory data and the waivers."""

    bandit_paths: Annotated[tuple[NonEmptyStr, ...], Field(min_length=1), rule(PATHS)] = Field(
        (".",), description="What bandit scans, relative to the project root."
    )
    bandit_fail_severity: Level = Field(
        "HIGH", description="The bandit severity from which a finding fails the gate."
    )
    bandit_fail_confidence: Level = Field(
        "MEDIUM", description="The bandit confidence from which a finding fails the gate."
    )
    dependency_fail_severity: VulnLevel = Field(
        "ANY",
        description="The vulnerability severity from which a finding in a pinned dependency fails "
        "the gate (ANY: every one).",
    )
    advisory_sources: Annotated[
        tuple[AdvisorySource, ...],
        Field(min_length=1),
        rule('must be a non-empty list of "safety", "pip-audit", "osv"'),
    ] = Field(
        ("safety", "pip-audit"),
        description="The advisory sources every dependency audit asks; osv needs osv_dir (or "
        "$PIPELINE_OSV_DIR).",
    )
    max_advisory_age: Annotated[
        int, Field(strict=True, ge=1, le=3650), rule("must be a whole number 1-3650")
    ] = Field(
        30,
        description="Days after which advisory data cannot vouch for the pins (exit 3 under CI), "
        "for every source without a bound of its own.",
    )
    max_advisory_age_by_source: Annotated[
        dict[AdvisorySource, Annotated[int, Field(strict=True, ge=1, le=3650)]],
        rule('must map "safety", "pip-audit" or "osv" to a whole number of days 1-3650'),
    ] = Field(
        {},
        description="A source's own bound in days, instead of max_advisory_age: for a feed "
        "published less often than that (e.g. safety's monthly free feed).",
    )
    safety_db_url: HttpUrl = Field(
        "https://pyup.io/aws/safety/free/",
        description="Where safety downloads its advisory database.",
    )
    offline_db: NonEmptyStr = Field(
        "", description="A local safety database to use instead of downloading one."
    )
    pip_audit_service: Literal["osv", "pypi"] = Field(
        "osv", description="The vulnerability service pip-audit asks."
    )
    osv_api_url: OptionalHttpUrl = Field(
        "", description="An OSV-API-compatible mirror for pip-audit; empty: api.osv.dev."
    )
    osv_dir: str = Field(
        "",
        description="An OSV directory in the PyPA advisory database's layout; $PIPELINE_OSV_DIR "
        "overrides.",
    )
    scanner_timeout: LongWait = Field(600, description="Seconds any one scanner may take.")
    secrets_baseline: Annotated[
        FromRoot,
        Field(
            description="must be the detect-secrets baseline of reviewed false positives, "
            "relative to the project root"
        ),
    ] = Field(
        Path(".secrets.baseline"),
        description="The detect-secrets baseline of reviewed false positives, relative to the "
        "project root.",
    )
    waivers: Annotated[
        tuple[Waiver, ...],
        rule(f"must be a list of tables: [[{TABLE}.security.waivers]]"),
    ] = Field(
        (),
        description="Findings accepted until they expire: one [[tool.pipeline.security.waivers]] "
        "table each.",
    )

    def max_age(self, source: str) -> int:
        """The days after which ``source``'s data cannot vouch for the pins."""
        own = self.max_advisory_age_by_source.items()
        return next((days for name, days in own if name == source), self.max_advisory_age)


class BuildConfig(Table):
    """The build gate: the release's wheel, wheelhouse, SBOM and, with an engine, image."""

    container_engine: Engine = Field(
        "none",
        description="The engine that builds and pushes the image, named, never guessed: docker or "
        "podman (it must answer: exit 3 if not) or none (no image; a swarm environment then has "
        "nothing to deploy).",
    )
    timeout: LongWait = Field(900, description="Seconds any one build tool may take.")
    base_image: NonEmptyStr = Field(
        "python:3.11-slim",
        description="The service image's ARG BASE: any image with python3 (3.11) and venv.",
    )


def _docker_host(
    value: object, handler: ValidatorFunctionWrapHandler, info: ValidationInfo
) -> object:
    """$DOCKER_HOST wins over the file, as it does for every Docker client; a value of it
    that is refused is blamed on it, not on the file."""
    override = Origin.of(info.context).docker_host_override
    if not override:
        return handler(value)
    try:
        return handler(override)
    except ValidationError as exc:
        error = exc.errors(include_url=False)[0]
        if error["type"] == "value_error":  # it says what it found
            raise ValueError(f"(from $DOCKER_HOST) {error['ctx']['error']}") from None
        raise ValueError(f"(from $DOCKER_HOST) {error['msg']}, got {override!r}") from None


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
    WrapValidator(_docker_host),  # outside the rule: a refused $DOCKER_HOST is blamed on it
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

    docker_host: DockerHost = Field(
        "",
        description="The engine every stage talks to (unix://, tcp://, ssh://user@host); empty: "
        "Docker's own choice ($DOCKER_HOST, the current context, its default socket). "
        "$DOCKER_HOST overrides it.",
    )
    registry: Registry = Field(
        "", description="Where images are pushed and deployed from, by digest; empty: not pushed."
    )
    data_root: AbsolutePath = Field(
        Path("/var/lib/gates-docker"),
        description="Where a dockerd that `gates engine up` starts keeps its data.",
    )
    registry_data: AbsolutePath = Field(
        Path("/var/lib/gates-registry"),
        description="Where a registry that `gates engine up` starts keeps its data.",
    )
    base_image: NonEmptyStr = Field(
        "gates-base:bookworm",
        description="The Debian base image `gates engine up` makes with debootstrap.",
    )
    edge_image: NonEmptyStr = Field(
        "gates-haproxy:2.6", description="The HAProxy edge image, Debian's HAProxy FROM base_image."
    )
    prometheus_image: NonEmptyStr = Field(
        "gates-prometheus:2.42",
        description="Debian's Prometheus FROM base_image: what a swarm environment with "
        "prometheus_port runs.",
    )
    mirror: Annotated[str, StringConstraints(strict=True, pattern=r"^https?://\S+$")] = Field(
        "http://deb.debian.org/debian",
        description="Where debootstrap and apt in the images get Debian from.",
    )
    suite: Annotated[str, StringConstraints(strict=True, pattern=r"^[a-z]+$")] = Field(
        "bookworm", description="The Debian suite of the images."
    )


class DeployConfig(Table):
    """How long a deploy may take at each step."""

    preflight_timeout: ShortWait = Field(
        30, description="Seconds the new release has to pass pre-flight."
    )
    cutover_timeout: ShortWait = Field(
        60, description="Seconds the cutover to the new release may take."
    )
    lock_timeout: LongWait = Field(
        120, description="Seconds a deploy waits for another one to finish."
    )
    verify_seconds: Seconds = Field(
        2.0,
        description="Local environments: seconds the new deployment must serve through the port "
        "(every worker answering, at least 20 answers) before the ledger says succeeded.",
    )
    answer_timeout: ShortWait = Field(
        5,
        description="Local environments: seconds one answer of the pre-flight and of the check "
        "through the port may take before the new deployment counts as not serving.",
    )


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
    ] = Field(description="The port it serves on: 127.0.0.1:port for a local environment.")
    target: Literal["local", "swarm"] = Field(
        "local",
        description="Where it lives: local (a gunicorn server on 127.0.0.1:port) or swarm (a "
        "Docker Swarm service behind an HAProxy edge).",
    )
    url: Annotated[str, Field(strict=True)] = Field(
        "",
        description="Where its service answers; empty: http://127.0.0.1:<port>. Swarm: the edge is "
        "published on this URL's host (an IP address; a name publishes on every interface) and "
        "port.",
    )
    replicas: PositiveInt = Field(2, description="Swarm: tasks of the service.")
    spread_over: Annotated[
        str,
        StringConstraints(
            strict=True, pattern=r"^(node\.id|node\.hostname|node\.labels\.[\w.-]+)?$"
        ),
        rule("must be node.id, node.hostname, node.labels.<label>, or empty"),
    ] = Field(
        "node.id",
        description="Swarm: the node attribute the tasks are spread over (a placement "
        "preference): node.id puts them on as many nodes as there are, node.labels.zone over "
        "zones; empty: no preference.",
    )
    stack: Annotated[
        StackName | Literal[""],
        rule("must be lower-case letters, digits and '-' (a DNS label of <= 48)"),
    ] = Field(
        "", description="Swarm: the name of its objects in the engine; empty: <service>-<name>."
    )
    workers: Annotated[
        int,
        Field(strict=True, ge=1, le=MAX_WORKERS),
        rule(f"must be a whole number 1-{MAX_WORKERS}"),
    ] = Field(2, description="gunicorn workers.")
    env: Annotated[dict[StrictStr, StrictStr], rule("must map names to strings")] = Field(
        {},
        description="The service's environment variables, deployed and recorded with each release; "
        "checked by the service's own rules when service_settings names them.",
    )
    promote_from: NonEmptyStr = Field(
        "", description="The environment a release must have passed first; empty: any release."
    )
    required_gates: Annotated[tuple[NonEmptyStr, ...], rule("must be a list of names")] = Field(
        (), description="The gates a release must have passed in promote_from."
    )
    prometheus_port: Annotated[
        int, Field(strict=True, ge=0, le=65535), rule("must be a whole number 0-65535")
    ] = Field(
        0,
        description="Swarm: run the environment's own Prometheus, published on 127.0.0.1:<this "
        "port>; prometheus_url then defaults to it. 0: none.",
    )
    prometheus_url: Annotated[str, Field(strict=True, validate_default=True)] = Field(
        "",
        description="The SLO gate's Prometheus for this environment; empty: scrape mode. "
        "--prometheus-url overrides it.",
    )
    prometheus_labels: Annotated[
        dict[PrometheusLabel, StrictStr],
        rule("must map Prometheus label names to values"),
    ] = Field(
        {},
        description="The labels that pick this environment's series in its Prometheus, e.g. { job "
        '= "techcorp-production" }: added to every SLI selector and to its up checks.',
    )
    # The rollout's pace: gates.targets.swarm.service.
    update_monitor: SwarmSeconds = Field(
        5.0,
        description="Swarm: seconds Swarm keeps watching a deploy's update for a failing task "
        "after each task is running (a rollback goes back in one step, unwatched: to a release "
        "known good there). Shorter only to rehearse on a test engine: later failures are then "
        "not caught.",
    )
    health_start_period: SwarmSeconds = Field(
        15.0,
        description="Swarm: seconds a starting task's failed health checks do not count. Shorter "
        "only to rehearse on a test engine: slower starts are then not given the time.",
    )
    prometheus_interval: SwarmSeconds = Field(
        2.0,
        description="Swarm with prometheus_port: seconds between its Prometheus's scrapes of the "
        "tasks, rule evaluations and DNS look-ups of the tasks.",
    )
    edge_try_timeout: SwarmSeconds = Field(
        5.0,
        description="Swarm: seconds the edge waits for one task's answer before it sends the "
        "request to another (up to 3 tries): a task on a node that died never answers, and its "
        "requests in flight are retried elsewhere after this long. Keep it above the slowest "
        "answer the service may legitimately give.",
    )
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

    @field_validator(
        "update_monitor",
        "health_start_period",
        "prometheus_interval",
        "edge_try_timeout",
        "spread_over",
    )
    @classmethod
    def _swarm_only(cls, seconds: Any, info: ValidationInfo) -> Any:
        if info.data.get("target") != "swarm":
            raise ValueError(
                'sets a swarm environment only (target = "swarm"); a local one has no rollout, '
                "placement, edge or Prometheus of its own: remove it"
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

    def stack_name(self, service: str) -> str:
        """Swarm: the name of its objects in the engine (``stack``, else <service>-<name>)."""
        return self.stack or f"{service}-{self.name}".lower()

    @property
    def published(self) -> tuple[str, int]:
        """The address and port its URL is served on; "" for every interface (a swarm
        environment's edge, for a URL that names a host or an unspecified address)."""
        url = urlsplit(self.base_url)
        port = url.port or (443 if url.scheme == "https" else 80)
        try:
            address = ipaddress.ip_address(url.hostname or "")
        except ValueError:
            return "", port
        return ("" if address.is_unspecified else str(address)), port

    def listens(self) -> dict[str, tuple[str, int]]:
        """Where it listens on this machine or the engine's, by the key that says so: an
        address ("" for every interface) and a port."""
        if self.target == "local":
            return {"port": ("127.0.0.1", self.port)}
        found = {"url": self.published}
        if self.prometheus_port:
            found["prometheus_port"] = ("127.0.0.1", self.prometheus_port)
        return found


class SloConfig(Table):
    """The SLO gate: the objectives it judges, its window and the evidence it needs."""

    objectives: FromRoot = Field(
        Path("slo/objectives.yaml"),
        description="The OpenSLO objectives file (SLOs and burn-rate alerts).",
    )
    runbook_url: NonEmptyStr = Field(
        "docs/verification.md#slo-burn-rate-alerts-runbook",
        description="The runbook every generated burn-rate alert links to: where your team reads "
        "this repository's docs, e.g. https://github.com/<org>/<repo>/blob/main/...",
    )
    window: SloWindow = Field(
        "30s",
        description="The default evaluation window, e.g. 30s or 15min (at most 6h); --window "
        "overrides it.",
    )
    min_requests: PositiveInt = Field(
        300,
        description="A floor: never decide on fewer requests, whatever the confidence bounds allow "
        "(the bounds set the real need: 99.9 % takes 2,995 requests without an error).",
    )
    probe_rate: Annotated[
        int, Field(strict=True, ge=1, le=1000), rule("must be a whole number 1-1000")
    ] = Field(
        50,
        description="Requests/s of the synthetic probe, sized from the requests still needed (99.9 "
        "% at 50 requests/s takes 60 s).",
    )
    probe_max_seconds: ShortWait = Field(
        120,
        description="Seconds the synthetic probe may run at most (120 s also covers a window with "
        "one error: 4,742 requests).",
    )


class PerfConfig(Table):
    """The perf gate: the load it sends and the limits it holds the release to."""

    rate: PositiveInt = Field(
        50, description="Requests/s, open loop: the schedule holds however slow the service."
    )
    duration: LongWait = Field(10, description="Seconds of load.")
    paths: Annotated[
        dict[UrlPath, PositiveInt],
        Field(min_length=1),
        rule("must map URL paths to whole-number weights"),
    ] = Field(
        {"/api/data": 4, "/health": 1}, description="The URL paths requested and their weights."
    )
    p95_ms: PositiveInt = Field(200, description="The p95 latency limit, in ms.")
    max_error_rate: Ratio = Field(0.001, description="The share of failed requests allowed.")
    max_late_ratio: Ratio = Field(
        0.01,
        description="The share of requests the generator may send late before the run is invalid "
        "(exit 3).",
    )
    regression_alpha: Ratio = Field(0.01, description="The significance of each regression test.")
    regression_min_ratio: NonNegative = Field(
        0.5, description="A regression: p50 this much slower than the baseline's (0.5 = 50 %)..."
    )
    regression_tail_ratio: NonNegative = Field(
        1.5, description="...or p95 this much slower (1.5 = 150 %)..."
    )
    regression_min_ms: NonNegative = Field(
        0.5, description="...and this many ms slower, or it is noise."
    )
    regression_baseline_runs: PositiveInt = Field(
        3, description="Earlier deployments whose median is the baseline."
    )
    regression_busier_lag_ratio: NonNegative = Field(
        2.0,
        description="The generator's lag p95 this many times the baseline's: the machine is "
        "busier, no verdict on regression.",
    )


class DoraConfig(Table):
    """The DORA metrics `gates dora` reports, and the limits it holds them to."""

    window: Duration = Field(
        "30d", description="What `gates dora` looks back over, e.g. 7d or 12h."
    )
    min_success_rate: Ratio = Field(
        0.999, description="The deployment success rate must be at least this."
    )
    max_change_failure_rate: Ratio = Field(
        0.15, description="The change failure rate must be at most this (the elite band's limit)."
    )
    max_time_to_restore: Duration = Field(
        "1h",
        description="The median time to restore must be at most this (the elite band's limit).",
    )


class DrillConfig(Table):
    """The failure drill's time limits (`gates drill`): the drill passes only when its bad
    config is detected and the good deployment restored within them."""

    detect_target: Seconds = Field(
        30.0,
        description="Seconds from the bad config going live to its detection, at most; "
        "--detect-target overrides it.",
    )
    restore_target: Seconds = Field(
        10.0,
        description="Seconds from detection to the good deployment verified serving again, at "
        "most; --restore-target overrides it.",
    )


class CoverageReport(BaseModel):
    """The one key of coverage.py's [tool.coverage.report] that the pipeline reads."""

    model_config = ConfigDict(extra="ignore", frozen=True)
    fail_under: Annotated[
        float, Field(strict=True, ge=0, le=100), rule("must be a number 0-100")
    ] = Field(description="coverage.py's threshold, decided once over every suite.")


class PipelineConfig(Table):
    """The pipeline's configuration: the [tool.pipeline] table of pyproject.toml."""

    # First: the tables below live under it.
    state_dir: StateDir = Field(
        Path(".pipeline"),
        description="Build outputs, reports, environments and the ledger; $PIPELINE_STATE_DIR "
        "overrides it.",
    )
    service: NonEmptyStr = Field(description="The service's distribution name.")
    service_dir: Annotated[FromRoot, AfterValidator(_has_pyproject)] = Field(
        description="Where the service's pyproject.toml is."
    )
    # Before the environments: their env is checked with it.
    service_settings: ServiceSettings = Field(
        "",
        description="The service's check of an environment's env, as module:function: called with "
        "the variables, it raises ValueError naming a bad one, which is then a configuration "
        "error. Empty: env is not checked.",
    )
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
        description="One [tool.pipeline.environments.NAME] table per environment; a name is "
        "lowercase letters, digits, - and _ (at most 63). No two share a port or a stack, nor "
        "listen on one port of one address (a local one's port, a swarm one's url and "
        "prometheus_port).",
        default_factory=dict,
        validate_default=True,
        min_length=1,
        json_schema_extra={"propertyNames": {"pattern": f"^{SIMPLE_NAME.pattern}$"}},
    )
    slo: SloConfig = Field(default_factory=dict, validate_default=True)
    perf: PerfConfig = Field(default_factory=dict, validate_default=True)
    dora: DoraConfig = Field(default_factory=dict, validate_default=True)
    drill: DrillConfig = Field(default_factory=dict, validate_default=True)
    _path: Path = PrivateAttr()

    def model_post_init(self, context: Any, /) -> None:
        self._path = Origin.of(context).path

    @field_validator("environments")
    @classmethod
    def _named_and_apart(
        cls, environments: dict[str, EnvironmentConfig], info: ValidationInfo
    ) -> dict[str, EnvironmentConfig]:
        for name, environment in environments.items():
            environment._name = name
        ordered = list(environments.values())
        for at, environment in enumerate(ordered):
            for earlier in ordered[: at + 1]:
                for key, value, text in _shared(earlier, environment, info.data.get("service")):
                    raise refused_key(environment.name, key, value, text)
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


# How an error names what another environment listens on, by the key that says so.
LISTENING = {"port": "port", "url": "url port", "prometheus_port": "prometheus_port"}


def _shared(
    earlier: EnvironmentConfig, later: EnvironmentConfig, service: str | None
) -> Iterator[tuple[str, object, str]]:
    """What ``later`` shares with ``earlier`` (or, the same one, between its own keys) and
    must not: a port, a stack, or an address and port to listen on. Each as (the key of
    ``later``, its value, ``<key> ...`` naming both)."""
    owner = "its own" if earlier is later else f"{earlier.name}'s"
    apart = "each environment needs its own"
    if earlier is not later and earlier.port == later.port:
        yield "port", later.port, f"{later.port} is also {owner} port: {apart}"
    swarm = earlier.target == later.target == "swarm"
    if swarm and service and earlier is not later:
        stack = later.stack_name(service)
        if stack == earlier.stack_name(service):
            yield "stack", stack, (
                f"{stack!r} is also {owner} stack (the name of its service, edge and history "
                f"in the engine): {apart}"
            )
    for key, (address, port) in later.listens().items():
        for other, (other_address, other_port) in earlier.listens().items():
            same_host = address == other_address or "" in (address, other_address)
            if (earlier is later and key >= other) or port != other_port or not same_host:
                continue
            where = f" on {address or 'every interface'}" if key == "url" else ""
            said = f"port {port}" if key == "url" else str(port)
            yield key, port, f"{said}{where} is also {owner} {LISTENING[other]}: {apart}"


def json_schema() -> dict[str, Any]:
    """JSON Schema of the [tool.pipeline] table, for editors (taplo, Even Better TOML)."""
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        **PipelineConfig.model_json_schema(),
    }


def as_json(config: PipelineConfig) -> str:
    """The validated configuration as indented JSON: paths resolved, the file it came from first."""
    return json.dumps({"path": str(config.path), **config.model_dump(mode="json")}, indent=2)
