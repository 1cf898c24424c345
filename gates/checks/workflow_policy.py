"""The pipeline workflow's policy: on GitHub, CI runs the pipeline's own nox sessions, in the
pipeline's order, and nothing else.

``problems(document, sessions)`` judges a parsed workflow against the stage registry
(gates/stages.py) and the nox sessions that exist; it returns one line per breach, sorted, and
nothing when the workflow keeps the policy. ``check_file(path, sessions)`` does the same for a
file. The lint gate runs it over ``[tool.pipeline.lint] pipeline_workflow`` on every
``nox -s lint``, so GitHub enforces it on itself; tests/integration/test_workflow_parity.py
holds it to the real workflow and to every known bypass.

Every rule closes a way a workflow could run, skip or weaken something the noxfile does not:

- ``run:`` is one line, ``nox -s <session>`` with optionally ``-- <args>``, each argument a
  literal word of ``[A-Za-z0-9_./:=@%+,-]``, a double-quoted literal of those characters and
  spaces, or exactly ``"$NAME"`` (a quoted environment variable: the shell expands it to one
  word and never executes it). So no ``${{ }}`` expressions, ``$(...)``, backticks, ``;``,
  ``&&``, ``|``, redirections, globs or newlines. The session must exist and be a pipeline
  stage, the recovery path (``stages.WORKFLOW_ONLY``) or ``engine``; stages whose arguments go
  straight to their tool (lint, test, e2e: ``passthrough``) take none, so a workflow cannot
  narrow what they check. SETUP_COMMANDS, compared whole, are the only other lines.
- Keys: a step and a job have only the keys listed below; so no ``shell``,
  ``working-directory``, ``continue-on-error``, ``defaults``, ``container``, ``services`` or
  reusable workflows.
- ``env:`` (workflow, job, step) names only ALLOWED_ENV. An allow-list, not a deny-list: the
  variables that change what a shell, Python, pip, uv or nox runs (BASH_ENV, ENV, PYTHONPATH,
  PYTHONSTARTUP, PYTHONHOME, LD_PRELOAD, PATH, NOX_*, UV_*, PIP_*, PIPELINE_*...) are too many
  to list, and a new one needs a reviewed change here.
- ``if:`` comes from a small set per role: a job that runs stages may be limited to events;
  the summary runs unless cancelled; a recovery job runs on its deploy job's ``rollback``
  output (set from ``steps.<id>.outcome == 'failure'``) or by hand; only the all-green gate
  runs ``always()`` (except on a manual run). Only build and later stages may be limited to
  pushes to main, and a job that runs stages runs no recovery session. A step that runs a
  stage has no ``if:``; other steps only the upload guards (USES_STEP_IF) or ``!cancelled()``
  (set-up lines).
- ``uses:`` names an action of ALLOWED_ACTIONS at a full 40-hex commit SHA, with only the
  inputs listed there (checkout without persisted credentials).
- ``runs-on`` is a GitHub-hosted Ubuntu runner; every job has a ``name`` and a
  ``timeout-minutes``.
- Order: within a job, stages run in pipeline order; across jobs, a job that runs a stage
  ``needs:`` (directly or not) every job that runs a step that stage needs
  (``stages.prerequisites``): lint, the test suites and security side by side, coverage after
  both suites, build after every check, then one stage after another. Every pipeline stage
  and the recovery path are in the workflow.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from pathlib import Path
from typing import Any

import yaml

from gates import stages

# The pipeline's sessions in order, the recovery path, and the session that reaches the engine.
PIPELINE: tuple[str, ...] = tuple(step.session for step in stages.PIPELINE)
RECOVERY: tuple[str, ...] = stages.WORKFLOW_ONLY
SUPPORT: tuple[str, ...] = ("engine",)
SUMMARY = "summary"
# Sessions whose arguments go to the underlying tool (pytest, the linters' targets).
PASSTHROUGH = frozenset(s.name for s in stages.sessions() if s.stage.passthrough)

# The only run lines that are not nox calls, compared whole: the hash-checked bootstrap, the
# engine's set-up on the runner (Debian's packages, the engine as root with nox environments and
# a home of its own and no bytecode written, so the runner user keeps owning everything in the
# checkout and its uv cache: tests/e2e/test_root_engine_step.py), and the deploy
# jobs' check of the release's attestation.
BOOTSTRAP = "python -m pip install --require-hashes -r bootstrap-requirements.txt"
AS_ROOT = (
    "sudo -H --preserve-env=DOCKER_HOST PYTHONDONTWRITEBYTECODE=1 "
    '"$(command -v nox)" --envdir "$RUNNER_TEMP/nox-as-root"'
)
ENGINE_SETUP = (
    "sudo .ci/install-packages debootstrap docker-registry prometheus",
    "sudo .ci/install-packages debootstrap docker-registry",
    "sudo .ci/install-packages debootstrap docker-registry openssh-server apache2-utils",
    f"{AS_ROOT} -s engine -- up",
    f"{AS_ROOT} -s engine -- up --no-swarm",
    f"{AS_ROOT} -s engine -- down",
    f"{AS_ROOT} -s engine -- up --nodes 3",  # the fault scenarios' three-node swarm
    f"{AS_ROOT} -s engine -- down --nodes 3",
)
# Stages that only root can run, called as the engine's steps are: the fault scenarios make
# network namespaces and kill nodes.
AS_ROOT_STAGES = ("faults",)
# A deploy job's proof that the release it downloaded is the one the attest job attested.
VERIFY_ATTESTATION = (
    'gh attestation verify ".pipeline/releases/$RELEASE_ID/manifest.json" '
    '--repo "$GITHUB_REPOSITORY" '
    '--signer-workflow "$GITHUB_REPOSITORY/.github/workflows/ci-cd.yml"'
)
# What only GitHub can do (an OIDC token, attestations, code scanning) is skipped where `act`
# runs the workflow on a workstation, and only there: `github.event.act` is a key of the event
# file handed to act, never of a payload GitHub sends for this workflow's events.
NOT_UNDER_ACT = "!github.event.act"
NEEDS_GITHUB_ACTIONS = frozenset(
    {"actions/attest-build-provenance", "actions/attest-sbom", "github/codeql-action/upload-sarif"}
)
SETUP_COMMANDS = frozenset({BOOTSTRAP, *ENGINE_SETUP, VERIFY_ATTESTATION})

_WORD = r"[A-Za-z0-9_./:=@%+,-]+"
_QUOTED = r'"[A-Za-z0-9_./:=@%+, -]*"'
_VARIABLE = r'"\$[A-Z_][A-Z0-9_]*"'
NOX_CALL = re.compile(
    rf"nox -s (?P<session>[a-z][a-z0-9-]*)(?: --(?P<args>(?: (?:{_WORD}|{_QUOTED}|{_VARIABLE}))+))?"
)

ALLOWED_ENV = frozenset(
    {
        "DOCKER_HOST",  # the engine: the runner's socket, or the swarm manager over ssh://
        "ENGINE_SSH_KEY",  # `nox -s engine -- ssh` installs it (environment secret)
        "ENGINE_SSH_KNOWN_HOSTS",  # and the manager's host key (environment variable)
        "RELEASE_ID",  # the release the deploy jobs deploy, from the build job's output
        "ENVIRONMENT",  # the manual rollback's inputs, passed as "$ENVIRONMENT"...
        "REASON",  # ... and "$REASON", never as expressions in run:
        "GH_TOKEN",  # the job's own token: `gh attestation verify`, the summary's run timings
        "PIPELINE_TARGETS",  # where the environments live (a repository variable; validated)
        "REGISTRY_USERNAME",  # `nox -s engine -- login`: the registry's account (variable)...
        "REGISTRY_PASSWORD",  # ... and its password or token (environment secret)
    }
)
# The actions a workflow may use, each with the inputs it may set: an input can change what
# runs as much as a run line (checkout's `repository`/`ref` bring other code, download's
# `run-id`/`repository` another run's release, alls-green's `allowed-failures` a red stage).
ALLOWED_ACTIONS: Mapping[str, frozenset[str]] = {
    "actions/checkout": frozenset({"persist-credentials"}),
    "actions/setup-python": frozenset({"python-version"}),
    "actions/cache": frozenset({"path", "key", "restore-keys"}),
    "actions/upload-artifact": frozenset(
        {"name", "path", "include-hidden-files", "if-no-files-found", "retention-days"}
    ),
    "actions/download-artifact": frozenset({"name", "pattern", "path", "merge-multiple"}),
    "actions/attest-build-provenance": frozenset(
        {"subject-path", "subject-name", "subject-digest"}
    ),
    "actions/attest-sbom": frozenset(
        {"subject-path", "subject-name", "subject-digest", "sbom-path"}
    ),
    "github/codeql-action/upload-sarif": frozenset({"sarif_file", "category"}),
    "re-actors/alls-green": frozenset({"jobs", "allowed-skips"}),
}
ALL_GREEN = "re-actors/alls-green"
RUNNERS = frozenset({"ubuntu-latest", "ubuntu-24.04", "ubuntu-22.04"})
USES = re.compile(r"(?P<action>[A-Za-z0-9_.-]+/[A-Za-z0-9_./-]+)@(?P<ref>.+)")
FULL_SHA = re.compile(r"[0-9a-f]{40}")

WORKFLOW_KEYS = frozenset({"name", "run-name", "on", "permissions", "concurrency", "env", "jobs"})
JOB_KEYS = frozenset(
    {
        "name",
        "needs",
        "if",
        "runs-on",
        "timeout-minutes",
        "permissions",
        "environment",
        "concurrency",
        "outputs",
        "env",
        "strategy",
        "steps",
    }
)
STEP_KEYS = frozenset({"name", "id", "if", "run", "uses", "with", "env", "timeout-minutes"})
STRATEGY_KEYS = frozenset({"matrix", "fail-fast", "max-parallel"})

# if: by role (expressions compared without ${{ }} and with runs of spaces made one).
ON_MAIN = "github.event_name == 'push' && github.ref == 'refs/heads/main'"
FIRST_ON_MAIN = "build"  # the checks before it run on every push and pull request
ON_EVENTS = frozenset({"github.event_name != 'workflow_dispatch'", ON_MAIN})
SUMMARY_IFS = frozenset({"!cancelled() && github.event_name != 'workflow_dispatch'"})
BY_HAND = "github.event_name == 'workflow_dispatch'"
ON_ROLLBACK = re.compile(r"failure\(\) && needs\.(?P<job>[a-z0-9_-]+)\.outputs\.rollback == 'true'")
# The gate judges the jobs itself, so it runs whatever they did (a skipped required check
# would count as passed); a manual rollback runs no checks to judge.
GATE_IFS = frozenset({"always() && github.event_name != 'workflow_dispatch'"})
SETUP_STEP_IFS = frozenset({"!cancelled()"})
VERIFY_STEP_IFS = frozenset({NOT_UNDER_ACT})
# An upload runs unless cancelled, when its file was written; the SARIF upload also only where
# code scanning exists (public repositories; private ones say so with CODE_SCANNING=true).
USES_STEP_IF = re.compile(
    r"(?:!cancelled\(\) && )?hashFiles\('[A-Za-z0-9_./*-]+'\) != ''"
    r"(?: && \(github\.event\.repository\.visibility == 'public' \|\| "
    r"vars\.CODE_SCANNING == 'true'\))?"
    r"|needs\.[a-z0-9_-]+\.outputs\.[a-z0-9_]+ != ''"
)


def check_file(path: Path, sessions: Collection[str]) -> list[str]:
    """The policy's problems with the workflow at ``path``; one when it cannot be read."""
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeError, yaml.YAMLError) as exc:
        return [f"{path}: cannot be read as YAML: {str(exc).splitlines()[0]}"]
    if not isinstance(document, dict) or not isinstance(document.get("jobs"), dict):
        return [f"{path}: is not a workflow (no jobs mapping)"]
    return problems(document, sessions)


def problems(document: Mapping[Any, Any], sessions: Collection[str]) -> list[str]:
    """One line per breach of the policy by the parsed workflow ``document``."""
    found: list[str] = []
    # PyYAML reads the key `on` as the boolean True (YAML 1.1).
    for key in document:
        name = "on" if key is True else str(key)
        if name not in WORKFLOW_KEYS:
            found.append(f"workflow: key {name} is not allowed")
    found += _env_problems("workflow", document.get("env"))
    jobs: Mapping[str, Any] = document.get("jobs") or {}
    ran: dict[str, list[str]] = {}
    for name, job in jobs.items():
        if not isinstance(job, dict):
            found.append(f"{name}: is not a job mapping")
            continue
        ran[name], job_problems = _job(name, job, sessions)
        found += job_problems
    found += _coverage(ran)
    found += _order(jobs, ran)
    return sorted(set(found))


def _expression(value: object) -> str:
    text = str(value).lower() if isinstance(value, bool) else str(value).strip()
    if text.startswith("${{") and text.endswith("}}"):
        text = text[3:-2]
    return " ".join(text.split())


def _env_problems(where: str, env: object) -> list[str]:
    if env is None:
        return []
    if not isinstance(env, dict):
        return [f"{where}: env must be a mapping of names to values"]
    return [
        f"{where}: env {name} is not allowed (not in workflow_policy.ALLOWED_ENV)"
        for name in env
        if name not in ALLOWED_ENV
    ]


def _role(sessions_run: list[str], steps: list[Any]) -> str:
    if any(s in PIPELINE and s != SUMMARY for s in sessions_run):
        return "stages"
    if SUMMARY in sessions_run:
        return "summary"
    if any(s in RECOVERY for s in sessions_run):
        return "recovery"
    uses = [str(step.get("uses", "")) for step in steps if isinstance(step, dict)]
    if uses and all(u.startswith(ALL_GREEN + "@") for u in uses):
        return "gate"
    return "other"


def _job_if(name: str, job: Mapping[str, Any], role: str) -> list[str]:
    if "if" not in job:
        return []
    condition = _expression(job["if"])
    needs = job.get("needs", [])
    needs = [needs] if isinstance(needs, str) else list(needs or [])
    rollback = ON_ROLLBACK.fullmatch(condition)
    allowed = {
        "stages": condition in ON_EVENTS,
        "summary": condition in SUMMARY_IFS,
        "recovery": condition == BY_HAND or bool(rollback and rollback["job"] in needs),
        "gate": condition in GATE_IFS,
        "other": condition in ON_EVENTS,
    }[role]
    if allowed:
        return []
    return [f"{name}: if {condition!r} is not allowed for a job of role {role}"]


def _job(
    name: str, job: Mapping[str, Any], sessions: Collection[str]
) -> tuple[list[str], list[str]]:
    found: list[str] = []
    for key in job:
        if key not in JOB_KEYS:
            found.append(f"{name}: key {key} is not allowed on a job")
    for key in ("name", "timeout-minutes"):
        if key not in job:
            found.append(f"{name}: job has no {key}")
    if str(job.get("runs-on")) not in RUNNERS:
        found.append(f"{name}: runs-on {job.get('runs-on')!r} is not one of {sorted(RUNNERS)}")
    strategy = job.get("strategy")
    if isinstance(strategy, dict):
        found += [
            f"{name}: strategy key {k} is not allowed" for k in strategy if k not in STRATEGY_KEYS
        ]
    found += _env_problems(name, job.get("env"))
    steps = job.get("steps")
    if not isinstance(steps, list) or not steps:
        return [], found + [f"{name}: job has no steps"]
    run_sessions: list[str] = []
    for step in steps:
        if not isinstance(step, dict):
            found.append(f"{name}: step {step!r} is not a mapping")
            continue
        session, step_problems = _step(name, step, sessions)
        found += step_problems
        if session:
            run_sessions.append(session)
    role = _role(run_sessions, steps)
    found += _job_if(name, job, role)
    stage_indexes = [PIPELINE.index(s) for s in run_sessions if s in PIPELINE]
    if role == "stages" and any(s in RECOVERY for s in run_sessions):
        found.append(f"{name}: a job that runs pipeline stages runs no recovery session")
    if (
        role == "stages"
        and _expression(job.get("if", "")) == ON_MAIN
        and min(stage_indexes) < PIPELINE.index(FIRST_ON_MAIN)
    ):
        found.append(
            f"{name}: runs stages before {FIRST_ON_MAIN}: it must run for every push and "
            "pull request, not on main only"
        )
    for earlier, later in zip(stage_indexes, stage_indexes[1:]):
        if later <= earlier:
            found.append(
                f"{name}: {PIPELINE[later]} runs after {PIPELINE[earlier]}, against the "
                "pipeline's order"
            )
    return run_sessions, found


def _step(
    job: str, step: Mapping[str, Any], sessions: Collection[str]
) -> tuple[str | None, list[str]]:
    label = f"step {str(step.get('run') or step.get('uses') or step.get('name'))!r}"
    found = [f"{job}: {label}: key {key} is not allowed" for key in step if key not in STEP_KEYS]
    found += _env_problems(f"{job}: {label}", step.get("env"))
    condition = _expression(step["if"]) if "if" in step else None
    if ("run" in step) == ("uses" in step):
        return None, found + [f"{job}: {label}: a step has exactly one of run and uses"]
    if "uses" in step:
        found += _uses(job, str(step["uses"]), step.get("with"))
        if condition is not None and not _action_if_allowed(str(step["uses"]), condition):
            found.append(f"{job}: {label}: if {condition!r} is not allowed on an action step")
        return None, found
    command = str(step["run"])
    if command.endswith("\n") and command.count("\n") == 1:
        command = command[:-1]
    if command in SETUP_COMMANDS:
        allowed = VERIFY_STEP_IFS if command == VERIFY_ATTESTATION else SETUP_STEP_IFS
        if condition is not None and condition not in allowed:
            found.append(f"{job}: {label}: if {condition!r} is not allowed on a set-up step")
        return None, found
    if command in {f"{AS_ROOT} -s {stage}" for stage in AS_ROOT_STAGES}:
        command = "nox" + command.removeprefix(AS_ROOT)  # judged as the nox call it is
    call = NOX_CALL.fullmatch(command)
    if call is None:
        return None, found + [
            f"{job}: run step is not `nox -s <session> [-- <literal args>]`: {command!r}"
        ]
    session = call["session"]
    if session not in sessions:
        return None, found + [f"{job}: nox session {session!r} does not exist"]
    if session not in (*PIPELINE, *RECOVERY, *SUPPORT):
        found.append(f"{job}: nox session {session!r} is not a pipeline stage")
    if session in PASSTHROUGH and call["args"]:
        found.append(
            f"{job}: {label}: {session} takes no arguments here (they would go to its tool)"
        )
    if condition is not None:
        found.append(f"{job}: {label}: if {condition!r}: a step that runs a stage always runs")
    return session, found


def _action_if_allowed(uses: str, condition: str) -> bool:
    """An upload guard (USES_STEP_IF); for an action only GitHub can run, that guard and
    ``!github.event.act``, or the latter alone."""
    if USES_STEP_IF.fullmatch(condition):
        return True
    if uses.split("@")[0] not in NEEDS_GITHUB_ACTIONS:
        return False
    if condition == NOT_UNDER_ACT:
        return True
    guard, _, last = condition.rpartition(" && ")
    return last == NOT_UNDER_ACT and bool(USES_STEP_IF.fullmatch(guard))


def _uses(job: str, uses: str, inputs: object) -> list[str]:
    if uses.startswith("./") or uses.startswith("docker://"):
        return [f"{job}: uses {uses}: local and docker actions are not allowed"]
    match = USES.fullmatch(uses)
    if match is None:
        return [f"{job}: uses {uses}: not owner/repo@ref"]
    found = []
    action = match["action"]
    if not FULL_SHA.fullmatch(match["ref"]):
        found.append(f"{job}: uses {uses}: not pinned by a full commit SHA")
    if action not in ALLOWED_ACTIONS:
        return found + [f"{job}: uses {uses}: {action} is not an allowed action"]
    given = inputs if isinstance(inputs, dict) else {}
    found += [
        f"{job}: {action}: input {key} is not allowed"
        for key in given
        if key not in ALLOWED_ACTIONS[action]
    ]
    # A checkout that keeps the token in .git/config hands it to every later step.
    if action == "actions/checkout" and given.get("persist-credentials") is not False:
        found.append(f"{job}: actions/checkout: persist-credentials must be false")
    return found


def _coverage(ran: Mapping[str, list[str]]) -> list[str]:
    covered = {session for sessions_run in ran.values() for session in sessions_run}
    return [
        f"pipeline stage {stage!r} is not in the workflow"
        for stage in (*PIPELINE, *RECOVERY)
        if stage not in covered
    ]


def _order(jobs: Mapping[str, Any], ran: Mapping[str, list[str]]) -> list[str]:
    found: list[str] = []

    def needs_of(name: str) -> list[str]:
        needs = jobs[name].get("needs", []) if isinstance(jobs[name], dict) else []
        return [needs] if isinstance(needs, str) else list(needs or [])

    def ancestors(name: str) -> set[str]:
        seen: set[str] = set()
        pending = [name]
        while pending:
            current = pending.pop()
            for need in needs_of(current):
                if need not in jobs:
                    found.append(f"{current}: needs unknown job {need!r}")
                elif need not in seen:
                    seen.add(need)
                    pending.append(need)
        return seen

    # Recovery jobs (a deploy's rollback, by hand) are not pipeline steps. A job waits for
    # every job that runs a step one of its steps needs (gates.stages.prerequisites): the
    # checks of a commit run side by side, everything from build on in the pipeline's order.
    stage_jobs = {
        name: [s for s in sessions_run if s in PIPELINE]
        for name, sessions_run in ran.items()
        if any(s in PIPELINE for s in sessions_run)
    }
    before = {name: ancestors(name) for name in jobs}
    for name, sessions_run in stage_jobs.items():
        for other, other_sessions in stage_jobs.items():
            if other == name or other in before[name]:
                continue
            for session in sessions_run:
                needed = [s for s in other_sessions if s in stages.prerequisites(session)]
                if needed:
                    found.append(f"{name} ({session}) does not wait for {other} ({needed[0]})")
                    break
    return found
