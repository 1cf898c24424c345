"""Open-loop, constant-rate HTTP load on a port of 127.0.0.1 or an environment's base URL.

Requests are scheduled on a clock (request i at start + i/rate), not sent after the previous
answer, and each latency is measured from the request's *scheduled* time, so a server stall
shows up in the numbers instead of silently slowing the generator (coordinated omission).
A request that could not even start within ``late_after`` of its slot counts as late: the
generator fell behind and the run says so.
"""

import threading
import time
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Self

from gates import httpget


@dataclass
class Sample:
    scheduled: float  # seconds since the run started
    latency: float  # seconds from the scheduled time to the full answer
    lag: float  # seconds from the scheduled time to the actual send
    path: str
    status: int  # 0 when no HTTP answer came
    error: str = ""


@dataclass
class LoadResult:
    rate: float
    duration: float = 0.0
    samples: list[Sample] = field(default_factory=list)
    late_after: float = 0.05

    @property
    def failures(self) -> list[Sample]:
        return [s for s in self.samples if not 200 <= s.status < 400]

    @property
    def late(self) -> list[Sample]:
        return [s for s in self.samples if s.lag > self.late_after]

    @property
    def achieved_rate(self) -> float:
        return len(self.samples) / self.duration if self.duration else 0.0


def request(port: httpget.Where, path: str, timeout: float) -> tuple[int, str]:
    """One GET on a new connection: (status, error)."""
    try:
        return httpget.fetch(path, port=port, timeout=timeout)[0], ""
    except httpget.FAILURES as exc:
        return 0, f"{type(exc).__name__}: {exc}"


class ConstantRateLoad:
    """Run with ``run()`` (blocking) or ``start()``/``stop()`` around other work."""

    def __init__(
        self,
        port: httpget.Where,  # a port on 127.0.0.1, or a base URL
        paths: Iterable[str] = ("/api/data",),
        rate: float = 50.0,
        duration: float | None = None,
        timeout: float = 5.0,
        concurrency: int = 64,
        late_after: float = 0.05,
    ) -> None:
        if rate <= 0:
            raise ValueError("rate must be > 0 requests/s")
        self.port, self.paths, self.rate, self.duration = port, tuple(paths), rate, duration
        self.timeout, self.concurrency = timeout, concurrency
        self.result = LoadResult(rate, late_after=late_after)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def _one(self, index: int, start: float, path: str) -> None:
        scheduled = index / self.rate
        sent = time.monotonic()
        status, error = request(self.port, path, self.timeout)
        done = time.monotonic()
        sample = Sample(
            scheduled, done - (start + scheduled), sent - (start + scheduled), path, status, error
        )
        with self._lock:
            self.result.samples.append(sample)

    def run(self) -> LoadResult:
        start = time.monotonic()
        with ThreadPoolExecutor(max_workers=self.concurrency) as pool:
            index = 0
            while not self._stop.is_set():
                due = start + index / self.rate
                if self.duration is not None and due - start >= self.duration:
                    break
                delay = due - time.monotonic()
                if delay > 0 and self._stop.wait(delay):
                    break
                pool.submit(self._one, index, start, self.paths[index % len(self.paths)])
                index += 1
        self.result.duration = time.monotonic() - start
        self.result.samples.sort(key=lambda s: s.scheduled)
        return self.result

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> Self:
        self._thread = threading.Thread(target=self.run, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> LoadResult:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=self.timeout + 30)
        return self.result
