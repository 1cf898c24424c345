"""Fixtures: the Flask app and client (in-process), and real gunicorn servers on 127.0.0.1."""

import logging
import os
import signal
import socket
import subprocess
import sys
import time

import pytest
import requests

from techcorp_api import create_app
from techcorp_api.logs import ACCESS_LOGGER, SERVICE_LOGGER, JsonFormatter

START_TIMEOUT = 20.0
STOP_TIMEOUT = 15.0


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


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


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
                if requests.get(self.url("/ready"), timeout=1).status_code == 200:
                    return
            except requests.ConnectionError:
                pass
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
