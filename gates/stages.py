"""The stage registry: every stage and command of the pipeline, declared once.

The CLI (``python -m gates <name>``), the noxfile (one session per stage, the default order),
``gates summary`` and the workflow parity test all read this table; nothing else lists stages.

Names: a stage has one name as nox session, gates command and report. A stage aimed at an
environment writes its report as ``<name>-<environment>`` (``smoke-staging``); ``deploy`` is
the one stage the pipeline runs twice, so its sessions carry the environment in their name too:
``nox -s deploy-staging`` is ``gates deploy --environment staging`` and writes
``deploy-staging.json``. ``docs/architecture.md`` has the table with every name.

This module imports nothing outside the standard library: the noxfile reads it before any
session has installed the project's dependencies.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class EnvironmentOption:
    """The ``--environment`` a stage takes: its default, or required when there is none."""

    default: str | None = None
    required: bool = False
    help: str = ""

    def describe(self) -> str:
        if self.help:
            return self.help
        return "required" if self.required else f"default: {self.default}"


@dataclass(frozen=True)
class Stage:
    """One command of ``python -m gates`` and the nox session(s) that run it.

    ``run`` and ``arguments`` name functions as ``module:function``, imported only when the
    stage runs. A *gate* (``writes_report``) is called as ``run(config, report, args)`` and its
    verdict becomes a report; any other command as ``run(config, args)``, returning its exit code.
    """

    name: str
    help: str
    run: str
    arguments: str | None = None  # module:function adding the stage's own options to a parser
    group: str = "deploy"  # the dependency group (uv.lock) its nox session installs
    writes_report: bool = True
    records_gate: bool = False  # its verdict is recorded in the ledger against the deployment
    # The CLI opens (so checks) the ledger before the stage starts: every stage that reads or
    # writes it, and summary, which says where production stands. A damaged ledger then stops
    # the stage (exit 2, one line) before it measures or changes anything.
    uses_ledger: bool = False
    # Only the commands that write the first records create a missing ledger; for any other,
    # reading it says it is missing (LedgerMissing, exit 3; status and summary say so and go on).
    creates_ledger: bool = False
    environment: EnvironmentOption | None = None
    sessions: tuple[str, ...] = ()  # one nox session per environment named here; else one
    passthrough: bool = False  # session posargs go after `--`, to the underlying tool
    default_posargs: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    needs_config: bool = True

    def session_names(self) -> list[tuple[str, str | None]]:
        """(nox session name, the environment it is bound to) for each session of the stage."""
        if self.sessions:
            return [(f"{self.name}-{environment}", environment) for environment in self.sessions]
        return [(self.name, None)]

    def report_name(self, environment: str | None) -> str:
        return f"{self.name}-{environment}" if environment else self.name


@dataclass(frozen=True)
class Step:
    """One step of the default ``nox`` run: a session, and the report it leaves."""

    stage: Stage
    environment: str | None = None  # the environment the session or its default aims at
    # The steps whose verdict (or output) this one needs; None: the step before it. The checks
    # of a commit (lint, the suites, security) need nothing of each other, so CI runs them side
    # by side; `nox` still runs every step in this table's order.
    after: tuple[str, ...] | None = None

    @property
    def session(self) -> str:
        return f"{self.stage.name}-{self.environment}" if self.stage.sessions else self.stage.name

    @property
    def report(self) -> str | None:
        return self.stage.report_name(self.environment) if self.stage.writes_report else None


STAGING = EnvironmentOption(default="staging")
PRODUCTION = EnvironmentOption(default="production")
REQUIRED = EnvironmentOption(required=True, help="required, e.g. staging or production")

STAGES: tuple[Stage, ...] = (
    Stage(
        "lint",
        "black --check, flake8 and mypy over the code; zizmor (pedantic) and actionlint over the "
        "workflows; the pipeline workflow's policy",
        run="gates.checks.lint:run",
        group="lint",
        passthrough=True,
    ),
    Stage(
        "test",
        "unit and in-process integration tests on every core: JUnit XML, coverage data",
        run="gates.checks.testsuite:run",
        group="test",
        passthrough=True,
        tags=("tests",),
    ),
    Stage(
        "e2e",
        "end-to-end scenarios: real builds, deploys, cutovers, drill, scanners",
        run="gates.checks.testsuite:run",
        group="test",
        passthrough=True,
        tags=("tests",),
    ),
    Stage(
        "faults",
        "fault scenarios on the three-node swarm: a worker, the leader, the edge's node lost, a "
        "partition, under load (as root, on `nox -s engine -- up --nodes 3`)",
        run="gates.checks.testsuite:run",
        group="test",
        passthrough=True,
        tags=("tests",),
    ),
    Stage(
        "coverage",
        "combine the coverage data of every suite; one decision against fail_under",
        run="gates.checks.coverage:run",
        group="coverage",
        tags=("tests",),
    ),
    Stage(
        "security",
        "bandit, secrets, safety + pip-audit (+ OSV dir) over the pinned deps; SARIF (--offline)",
        run="gates.security.gate:run",
        arguments="gates.security.gate:add_arguments",
        group="security",
    ),
    Stage(
        "build",
        "reproducible release: wheel, locked wheelhouse, SBOM, manifest; image if an engine runs",
        run="gates.release.build:run",
        arguments="gates.release.build:add_arguments",
        group="build",
        uses_ledger=True,
        creates_ledger=True,
    ),
    Stage(
        "deploy",
        "install a verified release into an environment and cut over with no failed request",
        run="gates.deploy.rollout:run",
        arguments="gates.deploy.rollout:add_arguments",
        environment=REQUIRED,
        sessions=("staging", "production"),
        uses_ledger=True,
        creates_ledger=True,
    ),
    Stage(
        "smoke",
        "call every endpoint of an environment and check each response's contract",
        run="gates.smoke:run",
        records_gate=True,
        environment=STAGING,
        uses_ledger=True,
    ),
    Stage(
        "perf",
        "open-loop load: latency percentiles, errors, p50/p95 regression vs earlier deployments",
        run="gates.perf.gate:run",
        arguments="gates.perf.gate:add_arguments",
        records_gate=True,
        environment=STAGING,
        uses_ledger=True,
    ),
    Stage(
        "slo",
        "availability and latency SLIs over a window; error budget and burn rate",
        run="gates.slo.gate:run",
        arguments="gates.slo.gate:add_arguments",
        records_gate=True,
        environment=PRODUCTION,
        uses_ledger=True,
    ),
    Stage(
        "slo-rules",
        "Prometheus burn-rate recording and alerting rules from the objectives, promtool-checked",
        run="gates.slo.rules:run",
        arguments="gates.slo.rules:add_arguments",
    ),
    Stage(
        "rollback",
        "return an environment to its last good release (code and config), verified",
        run="gates.deploy.rollback:run",
        arguments="gates.deploy.rollback:add_arguments",
        environment=REQUIRED,  # and --reason: a bare `nox -s rollback` changes nothing
        uses_ledger=True,
    ),
    Stage(
        "drill",
        "failure drill: bad config push, SLO detection, automatic rollback, verified restore",
        run="gates.drill.gate:run",
        arguments="gates.drill.gate:add_arguments",
        environment=PRODUCTION,
        uses_ledger=True,
    ),
    Stage(
        "dora",
        "DORA metrics from the ledger over a window, with their performance bands",
        run="gates.dora:run",
        arguments="gates.dora:add_arguments",
        environment=PRODUCTION,
        uses_ledger=True,
    ),
    Stage(
        "summary",
        "one table for the whole rehearsal, from the reports; where production stands",
        run="gates.summary:run",
        writes_report=False,
        uses_ledger=True,
    ),
    Stage(
        "status",
        "what runs where: release, version, since when, pid, health",
        run="gates.deploy.operations:status",
        writes_report=False,
        environment=EnvironmentOption(help="one environment (default: all)"),
        uses_ledger=True,
    ),
    Stage(
        "down",
        "stop an environment's server cleanly",
        run="gates.deploy.operations:down",
        writes_report=False,
        environment=REQUIRED,  # no default: stopping an environment is named, never implied
        uses_ledger=True,
    ),
    Stage(
        "release",
        "list, show, verify or install built releases",
        run="gates.release.catalog:run",
        arguments="gates.release.catalog:add_arguments",
        writes_report=False,
    ),
    Stage(
        "engine",
        "the container engine swarm environments need, from Debian packages: check, up, down, "
        "status; ssh: the key that reaches a remote one; login: the registry's credentials",
        run="gates.engine.command:run",
        arguments="gates.engine.command:add_arguments",
        writes_report=False,
        default_posargs=("status",),
    ),
    Stage(
        "config",
        "validate the pipeline configuration and print it (--schema: its JSON Schema)",
        run="gates.checks.config:run",
        arguments="gates.checks.config:add_arguments",
        writes_report=False,
        needs_config=False,
    ),
)

BY_NAME: dict[str, Stage] = {stage.name: stage for stage in STAGES}

# The default `nox` run, in order: the rehearsal of the whole pipeline.
PIPELINE: tuple[Step, ...] = (
    Step(BY_NAME["lint"], after=()),
    Step(BY_NAME["test"], after=()),
    Step(BY_NAME["e2e"], after=()),
    Step(BY_NAME["faults"], after=()),
    Step(BY_NAME["coverage"], after=("test", "e2e", "faults")),  # one decision over all suites
    Step(BY_NAME["security"], after=()),
    Step(BY_NAME["build"], after=("lint", "coverage", "security")),  # only a checked commit
    Step(BY_NAME["deploy"], "staging"),
    Step(BY_NAME["smoke"], "staging"),
    Step(BY_NAME["perf"], "staging"),
    Step(BY_NAME["deploy"], "production"),
    Step(BY_NAME["slo"], "production"),
    Step(BY_NAME["summary"]),
)


def prerequisites(session: str) -> frozenset[str]:
    """Every step of the default run that ``session``'s step needs, directly or not."""
    order = [step.session for step in PIPELINE]
    direct = {
        step.session: (step.after if step.after is not None else tuple(order[max(0, n - 1) : n]))
        for n, step in enumerate(PIPELINE)
    }
    found: set[str] = set()
    pending = list(direct[session])
    while pending:
        current = pending.pop()
        if current not in found:
            found.add(current)
            pending.extend(direct[current])
    return frozenset(found)


# Sessions the workflow must run besides the default ones (the recovery path).
WORKFLOW_ONLY: tuple[str, ...] = ("rollback",)


def stage(name: str) -> Stage:
    return BY_NAME[name]


@dataclass(frozen=True)
class Session:
    """A nox session generated from a stage, and the gates command line it runs."""

    name: str
    stage: Stage
    environment: str | None = None  # the environment the session is bound to

    def gates_args(self, posargs: list[str]) -> list[str]:
        """The arguments after ``python -m gates`` for these session posargs."""
        bound = ["--environment", self.environment] if self.environment else []
        given = list(posargs) or list(self.stage.default_posargs)
        return [self.stage.name, *bound, *(["--", *given] if self.stage.passthrough else given)]


def sessions() -> list[Session]:
    """Every nox session, generated from the stages."""
    return [
        Session(name, stage, environment)
        for stage in STAGES
        for name, environment in stage.session_names()
    ]


def markdown_table() -> str:
    """The registry as the Markdown table docs/architecture.md carries (a test keeps it equal)."""
    order = {step.session: str(n) for n, step in enumerate(PIPELINE, 1)}
    rows = [
        "| step of `nox` | gates command | nox session(s) | report(s) | `--environment` "
        "| records a gate | installs | what it does |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for stage in STAGES:
        names = [name for name, _ in stage.session_names()]
        option = stage.environment
        if not stage.writes_report:
            reports = "—"
        elif stage.sessions:
            reports = ", ".join(f"`{stage.report_name(env)}`" for env in stage.sessions)
        elif option is not None:
            reports = f"`{stage.name}-<environment>`"
        else:
            reports = f"`{stage.name}`"
        steps = ", ".join(order[n] for n in names if n in order) or "—"
        rows.append(
            f"| {steps} | `{stage.name}` | {', '.join(f'`{n}`' for n in names)} | {reports} "
            f"| {option.describe() if option else '—'} | {'yes' if stage.records_gate else '—'} "
            f"| `{stage.group}` | {stage.help} |"
        )
    return "\n".join(rows) + "\n"
