"""gunicorn settings for the TechCorp API.

Loaded with ``gunicorn -c python:techcorp_api.gunicorn_conf`` (what ``techcorp-api`` does).
Command-line flags and ``GUNICORN_CMD_ARGS`` override everything here; the environment
variables below set the defaults.
"""

from __future__ import annotations

import os
import shutil
import signal
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from techcorp_api.envvars import read_int

if TYPE_CHECKING:
    from types import FrameType

    from gunicorn.arbiter import Arbiter
    from gunicorn.workers.base import Worker

    from techcorp_api.readiness import Readiness

# Must happen before any worker imports prometheus_client: the library picks its
# multiprocess value store at import time.
if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="techcorp-metrics-")
    os.environ["TECHCORP_OWNS_METRICS_DIR"] = "1"


wsgi_app = "techcorp_api.wsgi:app"
bind = [b.strip() for b in os.environ.get("BIND", "127.0.0.1:8000").split(",") if b.strip()]
workers = read_int("WEB_CONCURRENCY")
# gthread, whose drain keeps idle kept-alive connections until their keep-alive deadline
# (techcorp_api.worker): a deploy closes no connection earlier than normal operation would.
worker_class = "techcorp_api.worker.KeepAliveDrainWorker"
threads = read_int("GUNICORN_THREADS")
timeout = read_int("GUNICORN_TIMEOUT")
graceful_timeout = read_int("GUNICORN_GRACEFUL_TIMEOUT")
keepalive = 5
# The application writes its own structured JSON access log to stdout.
accesslog: str | None = None
errorlog = "-"
loglevel = os.environ.get("LOG_LEVEL", "info").lower()
proc_name = "techcorp-api"
# Several environments run side by side; gunicorn's control socket would be shared in $HOME.
control_socket_disable = True


def on_starting(server: Arbiter) -> None:
    """Start with an empty metrics directory so counters from an earlier run do not leak in."""
    directory = Path(os.environ["PROMETHEUS_MULTIPROC_DIR"])
    directory.mkdir(parents=True, exist_ok=True)
    for stale in directory.glob("*.db"):
        stale.unlink()


def post_worker_init(worker: Worker) -> None:
    """Report draining on /ready as soon as the worker is told to stop."""
    readiness: Readiness = worker.wsgi.extensions["readiness"]
    previous = signal.getsignal(signal.SIGTERM)

    def drain_then_stop(signum: int, frame: FrameType | None) -> None:
        readiness.mark_draining()
        if callable(previous):
            previous(signum, frame)

    signal.signal(signal.SIGTERM, drain_then_stop)
    readiness.mark_ready()


def child_exit(server: Arbiter, worker: Worker) -> None:
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


def on_exit(server: Arbiter) -> None:
    if os.environ.get("TECHCORP_OWNS_METRICS_DIR") == "1":
        shutil.rmtree(os.environ["PROMETHEUS_MULTIPROC_DIR"], ignore_errors=True)
