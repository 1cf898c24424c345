"""``gates summary`` in GitHub Actions: "This run" (time from the push to production, the
critical path, runner-minutes per job and their sum), from GitHub's API served by a real HTTP
server with a realistic run (support.github_run: pages of jobs, skipped jobs with null
timestamps, the summary job still in progress). The same figures are in ``summary.json``.
Timings inform and never gate: whatever cannot be read leaves one line saying why, no figure,
and the exit code the summary had without them."""

import json

import pytest

from gates import cli
from support.github_run import (
    WORKFLOW,
    actions_environment,
    job,
    pushed_to_production,
    serve_run,
    workflow_run,
)
from support.pipeline_project import make_project
from support.ports import free_port


@pytest.fixture
def project(tmp_path, monkeypatch):
    """A project whose pipeline workflow is of this repository's shape; the step summary file."""
    monkeypatch.chdir(tmp_path)
    config = make_project(tmp_path)
    config.write_text(
        config.read_text().replace(
            "[tool.pipeline.lint]\n",
            '[tool.pipeline.lint]\npipeline_workflow = ".github/workflows/ci-cd.yml"\n',
        )
    )
    (tmp_path / ".github" / "workflows" / "ci-cd.yml").write_text(WORKFLOW)
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(tmp_path / "step-summary.md"))
    return config


def summarise(config, monkeypatch, capsys, environ):
    """(exit code, stdout, the step summary, summary.json's details) of ``gates summary``."""
    for name, value in environ.items():
        monkeypatch.setenv(name, value)
    code = cli.main(["--config", str(config), "summary"])
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    root = config.parent
    report = json.loads((root / ".pipeline" / "reports" / "summary.json").read_text())
    return code, out, (root / "step-summary.md").read_text(), report["details"]


def test_a_push_that_reached_production(project, monkeypatch, capsys):
    with serve_run(workflow_run(), pushed_to_production(), page_size=4) as api:
        code, out, step_summary, details = summarise(
            project, monkeypatch, capsys, actions_environment(api.url)
        )

    assert code == 0, out
    assert "### This run" in step_summary and "### This run" in out
    # 10:20:07, deploy-production's end, from the commit (09:59:41) and the run (10:00:02).
    assert "**Push to production:** **20 min 26 s** from the push" in out
    assert "**20 min 05 s** from the run's creation" in out
    # lint, the tests and security ran beside e2e: the path goes through e2e alone.
    assert (
        "e2e 12 min 00 s → coverage 30 s → build 35 s → attest 21 s → "
        "deploy-staging 3 min 20 s → deploy-production 2 min 30 s = **19 min 16 s**" in out
    )
    assert "**Runner-minutes: 31 billable**" in out
    assert "from 26 min 10 s of wall time" in out
    assert "| test (Python 3.12) | success | 2026-03-02T10:00:11Z | 2 min 21 s | 3 |" in out
    assert "| roll staging back | skipped |   | — | 0 |" in out
    assert "| summary | in progress (this job) | 2026-03-02T10:20:15Z | — | — |" in out
    assert "not counted, not finished yet: summary, all green" in out

    run = details["run"]
    assert run["production"] == {
        "job": "deploy-production",
        "reached": True,
        "completed_at": "2026-03-02T10:20:07Z",
        "seconds_from_push": 1226.0,
        "seconds_from_run_created": 1205.0,
    }
    assert run["critical_path"] == {
        "to": "deploy-production",
        "jobs": ["e2e", "coverage", "build", "attest", "deploy-staging", "deploy-production"],
        "seconds": 1156.0,
    }
    assert run["runner_minutes"] == {
        "billable": 31,
        "wall_seconds": 1570.0,
        "not_counted": ["summary", "all green"],
    }
    by_name = {found["name"]: found for found in run["jobs"]}
    assert by_name["lint"]["wall_seconds"] == 88.0 and by_name["lint"]["billable_minutes"] == 2
    assert by_name["roll staging back"]["wall_seconds"] is None
    assert by_name["summary"]["this_job"] is True
    assert by_name["summary"]["billable_minutes"] is None
    assert len(run["jobs"]) == 14  # every page


def replaced(jobs, name, **fields):
    return [{**found, **fields} if found["name"] == name else found for found in jobs]


def test_a_failed_deploy_to_production_did_not_reach_it(project, monkeypatch, capsys):
    jobs = replaced(pushed_to_production(), "deploy to production", conclusion="failure")
    jobs = replaced(
        jobs,
        "roll production back",
        **{k: v for k, v in job("x", "10:20:15", "10:21:25").items() if k.endswith("_at")},
        conclusion="success",
    )
    with serve_run(workflow_run(), jobs) as api:
        code, out, _, details = summarise(
            project, monkeypatch, capsys, actions_environment(api.url)
        )

    assert code == 0, out
    assert "**Did not reach production:** job deploy-production ended failure." in out
    assert "Push to production" not in out
    run = details["run"]
    assert run["production"] == {
        "job": "deploy-production",
        "reached": False,
        "reason": "job deploy-production ended failure",
    }
    # The path runs through what finished (the rollback after the failed deploy), and its
    # minutes are billed too: 31 + 2.
    assert run["critical_path"]["to"] is None
    assert run["critical_path"]["jobs"][-2:] == ["deploy-production", "rollback-production"]
    assert run["runner_minutes"]["billable"] == 33


def test_a_deploy_skipped_after_a_failure_names_the_failure(project, monkeypatch, capsys):
    jobs = replaced(pushed_to_production(), "deploy to staging", conclusion="failure")
    jobs = replaced(
        jobs, "deploy to production", conclusion="skipped", started_at=None, completed_at=None
    )
    with serve_run(workflow_run(), jobs) as api:
        code, out, _, details = summarise(
            project, monkeypatch, capsys, actions_environment(api.url)
        )

    assert code == 0, out
    reason = "job deploy-production was skipped: deploy to staging failure"
    assert f"**Did not reach production:** {reason}." in out
    assert details["run"]["production"]["reason"] == reason


def test_a_pull_request_does_not_go_to_production_by_its_condition(project, monkeypatch, capsys):
    skipped = {"conclusion": "skipped", "started_at": None, "completed_at": None}
    jobs = pushed_to_production()
    for name in (
        "build the release",
        "attest the release",
        "deploy to staging",
        "deploy to production",
    ):
        jobs = replaced(jobs, name, **skipped)
    with serve_run(workflow_run(event="pull_request"), jobs) as api:
        _, out, _, details = summarise(project, monkeypatch, capsys, actions_environment(api.url))

    assert details["run"]["production"]["reason"] == (
        "job deploy-production was skipped: its condition excludes this run "
        "(pull_request on main)"
    )
    assert details["run"]["critical_path"]["jobs"] == ["e2e", "coverage"]
    assert "billable minutes" in out


def test_a_run_without_a_head_commit_gives_the_time_from_its_creation_only(
    project, monkeypatch, capsys
):
    with serve_run(workflow_run(pushed=None), pushed_to_production()) as api:
        _, out, _, details = summarise(project, monkeypatch, capsys, actions_environment(api.url))

    assert "the run has no head commit timestamp; **20 min 05 s** from the run's creation" in out
    assert details["run"]["production"]["seconds_from_push"] is None


def test_outside_github_actions_there_is_no_section(project, monkeypatch, capsys):
    code, out, step_summary, details = summarise(project, monkeypatch, capsys, {})

    assert code == 0
    assert "This run" not in out + step_summary
    assert "run timings" not in out
    assert details == {}


def unavailable(project, monkeypatch, capsys, environ):
    """The one line "This run" has when the timings cannot be read; exit code unchanged."""
    code, out, step_summary, details = summarise(project, monkeypatch, capsys, environ)
    assert code == 0, out
    lines = [line for line in out.splitlines() if line.startswith("run timings unavailable: ")]
    assert len(lines) == 1, out
    assert lines[0] in step_summary
    for figure in ("billable", "Critical path", "production:**", " min "):
        assert figure not in out.split("### This run")[1], out
    assert details == {"run": {"unavailable": lines[0].removeprefix("run timings unavailable: ")}}
    assert "ghs_canned0token" not in out
    return lines[0]


@pytest.mark.parametrize(
    ("overrides", "match"),
    [
        ({"GH_TOKEN": ""}, "no token in $GH_TOKEN"),
        ({"GITHUB_RUN_ID": "twelve"}, "GITHUB_RUN_ID is 'twelve', not a positive integer"),
        ({"GITHUB_RUN_ATTEMPT": "0"}, "GITHUB_RUN_ATTEMPT is '0', not a positive integer"),
        ({"GITHUB_REPOSITORY": "techcorp/other"}, "HTTP 404: Not Found"),
    ],
)
def test_what_the_job_does_not_give_is_one_line(project, monkeypatch, capsys, overrides, match):
    with serve_run(workflow_run(), pushed_to_production()) as api:
        line = unavailable(project, monkeypatch, capsys, actions_environment(api.url, **overrides))
    assert match in line


def test_act_without_an_api_is_one_line(project, monkeypatch, capsys):
    url = f"http://127.0.0.1:{free_port()}"
    line = unavailable(project, monkeypatch, capsys, actions_environment(url))
    assert f"GitHub API at {url} did not answer GET /repos/" in line


@pytest.mark.parametrize(
    ("change", "match"),
    [
        (lambda jobs: replaced(jobs, "lint", started_at="yesterday"), "ValueError"),
        (lambda jobs: replaced(jobs, "lint", started_at="2026-03-02T10:00:09"), "no time zone"),
        (lambda jobs: replaced(jobs, "lint", completed_at="2026-03-02T09:00:00Z"), "before"),
        (lambda jobs: [{"name": "lint"}], "KeyError"),
        (
            lambda jobs: replaced(jobs, "deploy to production", completed_at=None),
            "succeeded with no completed_at",
        ),
    ],
)
def test_jobs_the_api_would_not_give_are_one_line(project, monkeypatch, capsys, change, match):
    with serve_run(workflow_run(), change(pushed_to_production())) as api:
        line = unavailable(project, monkeypatch, capsys, actions_environment(api.url))
    assert "run 14012345678 or its jobs are not the API's" in line and match in line


def test_a_workflow_that_cannot_be_read_is_one_line(project, monkeypatch, capsys):
    (project.parent / ".github" / "workflows" / "ci-cd.yml").write_text("jobs: [")
    with serve_run(workflow_run(), pushed_to_production()) as api:
        line = unavailable(project, monkeypatch, capsys, actions_environment(api.url))
    assert "workflow" in line and "cannot be read" in line


def test_the_summarys_own_exit_code_stands(project, monkeypatch, capsys):
    # A damaged ledger stops the summary (exit 2) before the timings are asked for.
    (project.parent / ".pipeline").mkdir(exist_ok=True)
    (project.parent / ".pipeline" / "ledger.sqlite").write_bytes(b"not a database")
    with serve_run(workflow_run(), pushed_to_production()) as api:
        for name, value in actions_environment(api.url).items():
            monkeypatch.setenv(name, value)
        code = cli.main(["--config", str(project), "summary"])

    assert code == 2
    assert api.asked == []
