"""Fixtures and pytest settings only; the helpers they use live in ``support`` (and beside this
file: ``deploy_fixture``), imported normally.

Fixtures: the Flask app and client (in-process), real gunicorn servers on 127.0.0.1, the gates
CLI runner, end-to-end scenarios (clones of this repository with their own releases), the
container engine for engine-backed tests, swarm scenarios on it, and real Prometheus servers.
"""

import logging
import os
import subprocess
import sys
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import HealthCheck, settings

from deploy_fixture import Checkout, SharedReleases
from deploy_fixture import scenario as make_scenario
from support.engine import Engine, find_engine
from support.gates_cli import run_gates
from support.hermetic import without_caller_variables
from support.ports import free_port
from support.prometheus import Prometheus, start_prometheus
from support.servers import Server
from support.swarm import SwarmScenario, require_engine, scenario_removed_after
from techcorp_api import create_app
from techcorp_api.logs import ACCESS_LOGGER, SERVICE_LOGGER, JsonFormatter

# Property tests judge what the code does, never how fast a (possibly busy) machine runs it.
# "suite" (every run) tries 50 examples per property; "deep" (`nox -s test --
# --hypothesis-profile=deep`, nightly) 1,000. Tests name no example count of their own.
settings.register_profile(
    "suite", deadline=None, suppress_health_check=[HealthCheck.too_slow], max_examples=50
)
settings.register_profile("deep", settings.get_profile("suite"), max_examples=1000)
settings.load_profile("suite")


@pytest.fixture(scope="session", autouse=True)
def hermetic_environment() -> Iterator[dict[str, str]]:
    """The caller's PIPELINE_*, DOCKER_*, GITHUB_* and service settings are gone for the whole
    run (support.hermetic): a test that is about one sets it itself."""
    yield from without_caller_variables()


@pytest.fixture
def app() -> Flask:
    return create_app({"ENVIRONMENT": "test", "APP_VERSION": "9.9.9-test"})


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


class LineCollector(logging.Handler):
    """Keeps formatted log lines in memory."""

    def __init__(self) -> None:
        super().__init__()
        self.lines: list[str] = []
        self.setFormatter(JsonFormatter())

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


def collect_lines(logger_name: str) -> Iterator[list[str]]:
    collector = LineCollector()
    logger = logging.getLogger(logger_name)
    logger.addHandler(collector)
    yield collector.lines
    logger.removeHandler(collector)


@pytest.fixture
def access_lines() -> Iterator[list[str]]:
    """JSON lines the access log writes during the test."""
    yield from collect_lines(ACCESS_LOGGER)


@pytest.fixture
def service_lines() -> Iterator[list[str]]:
    """JSON lines the service's own logger writes during the test."""
    yield from collect_lines(SERVICE_LOGGER)


@pytest.fixture
def gunicorn_server(tmp_path: Path) -> Iterator[Callable[..., Server]]:
    """Factory: start ``python -m techcorp_api`` on a free loopback port; stops it afterwards."""
    started: list[Server] = []

    def start(*args: str, env: dict[str, str] | None = None, wait: bool = True) -> Server:
        port = free_port()
        log_path = tmp_path / f"gunicorn-{port}.log"
        environ = {
            **os.environ,
            "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / f"metrics-{port}"),
            **(env or {}),
        }
        with open(log_path, "wb") as log:
            process = subprocess.Popen(
                [sys.executable, "-m", "techcorp_api", "--bind", f"127.0.0.1:{port}", *args],
                env=environ,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        server = Server(process, f"http://127.0.0.1:{port}", log_path)
        started.append(server)
        if wait:
            server.wait_ready()
        return server

    yield start
    for server in started:
        server.stop()


@pytest.fixture
def gates() -> Callable[..., "subprocess.CompletedProcess[str]"]:
    """``gates(config_path, *args, env=, state_dir=, cwd=, timeout=, check=)``: runs
    ``python -m gates`` as a subprocess; see ``support.gates_cli.run_gates``."""
    return run_gates


@pytest.fixture(scope="session")
def shared_releases(tmp_path_factory: pytest.TempPathFactory, worker_id: str) -> SharedReleases:
    """Releases built once per test run (shared by all xdist workers), see deploy_fixture."""
    base = tmp_path_factory.getbasetemp()
    return SharedReleases(base if worker_id == "master" else base.parent)


@pytest.fixture
def scenario(tmp_path: Path, shared_releases: SharedReleases) -> Iterator[Callable[..., Checkout]]:
    """Factory: a clone with its own ports and copies of the named releases; afterwards every
    environment it started is stopped (`gates down`, then by pid) and checked gone."""
    made: list[Checkout] = []

    def start(*names: str) -> Checkout:
        made.append(make_scenario(tmp_path / f"repo{len(made)}", shared_releases, *names))
        return made[-1]

    yield start
    for checkout in made:
        checkout.tear_down()
        assert not checkout.masters("staging") and not checkout.masters("production")


@pytest.fixture(scope="session")
def engine() -> Engine:
    """The engine `gates engine up` makes (dockerd, swarm, registry, base and edge images), found
    from the configuration; the test is skipped when there is none, and fails when $CI is set."""
    return find_engine()


@pytest.fixture(scope="session")
def swarm_engine() -> None:
    """The engine the swarm scenarios run on (DOCKER_HOST): the tests are skipped saying why
    there is none, and fail when $CI is set."""
    require_engine()


@pytest.fixture
def swarm(
    tmp_path: Path, shared_releases: SharedReleases, swarm_engine: None
) -> Iterator[SwarmScenario]:
    """A swarm scenario (support.swarm): clones whose environments live on the engine under
    one unique prefix; every engine object under it is removed afterwards."""
    yield from scenario_removed_after(tmp_path, shared_releases)


@pytest.fixture
def prometheus_server(tmp_path: Path) -> Iterator[Callable[..., Prometheus]]:
    """Factory: ``start(targets, rule_files=())`` a real Prometheus scraping ``targets``
    ({job: [host:port]}) every second (support.prometheus); every one started is stopped by
    its pid afterwards, also when the test failed. Skips without the binary (fails under CI)."""
    started: list[Prometheus] = []

    def start(targets: dict[str, list[str]], rule_files: Sequence[Path] = ()) -> Prometheus:
        directory = tmp_path / f"prometheus{len(started)}"
        server = start_prometheus(directory, targets, rule_files)
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()
