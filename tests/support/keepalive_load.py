"""Keep-alive clients at a steady rate, for cutovers: each session reuses one connection.

Connection-per-request load (gates.perf.load) never meets a connection the server closes while
it is idle; browsers, load balancers and most HTTP libraries keep connections open and reuse
them, and those are the clients a draining worker can fail. ``KeepAliveLoad`` runs
``sessions`` threads, each one client that sends GETs one after the other on its kept-alive
connection, spaced so that all sessions together send ``rate`` requests/s (a session that
falls behind sends at once, never in a burst). Three clients:

- ``requests``: ``requests.Session`` with no retries (``HTTPAdapter(max_retries=0)``, the
  library's default). urllib3 drops a pooled connection it finds closed before reusing it;
  nothing else hides a failure.
- ``http.client``: a plain ``HTTPConnection`` loop. It reconnects only after a response
  said ``Connection: close`` (or after an error); it never checks a kept connection first.
- ``requests+retry``: ``requests.Session`` with urllib3 ``Retry`` for idempotent methods on
  connection errors: what docs/deploy.md asks of a keep-alive client.

Every answer is recorded with the session, whether it reused a connection, whether the
server asked to close (``Connection: close``), which deployment answered
(``X-Deployment-ID``) and, for a failure, the innermost error's type (``RemoteDisconnected``,
``ConnectionResetError``, ...).
"""

from __future__ import annotations

import http.client
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

CLIENTS = ("requests", "http.client", "requests+retry")
# The recipe docs/deploy.md gives keep-alive clients, word for word.
IDEMPOTENT_RETRY = Retry(
    total=3,
    connect=3,
    read=3,  # a request that crossed the server's close of its connection
    status=0,
    other=0,
    backoff_factor=0,
    allowed_methods=Retry.DEFAULT_ALLOWED_METHODS,  # idempotent only: GET, HEAD, PUT, ...
)


@dataclass(frozen=True)
class Answer:
    session: int
    sent: float  # seconds since the run started
    status: int  # 0: no HTTP answer
    error: str = ""  # innermost exception type, for a failure
    detail: str = ""
    # sent while the client kept a connection from an earlier answer (urllib3 replaces one
    # it finds closed before sending; http.client does not)
    reused: bool = False
    server_closed: bool = False  # the answer said "Connection: close"
    deployment: str = ""  # X-Deployment-ID


@dataclass
class KeepAliveResult:
    client: str
    sessions: int
    rate: float
    answers: list[Answer] = field(default_factory=list)

    @property
    def failures(self) -> list[Answer]:
        return [a for a in self.answers if not 200 <= a.status < 400]

    def failure_kinds(self) -> Counter[str]:
        return Counter(a.error or f"HTTP {a.status}" for a in self.failures)

    @property
    def reused(self) -> int:
        return sum(a.reused for a in self.answers)

    @property
    def closed_by_server(self) -> int:
        return sum(a.server_closed for a in self.answers)

    def last_deployment(self, session: int) -> str:
        return last_deployment(self.answers, session)

    def summary(self) -> str:
        kinds = ", ".join(f"{kind} x{n}" for kind, n in self.failure_kinds().most_common())
        return (
            f"{self.client}: {len(self.failures)} failed of {len(self.answers)} "
            f"({self.sessions} sessions, {self.reused} on a reused connection, "
            f"{self.closed_by_server} answered 'Connection: close')"
            + (f": {kinds}" if kinds else "")
        )


def last_deployment(answers: list[Answer], session: int) -> str:
    """The deployment that answered ``session`` last ("" before any answer)."""
    answered = [a for a in answers if a.session == session and a.deployment]
    return answered[-1].deployment if answered else ""


def every_session(answers: list[Answer], sessions: int, ok: Callable[[list[Answer]], bool]) -> bool:
    """Whether ``ok`` holds for each session's own answers."""
    return all(ok([a for a in answers if a.session == n]) for n in range(sessions))


def innermost(exc: BaseException) -> BaseException:
    """The error under requests' and urllib3's wrappers (MaxRetryError.reason,
    ProtocolError's second argument, then the exception's cause)."""
    seen: set[int] = set()
    while id(exc) not in seen:
        seen.add(id(exc))
        inner = getattr(exc, "reason", None)
        if not isinstance(inner, BaseException):
            inner = next((a for a in exc.args if isinstance(a, BaseException)), None)
        if inner is None:
            inner = exc.__cause__ or exc.__context__
        if inner is None:
            break
        exc = inner
    return exc


class Client(Protocol):
    def get(self, path: str) -> tuple[int, bool, str]:
        """(status, the server asked to close, X-Deployment-ID)."""

    @property
    def reusing(self) -> bool:
        """Whether the next request would go on a connection that carried one before."""

    def close(self) -> None: ...


def base_url(where: int | str) -> str:
    """A port on 127.0.0.1, or a base URL (``http://host:port``), as a base URL."""
    return f"http://127.0.0.1:{where}" if isinstance(where, int) else where.rstrip("/")


class RequestsClient:
    def __init__(self, where: int | str, timeout: float, retry: Retry | int) -> None:
        self.base, self.timeout = base_url(where), timeout
        self.session = requests.Session()
        adapter = HTTPAdapter(pool_connections=1, pool_maxsize=1, max_retries=retry)
        self.session.mount("http://", adapter)
        self.used = False

    @property
    def reusing(self) -> bool:
        return self.used

    def get(self, path: str) -> tuple[int, bool, str]:
        try:
            response = self.session.get(self.base + path, timeout=self.timeout)
        except BaseException:
            self.used = False
            raise
        closing = response.headers.get("Connection", "").lower() == "close"
        self.used = not closing
        return response.status_code, closing, response.headers.get("X-Deployment-ID", "")

    def close(self) -> None:
        self.session.close()


class HTTPClientLoop:
    def __init__(self, where: int | str, timeout: float) -> None:
        url = urlsplit(base_url(where))
        host = url.hostname or "127.0.0.1"
        self.connection = http.client.HTTPConnection(host, url.port, timeout=timeout)
        self.used = False

    @property
    def reusing(self) -> bool:
        return self.used

    def get(self, path: str) -> tuple[int, bool, str]:
        try:
            self.connection.request("GET", path)
            response = self.connection.getresponse()
            response.read()
        except BaseException:
            self.connection.close()  # the next request connects again
            self.used = False
            raise
        closing = response.will_close  # http.client closes the connection itself then
        self.used = not closing
        return response.status, closing, response.getheader("X-Deployment-ID") or ""

    def close(self) -> None:
        self.connection.close()


def make_client(kind: str, where: int | str, timeout: float) -> Client:
    """A client of ``kind`` for a port on 127.0.0.1 or a base URL."""
    if kind == "requests":
        return RequestsClient(where, timeout, retry=0)
    if kind == "requests+retry":
        return RequestsClient(where, timeout, retry=IDEMPOTENT_RETRY)
    if kind == "http.client":
        return HTTPClientLoop(where, timeout)
    raise ValueError(f"unknown keep-alive client {kind!r}; one of {', '.join(CLIENTS)}")


class KeepAliveLoad:
    """``start()``, then ``stop()`` for the result."""

    def __init__(
        self,
        where: int | str,  # a port on 127.0.0.1, or a base URL
        client: str = "requests",
        sessions: int = 8,
        rate: float = 80.0,
        path: str = "/api/data",
        timeout: float = 10.0,
    ) -> None:
        make_client(client, where, timeout).close()  # an unknown kind fails here
        self.sessions = sessions
        self.where, self.client, self.path, self.timeout = where, client, path, timeout
        self.result = KeepAliveResult(client, sessions, rate)
        self.interval = sessions / rate  # seconds between one session's requests
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._threads = [
            threading.Thread(target=self._session, args=(n,), daemon=True) for n in range(sessions)
        ]
        self._start = 0.0

    def start(self) -> KeepAliveLoad:
        self._start = time.monotonic()
        for thread in self._threads:
            thread.start()
        return self

    def elapsed(self) -> float:
        """Seconds since ``start()``, on the clock of ``Answer.sent``."""
        return time.monotonic() - self._start

    def answers(self) -> list[Answer]:
        """The answers so far (a copy), in the order they were recorded."""
        with self._lock:
            return list(self.result.answers)

    def wait_for(
        self, condition: Callable[[list[Answer]], bool], timeout: float, what: str
    ) -> None:
        """Return as soon as ``condition(answers so far)`` holds; AssertionError naming
        ``what`` after ``timeout`` s (a hang guard, never a latency limit)."""
        deadline = time.monotonic() + timeout
        while not condition(self.answers()):
            if time.monotonic() > deadline:
                summary = KeepAliveResult(self.client, self.sessions, 0, self.answers())
                raise AssertionError(f"not within {timeout:g} s: {what}; {summary.summary()}")
            time.sleep(0.05)

    def stop(self) -> KeepAliveResult:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=self.timeout + 30)
        self.result.answers.sort(key=lambda a: a.sent)
        return self.result

    def _session(self, number: int) -> None:
        client = make_client(self.client, self.where, self.timeout)
        # Sessions start spread over one interval, so the load is even, not in waves.
        due = self._start + self.interval * number / len(self._threads)
        try:
            while not self._stop.wait(max(due - time.monotonic(), 0.0)):
                self._record(number, client)
                due = max(due + self.interval, time.monotonic())
        finally:
            client.close()

    def _record(self, number: int, client: Client) -> None:
        sent = time.monotonic() - self._start
        reused = client.reusing
        try:
            status, closing, deployment = client.get(self.path)
            answer = Answer(number, sent, status, "", "", reused, closing, deployment)
        except (OSError, http.client.HTTPException, requests.RequestException) as exc:
            inner = innermost(exc)
            answer = Answer(number, sent, 0, type(inner).__name__, str(inner)[:200], reused)
        with self._lock:
            self.result.answers.append(answer)
