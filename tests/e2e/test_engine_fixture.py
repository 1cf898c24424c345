"""The `engine` fixture: without an engine a test is skipped, with the reason and the fix; with
CI set it fails instead, because CI must run the engine-backed tests."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
ENGINE_TEST = "tests/e2e/test_engine.py::test_up_on_a_running_engine_changes_nothing_and_down_leaves_it_running"  # noqa: E501
NOWHERE = "unix:///run/gates-no-engine/docker.sock"


def run_engine_test(ci):
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    env.update({"DOCKER_HOST": NOWHERE, **({"CI": "true"} if ci else {})})
    argv = [sys.executable, "-m", "pytest", ENGINE_TEST, "-p", "no:cacheprovider", "-rs"]
    return subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("ci", [False, True], ids=["laptop", "CI"])
def test_no_engine_skips_loudly_but_fails_under_ci(ci):
    done = run_engine_test(ci)
    reason = f"the container engine at {NOWHERE} is not ready (dockerd does not answer)"
    assert reason in done.stdout
    if ci:
        assert done.returncode == 1 and "1 error" in done.stdout
        assert "engine-backed test, and CI is set" in done.stdout
    else:
        assert done.returncode == 0 and "1 skipped" in done.stdout
        assert "SKIPPED" in done.stdout and "engine-backed test skipped" in done.stdout
