"""Open-loop, constant-rate HTTP load on a port of 127.0.0.1 or an environment's base URL.

Requests are scheduled on a clock (request i at start + i/rate), not sent after the previous
answer, and each latency is measured from the request's *scheduled* time, so a server stall
shows up in the numbers instead of silently slowing the generator (coordinated omission).

The schedule holds whatever the latency: a request waits for no other. Sender threads are
started as slots need them, up to the number of requests the deadline allows in flight
(``rate × timeout``, each request giving up ``timeout`` after its slot), so a slow service is
measured as slow, not as a generator that fell behind. A slot that finds that many requests
still in flight (the service holds them past their deadline) is a failed request, not a late
one. ``lag`` (slot to send) is therefore the generator's own delay: its clock waking up late,
or its process not getting the CPU. A request sent more than ``late_after`` after its slot
counts as late: the generator fell behind and the run says so.

Hand-written rather than a load-testing library, for a reason the gate depends on: locust
(PyPI) runs closed-loop users, each waiting for its answer before its next request, so a
stall slows the load instead of showing in the latencies (coordinated omission), and it
reports aggregates, not the per-request schedule, send lag and status the regression test,
the chart and the kept samples need. The open-loop tools (wrk2, vegeta, k6) are programs from
outside the Python package registries, run as a second process whose output would be parsed.
This generator is checked against one instead: benchmarks/perf_accuracy.py runs it beside hey
on the same server (docs/benchmarks.md, "perf gate accuracy vs hey": p50 agreed in 6 of 6
runs, p99 in 5 of 6, within 20 % or 0.5 ms).
"""

import math
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
    lag: float  # seconds from the scheduled time to the actual send (the generator's delay)
    path: str
    status: int  # 0 when no HTTP answer came
    error: str = ""


@dataclass
class LoadResult:
    rate: float
    duration: float = 0.0  # seconds the schedule ran (answers may arrive after it)
    samples: list[Sample] = field(default_factory=list)
    late_after: float = 0.05
    in_flight_limit: int = 0  # most requests allowed in flight (rate × timeout)
    most_in_flight: int = 0  # most requests that were in flight at once

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
    """Run with ``run()`` (blocking) or ``start()`` then ``wait()`` or ``stop()``."""

    def __init__(
        self,
        port: httpget.Where,  # a port on 127.0.0.1, or a base URL
        paths: Iterable[str] = ("/api/data",),
        rate: float = 50.0,
        duration: float | None = None,
        timeout: float = 5.0,
        late_after: float = 0.05,
    ) -> None:
        if rate <= 0:
            raise ValueError("rate must be > 0 requests/s")
        if timeout <= 0:
            raise ValueError("timeout must be > 0 s")
        self.port, self.paths, self.rate, self.duration = port, tuple(paths), rate, duration
        self.timeout = timeout
        # Each request ends by its deadline, so at most this many overlap; +1 for the slot
        # that is due as the oldest one times out.
        limit = math.ceil(rate * timeout) + 1
        self.result = LoadResult(rate, late_after=late_after, in_flight_limit=limit)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._in_flight = 0

    def _record(self, sample: Sample, finished: bool) -> None:
        with self._lock:
            self.result.samples.append(sample)
            if finished:
                self._in_flight -= 1

    def _one(self, index: int, start: float, path: str) -> None:
        scheduled = index / self.rate
        sent = time.monotonic()
        # The deadline counts from the slot: a request sent late has less time left.
        remaining = max(0.001, start + scheduled + self.timeout - sent)
        status, error = request(self.port, path, remaining)
        done = time.monotonic()
        sample = Sample(
            scheduled, done - (start + scheduled), sent - (start + scheduled), path, status, error
        )
        self._record(sample, finished=True)

    def _dispatch(self, pool: ThreadPoolExecutor, index: int, start: float) -> None:
        path = self.paths[index % len(self.paths)]
        with self._lock:
            full = self._in_flight >= self.result.in_flight_limit
            if not full:
                self._in_flight += 1
                self.result.most_in_flight = max(self.result.most_in_flight, self._in_flight)
        if full:
            scheduled = index / self.rate
            waited = time.monotonic() - (start + scheduled)
            error = (
                f"not sent: {self.result.in_flight_limit} requests still in flight past "
                f"their {self.timeout:g} s deadline"
            )
            self._record(Sample(scheduled, waited, waited, path, 0, error), finished=False)
            return
        pool.submit(self._one, index, start, path)

    def run(self) -> LoadResult:
        start = time.monotonic()
        # The pool only reuses idle threads; it never makes a due request wait for one.
        with ThreadPoolExecutor(max_workers=self.result.in_flight_limit) as pool:
            index = 0
            while not self._stop.is_set():
                due = start + index / self.rate
                if self.duration is not None and due - start >= self.duration:
                    break
                delay = due - time.monotonic()
                if delay > 0 and self._stop.wait(delay):
                    break
                self._dispatch(pool, index, start)
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

    def wait(self) -> LoadResult:
        """Wait for a run with a duration to finish its schedule and its last answers."""
        if self._thread is not None:
            self._thread.join()
        return self.result

    def stop(self) -> LoadResult:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=self.timeout + 30)
        return self.result
