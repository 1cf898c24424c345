"""What a run on GitHub Actions cost in time and runner-minutes: ``gates summary``'s "This run".

The arithmetic is ``job_graph_cost(durations, needs, to)``: given each job's duration and the
job graph (``needs``), the critical path (the longest chain through ``needs``: no run of that
graph can finish sooner, however many runners) and the runner-minutes (each job rounded up to
the whole minute, as GitHub bills hosted runners). It is pure, so the same figures come from a
run's measured jobs here and from jobs timed one by one elsewhere (docs/ci.md, before/after).

``section(workflow, environ)`` measures the run this process is part of, from GitHub's API
(gates.github_api): each job's wall time and billable minutes, the time from the push (the
head commit's timestamp, and the run's creation) to the end of the job that runs
``nox -s deploy-production``, the critical path as measured, the sum. Outside GitHub Actions
(no ``GITHUB_RUN_ID``) there is no section; when the API or the workflow cannot be read, the
section says why in one line and gives no figure. Timings inform; they never gate.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml

from gates.checks.workflow_policy import NOX_CALL
from gates.github_api import GitHub
from gates.outcome import MeasurementError
from gates.report import markdown_cell

PRODUCTION_SESSION = "deploy-production"  # the job that runs it ends "push to production"
UNSUCCESSFUL = ("failure", "cancelled", "timed_out", "action_required", "startup_failure")


# --- the arithmetic ---------------------------------------------------------------------


@dataclass(frozen=True)
class GraphCost:
    """The critical path through a job graph, and what all its jobs cost."""

    path: tuple[str, ...]  # job names, first to last
    path_seconds: float  # the sum of their durations (a matrix job: its longest instance)
    runner_minutes: int  # every job (every matrix instance) rounded up to a minute, summed
    wall_seconds: float  # every job's (every instance's) duration, summed


def billable_minutes(seconds: float) -> int:
    """The minutes GitHub bills for one job on a hosted runner: rounded up to the whole
    minute (a job of 61 s is 2 minutes)."""
    return math.ceil(seconds / 60)


def job_graph_cost(
    durations: Mapping[str, float | Sequence[float]],
    needs: Mapping[str, Collection[str]],
    to: str | None = None,
) -> GraphCost:
    """The critical path and the runner-minutes of the jobs ``durations`` (seconds per job;
    a sequence for a matrix job's instances: ``needs`` waits for all of them) under the job
    graph ``needs`` (job -> the jobs it waits for).

    The critical path is the chain through ``needs`` with the largest sum of durations, ending
    at ``to`` (None: wherever it is longest). A job named in ``needs`` but absent from
    ``durations`` did not run (skipped): it takes no time, but what it waited for still counts.
    ValueError on a negative or non-finite duration, a cycle, or an unknown ``to``."""
    instances: dict[str, list[float]] = {}
    for job, taken in durations.items():
        values = [float(taken)] if isinstance(taken, (int, float)) else [float(t) for t in taken]
        if not all(math.isfinite(v) and v >= 0 for v in values):
            raise ValueError(f"job {job!r}: durations must be finite seconds >= 0, got {taken!r}")
        instances[job] = values
    jobs = sorted(set(instances) | set(needs) | {n for ns in needs.values() for n in ns})
    if to is not None and to not in jobs:
        raise ValueError(f"job {to!r} is not in the graph")
    finish: dict[str, tuple[float, tuple[str, ...]]] = {}
    visiting: set[str] = set()

    def longest(job: str) -> tuple[float, tuple[str, ...]]:
        if job in finish:
            return finish[job]
        if job in visiting:
            raise ValueError(f"the job graph has a cycle through {job!r}")
        visiting.add(job)
        before = max(
            (longest(need) for need in sorted(needs.get(job, ()))),
            key=lambda found: found[0],
            default=(0.0, ()),
        )
        visiting.discard(job)
        finish[job] = (before[0] + max(instances.get(job, [0.0]), default=0.0), (*before[1], job))
        return finish[job]

    for job in jobs:
        longest(job)
    seconds, path = finish[to] if to else max(finish.values(), key=lambda found: found[0])
    taken = [v for values in instances.values() for v in values]
    return GraphCost(
        path=tuple(job for job in path if job in instances),
        path_seconds=seconds,
        runner_minutes=sum(billable_minutes(v) for v in taken),
        wall_seconds=sum(taken),
    )


# --- the workflow's job graph -----------------------------------------------------------


@dataclass(frozen=True)
class WorkflowJob:
    """One job of the workflow: its id, what GitHub shows as its name, what it waits for and
    the nox sessions it runs."""

    id: str
    name: re.Pattern[str]
    needs: tuple[str, ...]
    sessions: tuple[str, ...]

    def shows(self, name: str) -> bool:
        return self.name.fullmatch(name) is not None


def workflow_jobs(path: Path | None) -> dict[str, WorkflowJob]:
    """The jobs of the workflow at ``path``; MeasurementError when it cannot be read."""
    if path is None:
        raise MeasurementError(
            "no [tool.pipeline.lint] pipeline_workflow to read the job graph from"
        )
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeError, yaml.YAMLError) as exc:
        raise MeasurementError(
            f"workflow {path} cannot be read: {str(exc).splitlines()[0]}"
        ) from None
    jobs = document.get("jobs") if isinstance(document, dict) else None
    if not isinstance(jobs, dict) or not all(isinstance(job, dict) for job in jobs.values()):
        raise MeasurementError(f"workflow {path} has no jobs mapping")
    return {str(job_id): _workflow_job(str(job_id), job) for job_id, job in jobs.items()}


def _workflow_job(job_id: str, job: Mapping[str, Any]) -> WorkflowJob:
    needs = job.get("needs") or ()
    # GitHub shows the name with its expressions evaluated, and a matrix job whose name uses
    # no matrix value with the values appended: "test (3.11)".
    parts = re.split(r"\$\{\{.*?\}\}", str(job.get("name", job_id)))
    pattern = ".+?".join(re.escape(part) for part in parts)
    if "strategy" in job:
        pattern += r"(?: \(.+\))?"
    steps = job.get("steps") if isinstance(job.get("steps"), list) else []
    calls = [NOX_CALL.fullmatch(str(step.get("run", "")).strip()) for step in steps or []]
    return WorkflowJob(
        id=job_id,
        name=re.compile(pattern),
        needs=(needs,) if isinstance(needs, str) else tuple(str(n) for n in needs),
        sessions=tuple(call["session"] for call in calls if call),
    )


def job_of(name: str, workflow: Mapping[str, WorkflowJob]) -> str:
    """The id of the workflow job GitHub shows as ``name`` (a job with no expression in its
    name wins over one with); the name itself when none matches."""
    matching = [job for job in workflow.values() if job.shows(name)]
    exact = [job for job in matching if job.name.pattern == re.escape(name)]
    return (exact or matching)[0].id if matching else name


# --- one run, measured ------------------------------------------------------------------


def section(
    workflow: Path | None, environ: Mapping[str, str] = os.environ
) -> tuple[str, dict[str, Any]]:
    """("This run" as Markdown, the same as JSON details) for the run this process is part
    of; ("", {}) outside GitHub Actions. Never raises for what it cannot read: it says so."""
    if not environ.get("GITHUB_RUN_ID"):
        return "", {}
    try:
        details = measure(workflow, environ)
    except MeasurementError as exc:
        reason = " ".join(str(exc).split())
        return f"### This run\n\nrun timings unavailable: {reason}\n", {"unavailable": reason}
    return markdown(details), details


def measure(workflow: Path | None, environ: Mapping[str, str]) -> dict[str, Any]:
    """The run's timings as JSON details; MeasurementError when anything cannot be read."""
    run_id = _positive(environ.get("GITHUB_RUN_ID", ""), "GITHUB_RUN_ID")
    given = environ.get("GITHUB_RUN_ATTEMPT")
    attempt = _positive(given, "GITHUB_RUN_ATTEMPT") if given else None
    graph = workflow_jobs(workflow)
    client = GitHub.from_environment(environ)
    run = client.workflow_run(run_id)
    jobs = client.run_jobs(run_id, attempt)
    try:
        return run_details(run, jobs, graph, environ.get("GITHUB_JOB"), client.url)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise MeasurementError(
            f"GitHub API at {client.url}: run {run_id} or its jobs are not the API's "
            f"({type(exc).__name__}: {str(exc)[:200]})"
        ) from None


def _positive(text: str, name: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise MeasurementError(f"{name} is {text!r}, not a positive integer")
    return int(text)


def timestamp(value: object) -> datetime | None:
    """A timestamp of the API (ISO 8601 with a zone); None for null; ValueError otherwise."""
    if value is None:
        return None
    moment = datetime.fromisoformat(str(value))
    if moment.tzinfo is None:
        raise ValueError(f"timestamp {value!r} has no time zone")
    return moment


def job_details(found: Mapping[str, Any], job: str, this_job: bool) -> dict[str, Any]:
    """One job of the API as JSON details: its times, wall time and billable minutes (None
    while it runs; a job that never started, skipped or not, took none and is billed none)."""
    status, conclusion = str(found["status"]), found["conclusion"]
    started, completed = timestamp(found["started_at"]), timestamp(found["completed_at"])
    wall: float | None = None
    billed: int | None = None
    if status == "completed":
        billed = 0
        if conclusion != "skipped" and started and completed:
            wall = (completed - started).total_seconds()
            if wall < 0:
                raise ValueError(f"job {found['name']!r} completed before it started")
            billed = billable_minutes(wall)
    return {
        "name": str(found["name"]),
        "job": job,
        "status": status,
        "conclusion": None if conclusion is None else str(conclusion),
        "started_at": found["started_at"],
        "completed_at": found["completed_at"],
        "wall_seconds": wall,
        "billable_minutes": billed,
        "this_job": this_job,
    }


def run_details(
    run: Mapping[str, Any],
    found_jobs: Sequence[Mapping[str, Any]],
    workflow: Mapping[str, WorkflowJob],
    this_job: str | None,
    source: str,
) -> dict[str, Any]:
    """The JSON details of ``run`` and its jobs as the API gives them, under ``workflow``'s
    job graph; ``this_job`` is the id of the job measuring (GITHUB_JOB)."""
    jobs = []
    for found in found_jobs:
        job_id = job_of(str(found["name"]), workflow)
        running = found["status"] != "completed"
        jobs.append(job_details(found, job_id, job_id == this_job and running))
    head_commit = run.get("head_commit") or {}
    details: dict[str, Any] = {
        "source": f"GitHub API at {source}",
        "run_id": run["id"],
        "run_attempt": run.get("run_attempt"),
        "html_url": run.get("html_url"),
        "event": run.get("event"),
        "head_branch": run.get("head_branch"),
        "head_sha": run.get("head_sha"),
        "head_commit_timestamp": head_commit.get("timestamp"),
        "created_at": run["created_at"],
        "jobs": jobs,
    }
    durations: dict[str, list[float]] = {}
    for measured in jobs:
        if measured["wall_seconds"] is not None:
            durations.setdefault(measured["job"], []).append(measured["wall_seconds"])
    needs = {job_id: graph_job.needs for job_id, graph_job in workflow.items()}
    production = _production(run, jobs, workflow)
    to = production["job"] if production["reached"] else None
    cost = job_graph_cost(durations, needs, to) if durations else None
    details["production"] = production
    details["critical_path"] = {
        "to": to,
        "jobs": list(cost.path) if cost else [],
        "seconds": cost.path_seconds if cost else None,
    }
    details["runner_minutes"] = {
        "billable": cost.runner_minutes if cost else 0,
        "wall_seconds": cost.wall_seconds if cost else 0.0,
        "not_counted": [job["name"] for job in jobs if job["billable_minutes"] is None],
    }
    return details


def _production(
    run: Mapping[str, Any], jobs: Sequence[Mapping[str, Any]], workflow: Mapping[str, WorkflowJob]
) -> dict[str, Any]:
    """Whether and when the run reached production: the end of the job that runs
    ``nox -s deploy-production``, from the push and from the run's creation."""
    deploy = next((j for j in workflow.values() if PRODUCTION_SESSION in j.sessions), None)
    if deploy is None:
        return {
            "job": None,
            "reached": False,
            "reason": f"no job of the workflow runs nox -s {PRODUCTION_SESSION}",
        }
    found = [job for job in jobs if job["job"] == deploy.id]
    done = next((job for job in found if job["conclusion"] == "success"), None)
    if done is None:
        return {"job": deploy.id, "reached": False, "reason": _why_not(deploy, run, jobs, workflow)}
    end = timestamp(done["completed_at"])
    if end is None:
        raise ValueError(f"job {done['name']!r} succeeded with no completed_at")
    pushed = timestamp((run.get("head_commit") or {}).get("timestamp"))
    created = timestamp(run["created_at"])
    assert created is not None  # run["created_at"] is never null in the API
    return {
        "job": deploy.id,
        "reached": True,
        "completed_at": done["completed_at"],
        "seconds_from_push": None if pushed is None else (end - pushed).total_seconds(),
        "seconds_from_run_created": (end - created).total_seconds(),
    }


def _why_not(
    deploy: WorkflowJob,
    run: Mapping[str, Any],
    jobs: Sequence[Mapping[str, Any]],
    workflow: Mapping[str, WorkflowJob],
) -> str:
    """Why the production job did not succeed, in a few words: its own conclusion, and for a
    skip the jobs before it that failed, or its condition."""
    found = [job for job in jobs if job["job"] == deploy.id]
    if not found:
        return f"job {deploy.id} is not among this run's jobs"
    job = found[0]
    if job["status"] != "completed":
        return f"job {deploy.id} is still {job['status']}"
    if job["conclusion"] != "skipped":
        return f"job {deploy.id} ended {job['conclusion']}"
    failed: list[str] = []
    seen: set[str] = set()
    pending = list(deploy.needs)
    while pending:
        need = pending.pop()
        if need in seen:
            continue
        seen.add(need)
        ran = [j for j in jobs if j["job"] == need]
        failed += [f"{j['name']} {j['conclusion']}" for j in ran if j["conclusion"] in UNSUCCESSFUL]
        # A job skipped (or absent) because of what it waited for: look further back.
        if all(j["conclusion"] == "skipped" for j in ran) and need in workflow:
            pending += workflow[need].needs
    if failed:
        return f"job {deploy.id} was skipped: {', '.join(sorted(failed))}"
    return (
        f"job {deploy.id} was skipped: its condition excludes this run "
        f"({run.get('event')} on {run.get('head_branch')})"
    )


# --- as people read it ------------------------------------------------------------------


def duration(seconds: float) -> str:
    """``45 s``, ``1 min 28 s``, ``1 h 02 min``: whole seconds, as the API's timestamps are."""
    whole = round(seconds)
    sign, whole = ("-" if whole < 0 else ""), abs(whole)
    if whole < 60:
        return f"{sign}{whole} s"
    if whole < 3600:
        return f"{sign}{whole // 60} min {whole % 60:02d} s"
    return f"{sign}{whole // 3600} h {whole % 3600 // 60:02d} min"


def markdown(details: Mapping[str, Any]) -> str:
    """ "This run" for the step summary and the job log, from the JSON details."""
    lines = ["### This run", ""]
    where = f"run {details['run_id']}"
    if details.get("html_url"):
        where = f"[{where}]({details['html_url']})"
    lines.append(
        f"{where} (attempt {details.get('run_attempt')}), {details.get('event')} on "
        f"{details.get('head_branch')} at {str(details.get('head_sha'))[:12]}; "
        f"from the {details['source']}.",
    )
    lines += ["", f"- {_production_line(details)}"]
    path = details["critical_path"]
    if path["jobs"]:
        durations: dict[str, float] = {}
        for job in details["jobs"]:
            if job["wall_seconds"] is not None:
                durations[job["job"]] = max(durations.get(job["job"], 0.0), job["wall_seconds"])
        chain = " → ".join(f"{job} {duration(durations[job])}" for job in path["jobs"])
        end = f"to {path['to']}" if path["to"] else "through the jobs that finished"
        lines.append(
            f"- **Critical path, as measured** ({end}: each job's wall time along `needs`, "
            f"a matrix job's longest instance): {chain} = **{duration(path['seconds'])}**"
            + (
                "; the rest of the time to production went waiting (for runners, for the run "
                "to start)."
                if path["to"]
                else "."
            )
        )
    minutes = details["runner_minutes"]
    running = minutes["not_counted"]
    lines.append(
        f"- **Runner-minutes: {minutes['billable']} billable** (each job's wall time rounded "
        f"up to the whole minute, as GitHub bills hosted runners), from "
        f"{duration(minutes['wall_seconds'])} of wall time"
        + (f"; not counted, not finished yet: {', '.join(running)}." if running else ".")
    )
    lines += [
        "",
        "| job | outcome | started | wall time | billable minutes (rounded up) |",
        "|---|---|---|---|---|",
    ]
    for job in details["jobs"]:
        if job["status"] != "completed":
            outcome = job["status"].replace("_", " ") + (" (this job)" if job["this_job"] else "")
        else:
            outcome = str(job["conclusion"])
        wall = "" if job["wall_seconds"] is None else duration(job["wall_seconds"])
        billed = "" if job["billable_minutes"] is None else str(job["billable_minutes"])
        cells = [job["name"], outcome, job["started_at"] or "", wall or "—", billed or "—"]
        lines.append("| " + " | ".join(markdown_cell(cell) for cell in cells) + " |")
    return "\n".join(lines) + "\n"


def _production_line(details: Mapping[str, Any]) -> str:
    production = details["production"]
    if not production["reached"]:
        return f"**Did not reach production:** {production['reason']}."
    pushed = production["seconds_from_push"]
    if pushed is None:
        from_push = "the run has no head commit timestamp"
    elif pushed < 0:
        from_push = "not measured: the head commit's timestamp is after the deploy ended"
    else:
        from_push = f"**{duration(pushed)}** from the push (the head commit's timestamp, " + (
            f"{details['head_commit_timestamp']})"
        )
    return (
        f"**Push to production:** {from_push}; "
        f"**{duration(production['seconds_from_run_created'])}** from the run's creation "
        f"({details['created_at']}); to the end of {production['job']} "
        f"({production['completed_at']})."
    )
