"""``Server``: a gunicorn master a test started, waited for over HTTP and stopped by its own pid.

The process must have been started with ``start_new_session=True``, so that a master which
ignores SIGTERM can be ended together with its workers (SIGKILL to its process group).
"""

import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import requests

from support.timeouts import HANG, START_TIMEOUT, STOP_TIMEOUT


class Started:
    """A process this test started in a session of its own, logging to ``log_path``; stopped
    by its own pid (SIGTERM, then SIGKILL to its whole session)."""

    def __init__(self, process: "subprocess.Popen[Any]", log_path: Path) -> None:
        self.process = process
        self.log_path = log_path

    @property
    def pid(self) -> int:
        return self.process.pid

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self) -> int:
        if self.process.poll() is None:
            os.kill(self.pid, signal.SIGTERM)
            try:
                self.process.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                # The session holds the process and its children (a master's workers): all.
                os.killpg(self.pid, signal.SIGKILL)
                self.process.wait(STOP_TIMEOUT)
        returncode: int = self.process.returncode
        return returncode


class Server(Started):
    """A gunicorn master this test started; stopped by its own pid."""

    def __init__(self, process: "subprocess.Popen[Any]", base_url: str, log_path: Path) -> None:
        super().__init__(process, log_path)
        self.base_url = base_url

    def url(self, path: str) -> str:
        return self.base_url + path

    def wait_ready(self, timeout: float = START_TIMEOUT) -> None:
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
