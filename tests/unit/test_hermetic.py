"""The suite never reads the caller's environment (support.hermetic): a developer who exports
the docs' offline settings, a state directory or a job's summary file gets CI's verdicts."""

import os
import subprocess
import sys
from pathlib import Path

from support.hermetic import caller_variables, without_caller_variables
from support.timeouts import GATES_TIMEOUT

TESTS = Path(__file__).resolve().parents[1]
EXPORTED = {
    "PIPELINE_ADVISORY_SOURCES": "osv",
    "PIPELINE_OSV_DIR": "/nonexistent/osv",
    "PIPELINE_STATE_DIR": "/nonexistent/state",
    "PIPELINE_TARGETS": '[environments.staging]\ntarget = "swarm"',
    "GITHUB_ACTIONS": "true",
    "REGISTRY_USERNAME": "someone",
    "GITHUB_STEP_SUMMARY": "/nonexistent/summary.md",
    "DOCKER_CONTEXT": "elsewhere",
    "ENVIRONMENT": "production",
    "WEB_CONCURRENCY": "0",
}


def test_no_caller_variable_reaches_a_test() -> None:
    assert caller_variables(os.environ) == []


def test_the_variables_are_removed_for_the_run_and_given_back(monkeypatch) -> None:
    for name, value in {**EXPORTED, "PATH_KEPT": "1", "CI": "true"}.items():
        monkeypatch.setenv(name, value)
    removed = without_caller_variables()
    assert next(removed) == EXPORTED
    assert not set(EXPORTED) & set(os.environ) and os.environ["PATH_KEPT"] == "1"
    assert os.environ["CI"] == "true"  # kept: it makes engine-backed tests fail, not skip
    assert next(removed, None) is None  # resumed: given back
    assert {name: os.environ[name] for name in EXPORTED} == EXPORTED


def test_a_run_with_the_docs_offline_settings_exported_sees_none_of_them() -> None:
    """The first test above, in a pytest of its own started with the variables exported."""
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "no:cacheprovider",
            "-q",
            f"{Path(__file__)}::test_no_caller_variable_reaches_a_test",
        ],
        cwd=TESTS.parent,
        env={**os.environ, **EXPORTED},
        capture_output=True,
        text=True,
        timeout=GATES_TIMEOUT,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "1 passed" in done.stdout
