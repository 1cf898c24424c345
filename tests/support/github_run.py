"""A workflow run as GitHub's REST API gives it, served by a real HTTP server (canned_http).

``job(...)`` and ``workflow_run(...)`` are the API's objects (the fields GitHub sends, trimmed of
URLs nobody reads); ``serve_run(run, jobs, page_size)`` answers ``GET /repos/o/r/actions/runs/
{id}`` and its jobs (both endpoints), in pages with GitHub's ``Link`` header, and records what
was asked. ``WORKFLOW`` is a workflow of this repository's shape (lint, a test matrix, e2e
and security side by side, coverage, build, attest, staging, production with their rollbacks,
summary, all-green).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

from support.canned_http import canned_http

REPOSITORY = "techcorp/sre-cicd-pipeline"
RUN_ID = 14012345678
DAY = "2026-03-02"
JSON = {"Content-Type": "application/json; charset=utf-8"}

WORKFLOW = """\
name: ci-cd
on:
  push:
    branches: [main]
permissions: {}
jobs:
  lint:
    name: lint
    runs-on: ubuntu-latest
    timeout-minutes: 20
    steps:
      - run: nox -s lint
  test:
    name: test (Python ${{ matrix.python-version }})
    runs-on: ubuntu-latest
    timeout-minutes: 60
    strategy:
      matrix:
        python-version: ["3.11", "3.12"]
    steps:
      - run: nox -s test
  e2e:
    name: e2e
    runs-on: ubuntu-latest
    timeout-minutes: 60
    steps:
      - run: nox -s e2e
  coverage:
    name: coverage
    needs: [test, e2e]
    runs-on: ubuntu-latest
    timeout-minutes: 10
    steps:
      - run: nox -s coverage
  security:
    name: security
    runs-on: ubuntu-latest
    timeout-minutes: 20
    steps:
      - run: nox -s security
  build:
    name: build the release
    needs: [lint, coverage, security]
    runs-on: ubuntu-latest
    timeout-minutes: 30
    steps:
      - run: nox -s build
  attest:
    name: attest the release
    needs: build
    runs-on: ubuntu-latest
    timeout-minutes: 10
    steps:
      - uses: actions/attest-build-provenance@a2bbfa25375fe432b6a289bc6b6cd05ecd0c4c32
  deploy-staging:
    name: deploy to staging
    needs: [build, attest]
    runs-on: ubuntu-latest
    timeout-minutes: 30
    steps:
      - run: nox -s deploy-staging -- --release "$RELEASE_ID"
      - run: nox -s smoke
  rollback-staging:
    name: roll staging back
    needs: deploy-staging
    runs-on: ubuntu-latest
    timeout-minutes: 20
    steps:
      - run: nox -s rollback -- --environment staging
  deploy-production:
    name: deploy to production
    needs: [build, deploy-staging]
    runs-on: ubuntu-latest
    timeout-minutes: 30
    steps:
      - run: nox -s deploy-production -- --release "$RELEASE_ID"
      - run: nox -s slo -- --window 30s
  rollback-production:
    name: roll production back
    needs: deploy-production
    runs-on: ubuntu-latest
    timeout-minutes: 20
    steps:
      - run: nox -s rollback -- --environment production
  summary:
    name: summary
    needs: [lint, test, e2e, coverage, security, build, deploy-staging, deploy-production]
    runs-on: ubuntu-latest
    timeout-minutes: 10
    steps:
      - run: nox -s summary
  all-green:
    name: all green
    needs: [lint, test, e2e, coverage, security, build, attest, deploy-staging,
            deploy-production, summary]
    runs-on: ubuntu-latest
    timeout-minutes: 5
    steps:
      - uses: re-actors/alls-green@05ac9388f0aebcb5727afa17fcccfecd6f8ec5fe
"""


def at(clock: str | None) -> str | None:
    """``10:01:37`` on the run's day, as the API writes it."""
    return None if clock is None else f"{DAY}T{clock}Z"


_job_ids = iter(range(39000000001, 39000099999))


def job(
    name: str,
    started: str | None,
    completed: str | None,
    conclusion: str | None = "success",
    status: str = "completed",
) -> dict[str, Any]:
    """One job of the run as ``GET .../jobs`` lists it (times as ``HH:MM:SS``)."""
    job_id = next(_job_ids)
    return {
        "id": job_id,
        "run_id": RUN_ID,
        "workflow_name": "ci-cd",
        "head_branch": "main",
        "run_url": f"https://api.github.com/repos/{REPOSITORY}/actions/runs/{RUN_ID}",
        "run_attempt": 1,
        "node_id": "CR_kwDOExample",
        "head_sha": "9fceb02d0ae598e95dc970b74767f19372d61af8",
        "url": f"https://api.github.com/repos/{REPOSITORY}/actions/jobs/{job_id}",
        "html_url": f"https://github.com/{REPOSITORY}/actions/runs/{RUN_ID}/job/{job_id}",
        "status": status,
        "conclusion": conclusion,
        "created_at": at(started) or f"{DAY}T10:00:02Z",
        "started_at": at(started),
        "completed_at": at(completed),
        "name": name,
        "steps": [],
        "check_run_url": f"https://api.github.com/repos/{REPOSITORY}/check-runs/{job_id}",
        "labels": ["ubuntu-latest"],
        "runner_id": 1000 + job_id % 1000 if started else None,
        "runner_name": "GitHub Actions 1000" if started else None,
        "runner_group_id": 2 if started else None,
        "runner_group_name": "GitHub Actions" if started else None,
    }


def workflow_run(
    created: str = "10:00:02", pushed: str | None = "09:59:41", event: str = "push"
) -> dict[str, Any]:
    """The run as ``GET .../actions/runs/{id}`` gives it, its head commit made at ``pushed``."""
    return {
        "id": RUN_ID,
        "name": "ci-cd",
        "node_id": "WFR_kwLOExample",
        "head_branch": "main",
        "head_sha": "9fceb02d0ae598e95dc970b74767f19372d61af8",
        "path": ".github/workflows/ci-cd.yml",
        "display_title": "Deploy by digest",
        "run_number": 42,
        "event": event,
        "status": "in_progress",
        "conclusion": None,
        "workflow_id": 161335,
        "url": f"https://api.github.com/repos/{REPOSITORY}/actions/runs/{RUN_ID}",
        "html_url": f"https://github.com/{REPOSITORY}/actions/runs/{RUN_ID}",
        "created_at": at(created),
        "updated_at": f"{DAY}T10:40:00Z",
        "run_attempt": 1,
        "run_started_at": at(created),
        "head_commit": (
            None
            if pushed is None
            else {
                "id": "9fceb02d0ae598e95dc970b74767f19372d61af8",
                "tree_id": "d6cd1e2bd19e03a81132a23b2025920577f84e37",
                "message": "Deploy by digest",
                "timestamp": f"{DAY}T{pushed}Z",
                "author": {"name": "Octo Cat", "email": "octocat@example.com"},
                "committer": {"name": "Octo Cat", "email": "octocat@example.com"},
            }
        ),
    }


def pushed_to_production() -> list[dict[str, Any]]:
    """A push to main that reached production; the summary job measuring it still runs."""
    return [
        job("lint", "10:00:09", "10:01:37"),  # 88 s: 2 billable minutes
        job("test (Python 3.11)", "10:00:10", "10:02:10"),  # 120 s exactly: 2
        job("test (Python 3.12)", "10:00:11", "10:02:32"),  # 141 s: 3
        job("e2e", "10:00:12", "10:12:12"),  # 720 s: 12
        job("coverage", "10:12:20", "10:12:50"),  # 30 s: 1
        job("security", "10:00:13", "10:01:18"),  # 65 s: 2
        job("build the release", "10:12:58", "10:13:33"),  # 35 s: 1
        job("attest the release", "10:13:40", "10:14:01"),  # 21 s: 1
        job("deploy to staging", "10:14:09", "10:17:29"),  # 200 s: 4
        job("roll staging back", None, None, "skipped"),
        job("deploy to production", "10:17:37", "10:20:07"),  # 150 s: 3
        job("roll production back", None, None, "skipped"),
        job("summary", "10:20:15", None, None, "in_progress"),
        job("all green", None, None, None, "queued"),
    ]


@dataclass
class Served:
    """The API's base URL and every path it was asked for, with the headers sent."""

    url: str
    asked: list[tuple[str, dict[str, str]]] = field(default_factory=list)


@contextmanager
def serve_run(
    run: dict[str, Any], jobs: list[dict[str, Any]], page_size: int = 4
) -> Iterator[Served]:
    """The API of one repository holding ``run`` and its ``jobs``, ``page_size`` jobs a page
    (whatever ``per_page`` asks, to exercise the ``Link`` header)."""
    runs = f"/repos/{REPOSITORY}/actions/runs/{run['id']}"
    served: Served | None = None

    def answer(method: str, path: str, headers: dict[str, str]) -> tuple[int, dict, bytes]:
        assert served is not None
        served.asked.append((path, headers))
        url = urlsplit(path)
        if url.path == runs:
            return 200, JSON, json.dumps(run).encode()
        if re.fullmatch(rf"{runs}(/attempts/\d+)?/jobs", url.path):
            page = int(parse_qs(url.query).get("page", ["1"])[0])
            chunk = jobs[(page - 1) * page_size : page * page_size]
            headers_out = dict(JSON)
            if page * page_size < len(jobs):
                query = re.sub(r"(?:^|&)page=\d+", "", url.query)
                headers_out["Link"] = (
                    f'<{served.url}{url.path}?{query}&page={page + 1}>; rel="next", '
                    f'<{served.url}{url.path}?{query}&page=99>; rel="last"'
                )
            body = {"total_count": len(jobs), "jobs": chunk}
            return 200, headers_out, json.dumps(body).encode()
        not_found = {"message": "Not Found", "documentation_url": "https://docs.github.com/rest"}
        return 404, JSON, json.dumps(not_found).encode()

    with canned_http(answer) as url:
        served = Served(url)
        yield served


def actions_environment(api_url: str, **overrides: str) -> dict[str, str]:
    """What GitHub Actions sets for the summary job's step, with ``GH_TOKEN`` as the
    workflow passes it."""
    return {
        "GITHUB_ACTIONS": "true",
        "GITHUB_API_URL": api_url,
        "GITHUB_REPOSITORY": REPOSITORY,
        "GITHUB_RUN_ID": str(RUN_ID),
        "GITHUB_RUN_ATTEMPT": "1",
        "GITHUB_JOB": "summary",
        "GH_TOKEN": "ghs_canned0token",
        **overrides,
    }
