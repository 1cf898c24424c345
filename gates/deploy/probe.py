"""Small HTTP probes over TCP or a unix socket, for health and readiness checks."""

import http.client
import json
import socket
from dataclasses import dataclass

RELEASE_HEADER = "X-Release-ID"


class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, path, timeout):
        super().__init__("localhost", timeout=timeout)
        self.socket_path = path

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(self.socket_path)


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
    if unix_socket:
        connection = _UnixConnection(str(unix_socket), timeout)
    else:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        connection.request("GET", path, headers={"Connection": "close"})
        response = connection.getresponse()
        raw = response.read()
        try:
            body = json.loads(raw)
        except ValueError:
            body = {}
        return Answer(response.status, body, response.getheader(RELEASE_HEADER, ""))
    except (OSError, http.client.HTTPException) as exc:
        return Answer(0, {}, "", f"{type(exc).__name__}: {exc}")
    finally:
        connection.close()
