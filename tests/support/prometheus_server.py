"""A real Prometheus for tests and benchmarks: the Debian package's ``prometheus`` binary on
127.0.0.1:<free port>, scraping one environment's ``/metrics`` every second, evaluating rule
files every second, keeping its data under a directory the caller owns; stopped by its pid.

``require_prometheus()`` returns the binary, or skips the test with the reason and the fix;
with the ``CI`` environment variable set it fails instead (CI must run these tests, and
``.ci/run`` installs the package), as support.engine does for the container engine.

    with prometheus_server(tmp_path, "127.0.0.1:8001", [RULES]) as prometheus:
        prometheus.wait_scraped()
        prometheus.alerts()  # Prometheus' own /api/v1/alerts
"""

import json
import os
import shutil
import signal
import subprocess
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from support.ports import free_port
from support.timeouts import HANG, START_TIMEOUT, STOP_TIMEOUT

# The rules the drill's tests load: gates slo-rules' naming contract, written by hand.
RULES = Path(__file__).with_name("slo_rules.yml")
JOB = "techcorp-api"
CI_ENV = "CI"
INSTALL = "apt-get install prometheus (its service need not run: tests start their own)"


def prometheus_binary() -> str | None:
    return shutil.which("prometheus")


def require_prometheus() -> str:
    binary = prometheus_binary()
    if binary is not None:
        return binary
    reason = f"no prometheus binary on PATH; {INSTALL}"
    if os.environ.get(CI_ENV):
        pytest.fail(f"Prometheus-backed test, and CI is set: {reason}", pytrace=False)
    pytest.skip(f"Prometheus-backed test skipped: {reason}")


def config_text(scrape: str, rule_files: Sequence[Path]) -> str:
    """Prometheus' configuration (JSON is YAML): scrape ``scrape`` (host:port) every second."""
    return json.dumps(
        {
            "global": {
                "scrape_interval": "1s",
                "scrape_timeout": "1s",
                "evaluation_interval": "1s",
            },
            "rule_files": [str(path) for path in rule_files],
            "scrape_configs": [{"job_name": JOB, "static_configs": [{"targets": [scrape]}]}],
        },
        indent=2,
    )


class PrometheusServer:
    """A prometheus process this caller started; stopped by its own pid."""

    def __init__(self, process: "subprocess.Popen[bytes]", url: str, log_path: Path) -> None:
        self.process = process
        self.url = url
        self.log_path = log_path

    @property
    def pid(self) -> int:
        return self.process.pid

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def get(self, path: str, **params: str) -> Any:
        query = f"?{urllib.parse.urlencode(params)}" if params else ""
        with urllib.request.urlopen(f"{self.url}{path}{query}", timeout=HANG) as response:
            return json.loads(response.read()) if path.startswith("/api/") else response.read()

    def query(self, expr: str) -> list[Any]:
        """The result vector of an instant query."""
        answer = self.get("/api/v1/query", query=expr)
        assert answer["status"] == "success", answer
        result: list[Any] = answer["data"]["result"]
        return result

    def alerts(self) -> list[dict[str, Any]]:
        """Prometheus' active alerts (pending or firing), as /api/v1/alerts lists them."""
        alerts: list[dict[str, Any]] = self.get("/api/v1/alerts")["data"]["alerts"]
        return alerts

    def wait_until(self, what: str, ready: "Any", timeout: float = START_TIMEOUT) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"prometheus exited {self.process.returncode}:\n{self.log()}")
            try:
                if ready():
                    return
            except OSError:
                pass  # not listening yet: ask again
            time.sleep(0.1)
        raise AssertionError(f"prometheus: {what} not within {timeout} s:\n{self.log()}")

    def wait_ready(self) -> None:
        self.wait_until("/-/ready", lambda: self.get("/-/ready") is not None)

    def wait_scraped(self) -> None:
        """Until the environment's /metrics has been scraped successfully."""
        self.wait_until(
            f"a successful scrape of job {JOB}",
            lambda: any(s["value"][1] == "1" for s in self.query(f'up{{job="{JOB}"}}')),
        )

    def stop(self) -> int:
        if self.process.poll() is None:
            os.kill(self.pid, signal.SIGTERM)
            try:
                self.process.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                os.kill(self.pid, signal.SIGKILL)
                self.process.wait(STOP_TIMEOUT)
        return self.process.returncode


@contextmanager
def prometheus_server(
    directory: Path, scrape: str, rule_files: Sequence[Path] = (), binary: str | None = None
) -> Iterator[PrometheusServer]:
    """A ready Prometheus scraping ``scrape`` (host:port), its config, data and log under
    ``directory``; stopped by pid on exit."""
    directory.mkdir(parents=True, exist_ok=True)
    config = directory / "prometheus.yml"
    config.write_text(config_text(scrape, rule_files))
    port = free_port()
    log_path = directory / "prometheus.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [
                binary or require_prometheus(),
                f"--config.file={config}",
                f"--storage.tsdb.path={directory / 'data'}",
                f"--web.listen-address=127.0.0.1:{port}",
                "--log.level=warn",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    server = PrometheusServer(process, f"http://127.0.0.1:{port}", log_path)
    try:
        server.wait_ready()
        yield server
    finally:
        server.stop()
