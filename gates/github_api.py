"""The one client of GitHub's REST API, on gates.httpget: a workflow run and its jobs.

``GitHub.from_environment()`` is the API of the run a job belongs to, as GitHub Actions
describes it (``GITHUB_API_URL``, ``GITHUB_REPOSITORY``) with the job's token in ``GH_TOKEN``
(``${{ github.token }}``; reading a run's jobs needs ``permissions: actions: read``).

Whatever goes wrong asking it is one MeasurementError (exit 3), in one line naming what was
asked and what failed: no token, nothing answered (unreachable, timed out: e.g. under act,
which has no API of its own), another HTTP status (with GitHub's ``message``), a body that is
not JSON, or JSON that is not the API's. The token goes only to the API's own host: a
``Link: rel="next"`` elsewhere is refused, not followed.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from gates import httpget
from gates.httpget import excerpt
from gates.outcome import MeasurementError

TIMEOUT = 30.0  # s: a bound on a hang; GitHub answers these in well under a second
TOKEN_ENV = "GH_TOKEN"
DEFAULT_API_URL = "https://api.github.com"
API_VERSION = "2022-11-28"
PER_PAGE = 100  # the API's most
MOST_PAGES = 20  # 2,000 jobs: far past any run of this workflow; a bound on a paging loop
NEXT_LINK = re.compile(r'<(?P<url>[^>]+)>\s*;\s*rel="next"')


@dataclass(frozen=True)
class GitHub:
    """GitHub's REST API at ``url`` (e.g. https://api.github.com) for ``repository``
    (owner/name), authenticated with ``token``."""

    url: str
    repository: str
    token: str
    timeout: float = TIMEOUT

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] = os.environ) -> GitHub:
        """The API of the run this process is part of; MeasurementError when the environment
        does not say which repository, or holds no token."""
        repository = environ.get("GITHUB_REPOSITORY", "")
        if not re.fullmatch(r"[\w.-]+/[\w.-]+", repository):
            raise MeasurementError(
                f"GITHUB_REPOSITORY is {repository!r}, not owner/name: is this GitHub Actions?"
            )
        token = environ.get(TOKEN_ENV, "")
        if not token:
            raise MeasurementError(
                f"no token in ${TOKEN_ENV}: the step needs `env: {TOKEN_ENV}: "
                "${{ github.token }}` and the job `permissions: actions: read`"
            )
        return cls(environ.get("GITHUB_API_URL") or DEFAULT_API_URL, repository, token)

    def workflow_run(self, run_id: int) -> dict[str, Any]:
        """The workflow run ``run_id`` (its ``created_at``, ``head_commit`` and so on)."""
        answer = self.get(f"/repos/{self.repository}/actions/runs/{run_id}")
        if not isinstance(answer, dict) or not isinstance(answer.get("id"), int):
            raise self.malformed(f"run {run_id}", answer)
        return answer

    def run_jobs(self, run_id: int, attempt: int | None = None) -> list[dict[str, Any]]:
        """Every job of attempt ``attempt`` of run ``run_id`` (None: its latest), every page."""
        base = f"/repos/{self.repository}/actions/runs/{run_id}"
        path: str | None = (
            f"{base}/jobs?filter=latest&per_page={PER_PAGE}"
            if attempt is None
            else f"{base}/attempts/{attempt}/jobs?per_page={PER_PAGE}"
        )
        jobs: list[dict[str, Any]] = []
        for _ in range(MOST_PAGES):
            if path is None:
                return jobs
            answer, headers = self.page(path)
            page = answer.get("jobs") if isinstance(answer, dict) else None
            if not isinstance(page, list) or not all(isinstance(job, dict) for job in page):
                raise self.malformed(f"the jobs of run {run_id}", answer)
            jobs += page
            path = self.next_page(headers.get("link", ""))
        raise MeasurementError(
            f"GitHub API at {self.url}: the jobs of run {run_id} go on past "
            f"{MOST_PAGES} pages of {PER_PAGE}"
        )

    def get(self, path: str) -> object:
        """The JSON answer to GET ``path`` (under the API's URL, with its query string)."""
        return self.page(path)[0]

    def page(self, path: str) -> tuple[object, dict[str, str]]:
        """(JSON answer, headers with lower-case names) of GET ``path``."""
        prefix = urlsplit(self.url).path.rstrip("/")
        headers = {
            "Accept": "application/vnd.github+json",
            "Authorization": f"Bearer {self.token}",
            "X-GitHub-Api-Version": API_VERSION,
            "User-Agent": "sre-pipeline-gates",  # GitHub refuses a request without one
        }
        try:
            status, answer_headers, body = httpget.fetch(
                prefix + path, self.url, timeout=self.timeout, headers=headers
            )
        except (*httpget.FAILURES, ValueError) as exc:
            raise MeasurementError(
                f"GitHub API at {self.url} did not answer GET {path}: "
                f"{type(exc).__name__}: {exc}"
            ) from None
        try:
            answer: object = json.loads(body)
        except ValueError:
            raise MeasurementError(
                f"GitHub API at {self.url} answered GET {path} with HTTP {status} and no "
                f"JSON ({excerpt(body)})"
            ) from None
        if status != 200:
            message = answer.get("message") if isinstance(answer, dict) else None
            raise MeasurementError(
                f"GitHub API at {self.url} answered GET {path} with HTTP {status}: "
                f"{str(message)[:200] if message else excerpt(body)}{hint(status)}"
            )
        return answer, answer_headers

    def next_page(self, link: str) -> str | None:
        """The path of the next page a ``Link`` header names; None on the last page."""
        found = NEXT_LINK.search(link)
        if found is None:
            return None
        url, api = urlsplit(found["url"]), urlsplit(self.url)
        if (url.scheme, url.netloc) != (api.scheme, api.netloc):
            raise MeasurementError(
                f"GitHub API at {self.url} named a next page on another host "
                f"({url.scheme}://{url.netloc}); not sending the token there"
            )
        prefix = api.path.rstrip("/")
        path = url.path[len(prefix) :] if url.path.startswith(prefix) else url.path
        return path + (f"?{url.query}" if url.query else "")

    def malformed(self, what: str, answer: object) -> MeasurementError:
        return MeasurementError(
            f"GitHub API at {self.url}: the answer for {what} is not the API's "
            f"({str(answer)[:200]!r})"
        )


def hint(status: int) -> str:
    """What an HTTP status from the API usually means for a job's token."""
    if status == 401:
        return " (is $GH_TOKEN the job's github.token?)"
    if status in (403, 404):
        return " (does the job have `permissions: actions: read`?)"
    return ""
