"""Fixtures: the Flask app and client (in-process), and real gunicorn servers on 127.0.0.1."""

import logging
import os
import random
import signal
import socket
import subprocess
import sys
import time

import pytest
import requests
from hypothesis import HealthCheck, settings

from techcorp_api import create_app
from techcorp_api.logs import ACCESS_LOGGER, SERVICE_LOGGER, JsonFormatter

# Property tests judge what the code does, never how fast a (possibly busy) machine runs it.
settings.register_profile("suite", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("suite")

# Bounds on hangs, generous enough for a machine busy with other work; never latency limits.
START_TIMEOUT = 60.0
STOP_TIMEOUT = 30.0
HANG = 10.0


@pytest.fixture
def app():
    return create_app({"ENVIRONMENT": "test", "APP_VERSION": "9.9.9-test"})


@pytest.fixture
def client(app):
    return app.test_client()


class LineCollector(logging.Handler):
    """Keeps formatted log lines in memory."""

    def __init__(self):
        super().__init__()
        self.lines = []
        self.setFormatter(JsonFormatter())

    def emit(self, record):
        self.lines.append(self.format(record))


def collect_lines(logger_name):
    collector = LineCollector()
    logger = logging.getLogger(logger_name)
    logger.addHandler(collector)
    yield collector.lines
    logger.removeHandler(collector)


@pytest.fixture
def access_lines():
    """JSON lines the access log writes during the test."""
    yield from collect_lines(ACCESS_LOGGER)


@pytest.fixture
def service_lines():
    """JSON lines the service's own logger writes during the test."""
    yield from collect_lines(SERVICE_LOGGER)


# Ports for the servers tests start: below the kernel's ephemeral range (32768 and up on
# Linux, 49152 and up on macOS), so no client connection can take one between choosing and
# binding it, and split between xdist workers, so two workers never choose the same one.
PORTS = range(20000, 32768)
_handed_out = set()


def free_port():
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    worker = int(os.environ.get("PYTEST_XDIST_WORKER", "gw0")[2:])
    share = len(PORTS) // workers
    first = PORTS.start + worker * share
    start = random.randrange(share)
    for offset in range(share):
        port = first + (start + offset) % share
        if port in _handed_out:
            continue
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
        _handed_out.add(port)
        return port
    raise RuntimeError(f"no free port in {first}-{first + share - 1}")


class Server:
    """A gunicorn master this test started; stopped by its own pid."""

    def __init__(self, process, base_url, log_path):
        self.process = process
        self.base_url = base_url
        self.log_path = log_path

    @property
    def pid(self):
        return self.process.pid

    def url(self, path):
        return self.base_url + path

    def log(self):
        return self.log_path.read_text(errors="replace")

    def wait_ready(self, timeout=START_TIMEOUT):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"gunicorn exited {self.process.returncode}:\n{self.log()}")
            try:
                if requests.get(self.url("/ready"), timeout=HANG).status_code == 200:
                    return
            except requests.RequestException:
                pass  # not listening yet, or too busy to answer: ask again
            time.sleep(0.1)
        raise AssertionError(f"gunicorn not ready within {timeout} s:\n{self.log()}")

    def stop(self):
        if self.process.poll() is None:
            os.kill(self.pid, signal.SIGTERM)
            try:
                self.process.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                # The session holds the master and its workers: end them all.
                os.killpg(self.pid, signal.SIGKILL)
                self.process.wait(STOP_TIMEOUT)
        return self.process.returncode


@pytest.fixture
def gunicorn_server(tmp_path):
    """Factory: start ``python -m techcorp_api`` on a free loopback port; stops it afterwards."""
    started = []

    def start(*args, env=None, wait=True):
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


@pytest.fixture(scope="session")
def shared_releases(tmp_path_factory, worker_id):
    """Releases built once per test run (shared by all xdist workers), see deploy_fixture."""
    from deploy_fixture import SharedReleases

    base = tmp_path_factory.getbasetemp()
    return SharedReleases(base if worker_id == "master" else base.parent)


@pytest.fixture
def scenario(tmp_path, shared_releases):
    """Factory: a clone with its own ports and copies of the named releases; afterwards every
    environment it started is stopped (`gates down`, then by pid) and checked gone."""
    from deploy_fixture import scenario as make

    made = []

    def start(*names):
        made.append(make(tmp_path / f"repo{len(made)}", shared_releases, *names))
        return made[-1]

    yield start
    for checkout in made:
        for environment in ("staging", "production"):
            checkout.gates("down", "--environment", environment, check=False)
        checkout.kill_leftovers()
        assert not checkout.masters("staging") and not checkout.masters("production")
