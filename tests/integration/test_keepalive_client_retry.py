"""What docs/deploy.md asks of a keep-alive client, against HTTP/1.1's own race.

A server may close an idle kept-alive connection at any time (RFC 9112, section 9.6): the
service does when a connection idles past its keep-alive timeout, in normal operation and
during a drain. A request that crosses that close on the wire reaches a connection the
server is closing and gets no answer; the client cannot tell whether it was processed, so
only an idempotent request may be sent again (section 9.3.1). This real TCP server on
127.0.0.1 makes the crossing happen every time: it answers the first request on a
connection and closes the connection when the next request arrives, having read it (the
client sees ``RemoteDisconnected``) or not (``ConnectionResetError``).
"""

import socket
import socketserver
import struct
import threading
from collections.abc import Iterator

import pytest
import requests

from support.keepalive_load import innermost, make_client
from support.timeouts import HANG

ANSWER = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nok"


def read_request(connection: socket.socket) -> bytes:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = connection.recv(4096)
        if not chunk:
            break
        data += chunk
    return data


class ClosesOnSecondRequest(socketserver.BaseRequestHandler):
    read_before_close = True

    def handle(self) -> None:
        self.server.connections += 1  # type: ignore[attr-defined]
        if not read_request(self.request):
            return
        self.request.sendall(ANSWER)  # kept alive: no "Connection: close"
        if self.read_before_close:
            read_request(self.request)
        else:
            self.request.settimeout(HANG)
            self.request.recv(1, socket.MSG_PEEK)  # the request arrived, left unread
            # Closed at once, with no FIN first: the kernel resets the connection.
            self.request.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.request.close()


@pytest.fixture(params=["read", "unread"])
def racing_server(request: pytest.FixtureRequest) -> Iterator[socketserver.ThreadingTCPServer]:
    handler = type(
        "Handler", (ClosesOnSecondRequest,), {"read_before_close": request.param == "read"}
    )
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    server.connections = 0  # type: ignore[attr-defined]
    # shutdown() waits for the loop's next poll: 0.05 s, not the default 0.5 s
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    thread.join(HANG)


def test_a_keepalive_client_without_retries_loses_a_request_that_crosses_a_close(
    racing_server,
):
    client = make_client("requests", racing_server.server_address[1], HANG)
    assert client.get("/api/data")[0] == 200
    with pytest.raises(requests.ConnectionError) as failed:
        client.get("/api/data")
    read = racing_server.RequestHandlerClass.read_before_close
    expected = "RemoteDisconnected" if read else "ConnectionResetError"
    assert type(innermost(failed.value)).__name__ == expected
    client.close()


def test_a_keepalive_client_that_retries_idempotent_requests_gets_every_answer(racing_server):
    client = make_client("requests+retry", racing_server.server_address[1], HANG)
    assert [client.get("/api/data")[0] for _ in range(3)] == [200, 200, 200]
    # Each request after the first crossed a close and was sent again on a new connection.
    assert racing_server.connections == 3
    client.close()


def test_the_retry_never_sends_a_non_idempotent_request_twice(racing_server):
    client = make_client("requests+retry", racing_server.server_address[1], HANG)
    assert client.get("/api/data")[0] == 200
    session = client.session  # type: ignore[attr-defined]
    with pytest.raises(requests.ConnectionError):
        session.post(client.base + "/api/data", timeout=HANG)  # type: ignore[attr-defined]
    assert racing_server.connections == 1
    client.close()
