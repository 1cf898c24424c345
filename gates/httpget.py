"""The one HTTP client of the gates: a GET on a new connection, over TCP on 127.0.0.1 or
over a unix socket."""

import http.client
import socket

# What a GET raises when nothing (or nothing valid) answered.
FAILURES = (OSError, http.client.HTTPException)


class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, path, timeout):
        super().__init__("localhost", timeout=timeout)
        self.socket_path = path

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(self.socket_path)


def fetch(path, port=None, unix_socket=None, timeout=5.0):
    """(status, headers with lower-case names, body bytes); raises one of FAILURES."""
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
