"""The one HTTP client of the gates: a GET on a new connection, over TCP on 127.0.0.1 or
over a unix socket."""

import http.client
import socket
from pathlib import Path

# (status, headers with lower-case names, body bytes)
Response = tuple[int, dict[str, str], bytes]

# What a GET raises when nothing (or nothing valid) answered.
FAILURES = (OSError, http.client.HTTPException)


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
    port: int | None = None,
    unix_socket: str | Path | None = None,
    timeout: float = 5.0,
) -> Response:
    """(status, headers with lower-case names, body bytes); raises one of FAILURES."""
    connection: http.client.HTTPConnection
    if unix_socket:
        connection = _UnixConnection(str(unix_socket), timeout)
    else:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        connection.request("GET", path, headers={"Connection": "close"})
        response = connection.getresponse()
        body = response.read()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, body
    finally:
        connection.close()
