"""Small HTTP probes over TCP or a unix socket, for health and readiness checks.

An answer says who gave it: the release (the service's X-Release-ID header) and, on the local
target, the deployment and the worker process (headers added by the gunicorn config each
deployment gets, gates.targets.local.deployment_conf).
"""

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gates.httpget import FAILURES, fetch

RELEASE_HEADER = "X-Release-ID"
DEPLOYMENT_HEADER = "X-Deployment-ID"
WORKER_HEADER = "X-Worker-PID"


@dataclass
class Answer:
    status: int  # 0 when nothing answered
    body: dict[str, Any]  # the JSON object answered, or {}
    release: str  # the release that answered (its X-Release-ID header)
    error: str = ""
    deployment: str = ""  # the deployment that answered (X-Deployment-ID), if it says
    worker: int = 0  # the pid of the worker process that answered (X-Worker-PID), if it says

    @property
    def ok(self) -> bool:
        return self.status == 200


def get(
    path: str, port: int | None = None, unix_socket: Path | None = None, timeout: float = 2.0
) -> Answer:
    """GET ``path``; an Answer with status 0 and the error when nothing answered."""
    try:
        status, headers, raw = fetch(path, port, unix_socket, timeout)
    except FAILURES as exc:
        return Answer(0, {}, "", f"{type(exc).__name__}: {exc}")
    try:
        body = json.loads(raw)
    except ValueError:
        body = {}
    if not isinstance(body, dict):
        body = {}
    worker = headers.get(WORKER_HEADER.lower(), "")
    return Answer(
        status,
        body,
        headers.get(RELEASE_HEADER.lower(), ""),
        deployment=headers.get(DEPLOYMENT_HEADER.lower(), ""),
        worker=int(worker) if worker.isdigit() else 0,
    )
