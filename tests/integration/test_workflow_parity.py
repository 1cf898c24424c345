"""The workflow and the noxfile stay one pipeline: every run step is a nox session that
exists, every pipeline stage is in the workflow, and `needs:` follows the pipeline order."""

import copy
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from gates import stages

ROOT = Path(__file__).resolve().parents[2]
WORKFLOW = ROOT / ".github" / "workflows" / "ci-cd.yml"
# The pipeline's order as the registry declares it; the workflow's recovery path besides.
PIPELINE = tuple(step.session for step in stages.PIPELINE) + stages.WORKFLOW_ONLY
RECOVERY = ("failure()", "github.event_name == 'workflow_dispatch'")
BOOTSTRAP = "python -m pip install -r bootstrap-requirements.txt"
# The engine-backed tests' set-up, as .ci/run does it: Debian's packages (prometheus: the
# promtool the SLO rule tests run), then the engine session as root (it starts the registry
# and builds the base images with debootstrap).
ENGINE_SETUP = (
    "sudo apt-get install -y -q debootstrap docker-registry prometheus",
    'sudo --preserve-env=DOCKER_HOST "$(command -v nox)" -s engine -- up',
    'sudo --preserve-env=DOCKER_HOST "$(command -v nox)" -s engine -- down',
)
NOX_CALL = re.compile(r"^nox -s ([a-z][a-z0-9-]*)(?: -- .*)?$")


@pytest.fixture(scope="module")
def sessions():
    # nox is in the test group of the lock; -k with an always-true expression lists every
    # session, not only the default ones.
    listed = subprocess.run(
        [sys.executable, "-m", "nox", "-l", "--json", "-k", "not no_such_session"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    return {entry["session"] for entry in json.loads(listed)}


def workflow():
    return yaml.safe_load(WORKFLOW.read_text())


def job_sessions(job):
    """The nox sessions a job runs, in order; problems with any other run step."""
    found, problems = [], []
    for step in job.get("steps", []):
        command = step.get("run")
        if command is None:
            continue
        command = command.strip()
        match = NOX_CALL.match(command)
        if match:
            found.append(match.group(1))
        elif command not in (BOOTSTRAP, *ENGINE_SETUP):
            problems.append(f"run step is not a nox call: {command!r}")
    return found, problems


def parity_problems(document, sessions):
    problems = []
    jobs = document["jobs"]
    first_stage = {}
    covered = set()
    for name, job in jobs.items():
        found, bad = job_sessions(job)
        problems += [f"{name}: {p}" for p in bad]
        for session in found:
            if session not in sessions:
                problems.append(f"{name}: nox session {session!r} does not exist")
        covered.update(found)
        stages = [PIPELINE.index(s) for s in found if s in PIPELINE]
        # Recovery jobs (on a failure of the jobs they need, or by hand) are not pipeline steps.
        if stages and job.get("if") not in RECOVERY:
            first_stage[name] = min(stages)
    for stage in PIPELINE:
        if stage not in covered:
            problems.append(f"pipeline stage {stage!r} is not in the workflow")

    def ancestors(name, seen=None):
        seen = set() if seen is None else seen
        needs = jobs[name].get("needs", [])
        for need in [needs] if isinstance(needs, str) else needs:
            if need not in jobs:
                problems.append(f"{name}: needs unknown job {need!r}")
            elif need not in seen:
                seen.add(need)
                ancestors(need, seen)
        return seen

    for name, stage in first_stage.items():
        before = ancestors(name)
        for other, other_stage in first_stage.items():
            if other_stage < stage and other not in before:
                problems.append(
                    f"{name} ({PIPELINE[stage]}) does not wait for "
                    f"{other} ({PIPELINE[other_stage]})"
                )
    return sorted(set(problems))


def test_workflow_matches_the_noxfile(sessions):
    assert parity_problems(workflow(), sessions) == []


def test_pipeline_sessions_exist_in_the_noxfile(sessions):
    assert set(PIPELINE) <= sessions


def edited(change):
    document = copy.deepcopy(workflow())
    change(document["jobs"])
    return document


@pytest.mark.parametrize(
    "change, problem",
    [
        (
            lambda jobs: jobs["test"]["steps"].append({"run": "pytest -q"}),
            "test: run step is not a nox call: 'pytest -q'",
        ),
        (
            lambda jobs: jobs["lint"]["steps"].append({"run": "nox -s lnit"}),
            "lint: nox session 'lnit' does not exist",
        ),
        (
            lambda jobs: jobs["deploy-staging"]["steps"].__setitem__(
                slice(None),
                [s for s in jobs["deploy-staging"]["steps"] if "perf" not in s.get("run", "")],
            ),
            "pipeline stage 'perf' is not in the workflow",
        ),
        (
            lambda jobs: jobs["build"].__setitem__("needs", "lint"),
            "build (build) does not wait for security (security)",
        ),
        (
            lambda jobs: jobs["deploy-production"].__setitem__("needs", ["build", "nope"]),
            "deploy-production: needs unknown job 'nope'",
        ),
    ],
)
def test_an_edit_that_breaks_parity_is_caught(sessions, change, problem):
    assert problem in parity_problems(edited(change), sessions)
