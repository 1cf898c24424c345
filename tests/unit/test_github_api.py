"""The one GitHub REST API client (gates.github_api) against a real HTTP server on 127.0.0.1
that answers as GitHub does (support.github_run) or misbehaves as a test tells it: what it
sends, how it pages, and the one line it fails with (exit 3) for each way the API cannot be
read."""

import json

import pytest

from gates.github_api import MOST_PAGES, GitHub
from gates.outcome import COULD_NOT_MEASURE, MeasurementError
from support.canned_http import canned_http
from support.github_run import (
    JSON,
    REPOSITORY,
    RUN_ID,
    actions_environment,
    pushed_to_production,
    serve_run,
    workflow_run,
)
from support.ports import free_port


def fails(client_call, match):
    """The MeasurementError ``client_call`` raises: exit 3, one line, naming ``match``."""
    with pytest.raises(MeasurementError, match=match) as caught:
        client_call()
    assert caught.value.exit_code == COULD_NOT_MEASURE
    assert "\n" not in str(caught.value)
    return str(caught.value)


def test_it_asks_for_the_run_and_every_page_of_its_jobs_with_the_token():
    jobs = pushed_to_production()
    with serve_run(workflow_run(), jobs, page_size=4) as api:
        client = GitHub.from_environment(actions_environment(api.url))

        assert client.workflow_run(RUN_ID)["created_at"] == "2026-03-02T10:00:02Z"
        assert client.run_jobs(RUN_ID, attempt=1) == jobs  # 14 jobs: pages of 4, 4, 4, 2

    paths = [path for path, _ in api.asked]
    runs = f"/repos/{REPOSITORY}/actions/runs/{RUN_ID}"
    assert paths == [
        runs,
        f"{runs}/attempts/1/jobs?per_page=100",
        f"{runs}/attempts/1/jobs?per_page=100&page=2",
        f"{runs}/attempts/1/jobs?per_page=100&page=3",
        f"{runs}/attempts/1/jobs?per_page=100&page=4",
    ]
    for _, headers in api.asked:
        assert headers["Authorization"] == "Bearer ghs_canned0token"
        assert headers["Accept"] == "application/vnd.github+json"
        assert headers["X-GitHub-Api-Version"] == "2022-11-28"
        assert headers["User-Agent"]  # GitHub refuses a request without one


def test_without_an_attempt_it_asks_for_the_latest_jobs():
    with serve_run(workflow_run(), pushed_to_production()[:2]) as api:
        GitHub.from_environment(actions_environment(api.url)).run_jobs(RUN_ID)

    assert (
        api.asked[0][0]
        == f"/repos/{REPOSITORY}/actions/runs/{RUN_ID}/jobs?filter=latest&per_page=100"
    )


def test_an_api_behind_a_path_prefix_keeps_it_on_every_page():
    # GitHub Enterprise Server: GITHUB_API_URL is https://HOST/api/v3.
    asked = []

    def answer(method, path, headers):
        asked.append(path)
        link = {"Link": f'<{base}/api/v3/next?page=2>; rel="next"'} if "page=2" not in path else {}
        return 200, {**JSON, **link}, json.dumps({"total_count": 2, "jobs": [{"n": 1}]}).encode()

    with canned_http(answer) as base:
        client = GitHub(base + "/api/v3", REPOSITORY, "t")
        assert client.run_jobs(RUN_ID, 2) == [{"n": 1}, {"n": 1}]

    assert asked == [
        f"/api/v3/repos/{REPOSITORY}/actions/runs/{RUN_ID}/attempts/2/jobs?per_page=100",
        "/api/v3/next?page=2",
    ]


@pytest.mark.parametrize(
    ("environ", "match"),
    [
        ({"GH_TOKEN": ""}, r"no token in \$GH_TOKEN: .*permissions: actions: read"),
        ({"GITHUB_REPOSITORY": ""}, "GITHUB_REPOSITORY is '', not owner/name"),
        ({"GITHUB_REPOSITORY": "no-slash"}, "GITHUB_REPOSITORY is 'no-slash'"),
    ],
)
def test_an_environment_that_does_not_say_where_or_how_is_one_line(environ, match):
    fails(lambda: GitHub.from_environment(actions_environment("http://x", **environ)), match)


def test_the_default_api_is_githubs():
    environ = actions_environment("")
    assert GitHub.from_environment(environ).url == "https://api.github.com"


def canned(status, body, headers=JSON):
    return lambda method, path, sent: (status, headers, body)


@pytest.mark.parametrize(
    ("answer", "match"),
    [
        (
            canned(401, b'{"message": "Bad credentials"}'),
            r"HTTP 401: Bad credentials \(is \$GH_TOKEN the job's github.token\?\)",
        ),
        (
            canned(403, b'{"message": "Resource not accessible by integration"}'),
            r"HTTP 403: Resource not accessible by integration \(does the job have "
            r"`permissions: actions: read`\?\)",
        ),
        (canned(404, b'{"message": "Not Found"}'), "HTTP 404: Not Found"),
        (canned(500, b"{}"), r"HTTP 500: '\{\}'"),
        (canned(502, b"<html>Bad gateway</html>", {}), "HTTP 502 and no JSON .*Bad gateway"),
        (canned(200, b"", {}), "HTTP 200 and no JSON \\(an empty body\\)"),
        (canned(200, b"[1, 2]"), r"the answer for run \d+ is not the API's"),
        (canned(200, b'{"id": "not a number"}'), r"the answer for run \d+ is not the API's"),
    ],
)
def test_a_run_the_api_does_not_give_is_one_line(answer, match):
    with canned_http(answer) as url:
        message = fails(lambda: GitHub(url, REPOSITORY, "t").workflow_run(RUN_ID), match)

    assert message.startswith(f"GitHub API at {url}")
    assert "ghs_" not in message and "Bearer" not in message


@pytest.mark.parametrize(
    ("body", "headers"),
    [
        (b'{"total_count": 1}', JSON),
        (b'{"total_count": 1, "jobs": {"name": "lint"}}', JSON),
        (b'{"total_count": 1, "jobs": ["lint"]}', JSON),
    ],
)
def test_jobs_that_are_not_the_apis_are_one_line(body, headers):
    with canned_http(canned(200, body, headers)) as url:
        fails(
            lambda: GitHub(url, REPOSITORY, "t").run_jobs(RUN_ID, 1),
            r"the answer for the jobs of run \d+ is not the API's",
        )


def test_a_next_page_on_another_host_is_not_sent_the_token():
    page = json.dumps({"total_count": 2, "jobs": [{"name": "lint"}]}).encode()
    elsewhere = {**JSON, "Link": '<https://collector.example/steal?page=2>; rel="next"'}
    with canned_http(canned(200, page, elsewhere)) as url:
        fails(
            lambda: GitHub(url, REPOSITORY, "t").run_jobs(RUN_ID, 1),
            r"named a next page on another host \(https://collector.example\)",
        )


def test_pages_that_never_end_are_bounded():
    asked = []

    def answer(method, path, headers):
        asked.append(path)
        link = {"Link": f'<{base}/again?page={len(asked) + 1}>; rel="next"'}
        return 200, {**JSON, **link}, b'{"total_count": 1, "jobs": []}'

    with canned_http(answer) as base:
        fails(
            lambda: GitHub(base, REPOSITORY, "t").run_jobs(RUN_ID, 1),
            f"go on past {MOST_PAGES} pages of 100",
        )

    assert len(asked) == MOST_PAGES


def test_an_api_that_does_not_answer_is_one_line():
    # act runs a workflow with no GitHub API behind it: nothing listens where it points.
    url = f"http://127.0.0.1:{free_port()}"
    fails(
        lambda: GitHub(url, REPOSITORY, "t").workflow_run(RUN_ID),
        f"GitHub API at {url} did not answer GET /repos/.*ConnectionRefusedError",
    )
