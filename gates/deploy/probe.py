"""Small HTTP probes over TCP or a unix socket, for health and readiness checks."""

import json
from dataclasses import dataclass

from gates.httpget import FAILURES, fetch

RELEASE_HEADER = "X-Release-ID"


@dataclass
class Answer:
    status: int
    body: dict
    release: str
    error: str = ""

    @property
    def ok(self):
        return self.status == 200


def get(path, port=None, unix_socket=None, timeout=2.0):
    """GET ``path``; an Answer with status 0 and the error when nothing answered."""
    try:
        status, headers, raw = fetch(path, port, unix_socket, timeout)
    except FAILURES as exc:
        return Answer(0, {}, "", f"{type(exc).__name__}: {exc}")
    try:
        body = json.loads(raw)
    except ValueError:
        body = {}
    return Answer(status, body, headers.get(RELEASE_HEADER.lower(), ""))
