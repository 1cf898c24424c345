"""The arithmetic of a run's cost (gates.run_timings): the critical path through ``needs``
against the sum of every job, GitHub's rounding of each job up to the whole minute, and the
workflow's job graph as the API's job names show it. The API itself: test_github_api.py and
tests/integration/test_summary_run_timings.py."""

import math
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gates.run_timings import (
    GraphCost,
    billable_minutes,
    duration,
    job_graph_cost,
    job_of,
    workflow_jobs,
)
from gates.outcome import MeasurementError
from support.github_run import WORKFLOW

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("seconds", "minutes"),
    [(0, 0), (0.4, 1), (1, 1), (59, 1), (60, 1), (60.5, 2), (61, 2), (720, 12), (781, 14)],
)
def test_each_job_is_billed_rounded_up_to_the_whole_minute(seconds, minutes):
    assert billable_minutes(seconds) == minutes


def test_the_critical_path_is_the_longest_chain_and_the_minutes_every_job():
    # lint, then three tests side by side, then build: the path takes the longest test; the
    # runner-minutes take every job, each rounded up on its own.
    durations = {"lint": 88, "unit": 61, "e2e": 600, "engine": 300, "build": 35}
    needs = {"unit": ["lint"], "e2e": ["lint"], "engine": ["lint"], "build": ["unit", "e2e"]}

    cost = job_graph_cost(durations, needs)

    assert cost == GraphCost(
        path=("lint", "e2e", "build"),
        path_seconds=88 + 600 + 35,
        runner_minutes=2 + 2 + 10 + 5 + 1,
        wall_seconds=88 + 61 + 600 + 300 + 35,
    )


def test_the_same_jobs_in_series_make_the_path_the_sum():
    durations = {"lint": 88, "test": 720, "security": 65}
    needs = {"test": ["lint"], "security": ["test"]}

    cost = job_graph_cost(durations, needs)

    assert cost.path == ("lint", "test", "security")
    assert cost.path_seconds == cost.wall_seconds == 873


def test_a_matrix_job_waits_for_its_longest_instance_and_bills_every_one():
    cost = job_graph_cost(
        {"lint": 30, "test": [720, 781, 700], "build": 35}, {"test": ["lint"], "build": ["test"]}
    )

    assert cost.path_seconds == 30 + 781 + 35
    assert cost.runner_minutes == 1 + (12 + 14 + 12) + 1


def test_the_path_to_a_job_ignores_what_runs_after_or_beside_it():
    durations = {"build": 35, "deploy-staging": 200, "deploy-production": 150, "summary": 900}
    needs = {
        "deploy-staging": ["build"],
        "deploy-production": ["build", "deploy-staging"],
        "summary": ["deploy-production"],
    }

    cost = job_graph_cost(durations, needs, to="deploy-production")

    assert cost.path == ("build", "deploy-staging", "deploy-production")
    assert cost.path_seconds == 385
    assert cost.runner_minutes == 1 + 4 + 3 + 15  # the cost is still every job's


def test_a_skipped_job_takes_no_time_but_what_it_waited_for_still_counts():
    # attest was skipped (absent from the durations): deploy waited for build through it.
    cost = job_graph_cost({"build": 35, "deploy": 150}, {"attest": ["build"], "deploy": ["attest"]})

    assert cost.path == ("build", "deploy")
    assert cost.path_seconds == 185
    assert cost.runner_minutes == 4


@pytest.mark.parametrize(
    ("durations", "needs", "to", "match"),
    [
        ({"a": 1, "b": 2}, {"a": ["b"], "b": ["a"]}, None, "cycle through 'a'"),
        ({"a": -1}, {}, None, "finite seconds >= 0"),
        ({"a": [1, math.nan]}, {}, None, "finite seconds >= 0"),
        ({"a": math.inf}, {}, None, "finite seconds >= 0"),
        ({"a": 1}, {}, "deploy-production", "'deploy-production' is not in the graph"),
    ],
)
def test_what_has_no_critical_path_is_refused(durations, needs, to, match):
    with pytest.raises(ValueError, match=match):
        job_graph_cost(durations, needs, to)


@given(
    st.dictionaries(
        st.sampled_from("abcdefgh"),
        st.lists(st.floats(0, 7200, allow_nan=False), min_size=1, max_size=3),
        min_size=1,
    ),
    st.data(),
)
def test_the_path_is_never_shorter_than_a_job_nor_longer_than_the_sum(durations, data):
    jobs = sorted(durations)
    # needs only on jobs earlier in the order: a graph GitHub accepts (no cycle).
    needs = {
        job: data.draw(st.lists(st.sampled_from(jobs[:i]), unique=True)) if i else []
        for i, job in enumerate(jobs)
    }

    cost = job_graph_cost(durations, needs)

    longest = max(max(values) for values in durations.values())
    assert longest - 1e-6 <= cost.path_seconds <= cost.wall_seconds + 1e-6
    assert cost.wall_seconds <= cost.runner_minutes * 60 + 1e-6
    assert cost.runner_minutes <= sum(len(v) for v in durations.values()) + cost.wall_seconds / 60
    for before, after in zip(cost.path, cost.path[1:]):
        assert before in needs[after]


@pytest.mark.parametrize(
    ("seconds", "shown"),
    [(0, "0 s"), (45.4, "45 s"), (88, "1 min 28 s"), (1319, "21 min 59 s"), (3720, "1 h 02 min")],
)
def test_durations_read_as_people_write_them(seconds, shown):
    assert duration(seconds) == shown


def test_the_api_names_of_jobs_map_to_the_workflow_jobs(tmp_path):
    path = tmp_path / "ci-cd.yml"
    path.write_text(WORKFLOW)

    workflow = workflow_jobs(path)

    assert job_of("lint", workflow) == "lint"
    assert job_of("test (Python 3.12)", workflow) == "test"
    assert job_of("deploy to production", workflow) == "deploy-production"
    assert job_of("all green", workflow) == "all-green"
    assert job_of("a job of another workflow", workflow) == "a job of another workflow"
    assert workflow["deploy-production"].needs == ("build", "deploy-staging")
    assert workflow["coverage"].needs == ("test", "e2e")
    assert workflow["deploy-production"].sessions == ("deploy-production", "slo")


def test_a_job_without_a_name_shows_its_id_and_a_matrix_its_values(tmp_path):
    path = tmp_path / "ci.yml"
    path.write_text(
        "jobs:\n  unit:\n    strategy: {matrix: {py: ['3.11']}}\n    steps: [{run: nox -s test}]\n"
        "  unit-e2e:\n    needs: unit\n    steps: [{run: nox -s e2e}]\n"
    )

    workflow = workflow_jobs(path)

    assert job_of("unit (3.11)", workflow) == "unit"
    assert job_of("unit-e2e", workflow) == "unit-e2e"


def test_this_repositorys_workflow_has_a_job_that_reaches_production():
    workflow = workflow_jobs(ROOT / ".github" / "workflows" / "ci-cd.yml")

    deploys = [job.id for job in workflow.values() if "deploy-production" in job.sessions]

    assert len(deploys) == 1, deploys
    # Every job's own name maps back to it (matrix names with a value in place).
    for job in workflow.values():
        shown = job.name.pattern.replace(".+?", "3.11").replace(r"(?: \(.+\))?", "")
        assert job_of(shown.replace("\\", ""), workflow) == job.id


@pytest.mark.parametrize(
    ("text", "match"),
    [
        (None, "no \\[tool.pipeline.lint\\] pipeline_workflow"),
        ("jobs: [unclosed", "cannot be read"),
        ("on: push\n", "has no jobs mapping"),
        ("jobs:\n  lint: just a string\n", "has no jobs mapping"),
    ],
)
def test_a_workflow_that_cannot_be_read_is_one_line(tmp_path, text, match):
    path = None
    if text is not None:
        path = tmp_path / "ci.yml"
        path.write_text(text)

    with pytest.raises(MeasurementError, match=match) as caught:
        workflow_jobs(path)

    assert "\n" not in str(caught.value)


def test_a_missing_workflow_is_one_line(tmp_path):
    with pytest.raises(MeasurementError, match="cannot be read: .*No such file"):
        workflow_jobs(tmp_path / "absent.yml")
