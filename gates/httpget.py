"""The one HTTP client of the gates: one request (a GET unless told otherwise) on a new
connection, over TCP (a port on 127.0.0.1, or a base URL such as an environment's) or over a
unix socket."""

import http.client
import socket
from pathlib import Path
from urllib.parse import urlsplit

# (status, headers with lower-case names, body bytes)
Response = tuple[int, dict[str, str], bytes]

# What a GET raises when nothing (or nothing valid) answered.
FAILURES = (OSError, http.client.HTTPException)

# Where a request goes: a port on 127.0.0.1, or a base URL such as http://127.0.0.1:18080.
Where = int | str


def address(where: Where) -> str:
    """host:port of ``where``, as messages name it."""
    return f"127.0.0.1:{where}" if isinstance(where, int) else urlsplit(where).netloc


def _connection(where: Where, timeout: float) -> http.client.HTTPConnection:
    if isinstance(where, int):
        return http.client.HTTPConnection("127.0.0.1", where, timeout=timeout)
    url = urlsplit(where)
    if url.scheme == "https":
        return http.client.HTTPSConnection(url.hostname or "", url.port, timeout=timeout)
    return http.client.HTTPConnection(url.hostname or "", url.port, timeout=timeout)


class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, path: str, timeout: float) -> None:
        super().__init__("localhost", timeout=timeout)
        self.socket_path = path

    def connect(self) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(self.socket_path)


def fetch(
    path: str,
    port: Where | None = None,
    unix_socket: str | Path | None = None,
    timeout: float = 5.0,
    method: str = "GET",
    headers: dict[str, str] | None = None,
) -> Response:
    """(status, headers with lower-case names, body bytes) of ``method`` ``path`` from ``port``
    (a port on 127.0.0.1 or a base URL) or ``unix_socket``, sending ``headers``; raises one of
    FAILURES."""
    connection: http.client.HTTPConnection
    if unix_socket:
        connection = _UnixConnection(str(unix_socket), timeout)
    elif port is None:
        raise ValueError("fetch needs a port, a base URL or a unix socket")
    else:
        connection = _connection(port, timeout)
    try:
        connection.request(method, path, headers={**(headers or {}), "Connection": "close"})
        response = connection.getresponse()
        body = response.read()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, body
    finally:
        connection.close()


def excerpt(body: bytes) -> str:
    """The start of a body, one line, for a message."""
    text = " ".join(body.decode("utf-8", "replace").split())
    return repr(text[:120]) if text else "an empty body"
