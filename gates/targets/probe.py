"""Small HTTP probes over TCP (a port on 127.0.0.1 or a base URL) or a unix socket, for
health and readiness checks.

An answer says which release gave it (the service's X-Release-ID header). On the local
target it also says which deployment and which worker process (X-Deployment-ID and
X-Worker-PID, added by the gunicorn config each deployment gets,
gates.targets.local.deployment_conf; read by gates.targets.local.serving).
"""

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gates.httpget import FAILURES, Where, fetch

RELEASE_HEADER = "X-Release-ID"
DEPLOYMENT_HEADER = "X-Deployment-ID"
WORKER_HEADER = "X-Worker-PID"


@dataclass
class Answer:
    status: int  # 0 when nothing answered
    body: dict[str, Any]  # the JSON object answered, or {}
    release: str  # the release that answered (its X-Release-ID header)
    error: str = ""

    @property
    def ok(self) -> bool:
        return self.status == 200


def get(
    path: str, port: Where | None = None, unix_socket: Path | None = None, timeout: float = 2.0
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
    return Answer(status, body, headers.get(RELEASE_HEADER.lower(), ""))
