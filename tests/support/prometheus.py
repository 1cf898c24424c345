"""A real Prometheus server for tests: the Debian package's ``prometheus`` binary on
127.0.0.1:<free port>, scraping the targets a test names, stopped by its own pid.

``find_prometheus()`` returns the binary, or skips the test saying how to get it; when the
``CI`` environment variable is set it fails instead (CI installs the package: ``.ci/run``).
``start_prometheus(directory, targets, rule_files=...)`` writes a prometheus.yml (scrape and
evaluation interval 1 s) and a TSDB under ``directory``, starts the server and waits, bounded
by START_TIMEOUT, until ``/-/ready`` answers 200; a server that does not get there is stopped
before the test fails. The ``prometheus_server`` fixture (tests/conftest.py) stops every
server it started, also when the test failed; ``running_prometheus`` does the same for one
``with`` block. Never the packaged service, /etc/prometheus or
/var/lib/prometheus.
"""

import math
import os
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml

from support.ports import free_port
from support.servers import Started
from support.timeouts import HANG, START_TIMEOUT

CI_ENV = "CI"
BINARY = "prometheus"
SCRAPE_INTERVAL = 1.0  # s, and the rule evaluation interval


def find_prometheus() -> str:
    """The ``prometheus`` binary on PATH (or /usr/bin); skip, or fail under CI, without it."""
    found = shutil.which(BINARY) or (
        f"/usr/bin/{BINARY}" if Path("/usr/bin", BINARY).exists() else None
    )
    if found:
        return found
    reason = (
        "Prometheus-backed test: no `prometheus` binary on PATH; install the Debian package "
        "(`apt-get install prometheus`; its service need not run)"
    )
    if os.environ.get(CI_ENV):
        pytest.fail(f"{reason}, and CI is set", pytrace=False)
    pytest.skip(reason)


class Prometheus(Started):
    """A prometheus process this test started; stopped by its own pid."""

    def __init__(self, process: "subprocess.Popen[bytes]", url: str, log_path: Path) -> None:
        super().__init__(process, log_path)
        self.url = url

    def api(self, path: str, **params: str) -> Any:
        """The ``data`` of a successful /api/v1 answer."""
        answer = requests.get(f"{self.url}/api/v1/{path}", params=params, timeout=HANG)
        body = answer.json()
        assert body.get("status") == "success", f"{path} {params}: {body}"
        return body["data"]

    def query(self, expr: str) -> list[dict[str, Any]]:
        """The instant vector ``expr`` evaluates to now."""
        result: list[dict[str, Any]] = self.api("query", query=expr)["result"]
        return result

    def alerts(self) -> list[dict[str, Any]]:
        """Prometheus' own /api/v1/alerts: every pending or firing alert."""
        found: list[dict[str, Any]] = self.api("alerts")["alerts"]
        return found

    def wait_until(
        self, what: str, check: Callable[["Prometheus"], bool], timeout: float = START_TIMEOUT
    ) -> None:
        """Poll ``check`` (real queries) until it holds; AssertionError after ``timeout``."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"prometheus exited {self.process.returncode}:\n{self.log()}")
            if check(self):
                return
            time.sleep(SCRAPE_INTERVAL / 2)
        raise AssertionError(f"Prometheus at {self.url}: not {what} within {timeout:g} s")

    def wait_scraped(self, job: str) -> None:
        """Until ``job``'s newest scrape succeeded."""
        self.wait_until(
            f"a successful scrape of job {job}",
            lambda server: any(s["value"][1] == "1" for s in server.query(f'up{{job="{job}"}}')),
        )

    def wait_ready(self, timeout: float = START_TIMEOUT) -> None:
        def ready(server: "Prometheus") -> bool:
            try:
                return requests.get(f"{server.url}/-/ready", timeout=HANG).status_code == 200
            except requests.RequestException:
                return False  # not listening yet

        self.wait_until("ready", ready, timeout)


def config_text(
    targets: Mapping[str, Sequence[str]],
    rule_files: Sequence[Path] = (),
    interval_seconds: float = SCRAPE_INTERVAL,
) -> str:
    """prometheus.yml: one scrape job per ``{job: [host:port, ...]}``, every
    ``interval_seconds`` (also the scrape timeout and the rule evaluation interval)."""
    interval = f"{interval_seconds:g}s"
    config = {
        "global": {
            "scrape_interval": interval,
            "scrape_timeout": interval,
            "evaluation_interval": interval,
        },
        "rule_files": [str(path) for path in rule_files],
        "scrape_configs": [
            {"job_name": job, "static_configs": [{"targets": list(addresses)}]}
            for job, addresses in targets.items()
        ],
    }
    return yaml.safe_dump(config, sort_keys=False)


def start_prometheus(
    directory: Path,
    targets: Mapping[str, Sequence[str]],
    rule_files: Sequence[Path] = (),
    interval_seconds: float = SCRAPE_INTERVAL,
) -> Prometheus:
    """A ready Prometheus on 127.0.0.1:<free port> scraping ``targets`` ({job: [host:port]})."""
    binary = find_prometheus()
    directory.mkdir(parents=True, exist_ok=True)
    config = directory / "prometheus.yml"
    config.write_text(config_text(targets, rule_files, interval_seconds))
    port = free_port()
    log_path = directory / "prometheus.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [
                binary,
                f"--config.file={config}",
                f"--web.listen-address=127.0.0.1:{port}",
                f"--storage.tsdb.path={directory / 'data'}",
                "--log.level=warn",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            cwd=directory,
        )
    server = Prometheus(process, f"http://127.0.0.1:{port}", log_path)
    try:
        server.wait_ready()
    except BaseException:
        server.stop()
        raise
    return server


@contextmanager
def running_prometheus(
    directory: Path, targets: Mapping[str, Sequence[str]], rule_files: Sequence[Path] = ()
) -> Iterator[Prometheus]:
    """``start_prometheus`` for a ``with`` block (benchmarks, or one server per block); stopped
    by its pid when the block ends, however it ends."""
    server = start_prometheus(directory, targets, rule_files)
    try:
        yield server
    finally:
        server.stop()


def window_since(began: float) -> str:
    """An SLO window from 2 s before ``began`` (time.monotonic()) until now, whole seconds:
    all of a traffic that began then, for a Prometheus that held samples 3 s before it."""
    return f"{math.ceil(time.monotonic() - began) + 2}s"


__all__ = [
    "Prometheus",
    "SCRAPE_INTERVAL",
    "config_text",
    "find_prometheus",
    "running_prometheus",
    "start_prometheus",
    "window_since",
]
