"""The swarm scenarios' fixtures (tests/e2e/test_swarm*.py): a real engine, or a skip (a
failure with ``CI`` set) saying why not; and a scenario whose engine objects are all removed
afterwards."""

import os

import pytest

from support.swarm import SwarmScenario, engine_problem


@pytest.fixture(scope="module")
def swarm_engine() -> None:
    problem = engine_problem()
    if problem is None:
        return
    if os.environ.get("CI"):
        pytest.fail(f"CI is set but the swarm tests cannot run: {problem}")
    pytest.skip(
        f"SWARM TESTS NOT RUN: {problem}. Start an engine (README: engine-backed tests) "
        "and set DOCKER_HOST"
    )


@pytest.fixture
def swarm(tmp_path, shared_releases, swarm_engine):
    scenario = SwarmScenario(tmp_path, shared_releases)
    yield scenario
    scenario.remove_everything()
    assert scenario.wait_gone(("service", "container", "network", "config")) == {}
