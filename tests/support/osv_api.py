"""A local OSV API on 127.0.0.1 that answers ``POST /v1/query`` the way api.osv.dev does for
pip-audit's ``OsvService``, from an OSV directory read with ``gates.security.osv_mirror``.

Request: ``{"package": {"name": ..., "ecosystem": "PyPI"}, "version": ...}``. Response: 200 with
``{"vulns": [full OSV records]}`` for the advisories affecting that version, or ``{}`` when
none do (api.osv.dev's answer, which pip-audit reads as "no vulnerabilities"). Records are
returned as their files hold them. A body that is not such a query gets 400, another path 404.

``osv_api(directory)`` serves until the ``with`` block ends and yields the query URL for
pip-audit's ``--osv-url``; ``status=500`` makes every query answer HTTP 500 instead (a broken
source). ``queries``, when given, collects every query body received.
"""

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from gates.security.osv_mirror import Mirror, load
from support.ports import free_port
from support.timeouts import STOP_TIMEOUT

QUERY_PATH = "/v1/query"


class _OsvHandler(BaseHTTPRequestHandler):
    server: "_OsvServer"

    def do_POST(self) -> None:  # noqa: N802 (the name http.server calls)
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if self.path != QUERY_PATH:
            return self._answer(HTTPStatus.NOT_FOUND, {"code": 5, "message": "Not Found"})
        try:
            query = json.loads(body)
            package = query["package"]
            name, ecosystem, version = package["name"], package["ecosystem"], query["version"]
            if not all(isinstance(value, str) for value in (name, ecosystem, version)):
                raise TypeError("name, ecosystem and version must be strings")
        except (ValueError, KeyError, TypeError) as error:
            return self._answer(HTTPStatus.BAD_REQUEST, {"code": 3, "message": str(error)})
        self.server.queries.append(query)
        if self.server.status != HTTPStatus.OK:
            return self._answer(self.server.status, {"code": 13, "message": "internal error"})
        if ecosystem != "PyPI":
            return self._answer(HTTPStatus.OK, {})
        found = self.server.mirror.affecting(name, version)
        vulns = [self.server.mirror.raw(advisory.id) for advisory in found]
        self._answer(HTTPStatus.OK, {"vulns": vulns} if vulns else {})

    def _answer(self, status: HTTPStatus, payload: dict[str, Any]) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        pass  # the test asserts on ``queries``; no access log on stderr


class _OsvServer(ThreadingHTTPServer):
    def __init__(self, port: int, mirror: Mirror, status: HTTPStatus) -> None:
        super().__init__(("127.0.0.1", port), _OsvHandler)
        self.mirror = mirror
        self.status = status
        self.queries: list[dict[str, Any]] = []


@contextmanager
def osv_api(
    directory: Path, status: int = 200, queries: list[dict[str, Any]] | None = None
) -> Iterator[str]:
    """Serve ``directory`` (an OSV directory) on a free loopback port; yield the query URL."""
    server = _OsvServer(free_port(), load(directory), HTTPStatus(status))
    if queries is not None:
        server.queries = queries
    thread = threading.Thread(
        target=server.serve_forever, args=(0.05,), name="osv-api", daemon=True
    )
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}{QUERY_PATH}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(STOP_TIMEOUT)
        assert not thread.is_alive(), "the OSV API thread did not stop"
