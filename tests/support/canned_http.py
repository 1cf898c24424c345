"""``canned_http(answer)``: a real HTTP server on a free loopback port whose every request is
answered by ``answer(method, path, headers)`` -> (status, headers, body); for the clients'
failure paths (a non-200, a body that is not JSON), which need a server that misbehaves."""

import http.server
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager

Answer = tuple[int, Mapping[str, str], bytes]
Answerer = Callable[[str, str, Mapping[str, str]], Answer]


@contextmanager
def canned_http(answer: Answerer) -> Iterator[str]:
    """The server's base URL (http://127.0.0.1:PORT) for the ``with`` block; stopped after."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def respond(self) -> None:
            status, headers, body = answer(self.command, self.path, dict(self.headers))
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        do_GET = do_HEAD = do_DELETE = respond  # noqa: N815 (the names http.server calls)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        thread.join()
        server.server_close()
