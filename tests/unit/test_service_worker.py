"""The service's gunicorn worker (techcorp_api.worker) and the gunicorn it relies on."""

import subprocess
import sys

import pytest
from gunicorn.config import Config
from gunicorn.workers import gthread

from techcorp_api.worker import KeepAliveDrainWorker


class Log:
    def __init__(self) -> None:
        self.warnings: list[str] = []

    def warning(self, message: str, *args: object) -> None:
        self.warnings.append(message % args if args else message)


def test_the_service_config_names_the_worker():
    # In a child process: the service's gunicorn config sets process-wide state on import.
    code = "from techcorp_api import gunicorn_conf as c; print(c.worker_class, c.keepalive)"
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert done.stdout.split() == ["techcorp_api.worker.KeepAliveDrainWorker", "5"]
    assert issubclass(KeepAliveDrainWorker, gthread.ThreadWorker)


def test_the_locked_gunicorn_has_the_stop_linger_the_worker_extends():
    log = Log()
    KeepAliveDrainWorker.check_config(Config(), log)
    assert gthread.STOP_KEEPALIVE_LINGER == 2.0 and log.warnings == []


def test_a_gunicorn_without_a_stop_linger_is_named_at_start(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delattr(gthread, "STOP_KEEPALIVE_LINGER")
    log = Log()
    KeepAliveDrainWorker.check_config(Config(), log)
    assert len(log.warnings) == 1 and "no stop linger to extend" in log.warnings[0]
