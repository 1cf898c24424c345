"""Prometheus request metrics, correct under gunicorn's several worker processes.

With ``PROMETHEUS_MULTIPROC_DIR`` set (the gunicorn config sets it before any worker
imports prometheus_client), every worker writes its samples to files in that directory
and ``/metrics`` aggregates all of them, whichever worker answers the scrape.
"""

import os

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client import multiprocess
from prometheus_client.exposition import CONTENT_TYPE_LATEST

__all__ = ["CONTENT_TYPE_LATEST", "RequestMetrics", "UNMATCHED_ROUTE", "method_label"]

# Requests that match no route share one label value, so scanners probing random paths
# cannot grow the number of time series.
UNMATCHED_ROUTE = "<unmatched>"
KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
BASE_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


def method_label(method: str) -> str:
    return method if method in KNOWN_METHODS else "OTHER"


def latency_buckets(slo_latency_seconds: float) -> tuple[float, ...]:
    """The default buckets plus the SLO threshold, so the latency SLI is exact."""
    return tuple(sorted(set(BASE_BUCKETS) | {slo_latency_seconds}))


def multiprocess_dir() -> str | None:
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None


class RequestMetrics:
    def __init__(self, slo_latency_seconds: float) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "http_requests",
            "HTTP requests answered, by route template, method and status code.",
            ("route", "method", "status"),
            registry=self.registry,
        )
        self.duration = Histogram(
            "http_request_duration_seconds",
            "Time from receiving a request to returning its response.",
            ("route", "method"),
            buckets=latency_buckets(slo_latency_seconds),
            registry=self.registry,
        )

    def observe(self, route: str, method: str, status: int, seconds: float) -> None:
        method = method_label(method)
        self.requests.labels(route, method, str(status)).inc()
        self.duration.labels(route, method).observe(seconds)

    def exposition(self) -> bytes:
        """The text exposition: all workers' samples in multiprocess mode, else this process's."""
        directory = multiprocess_dir()
        if directory is None:
            return generate_latest(self.registry)
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry, path=directory)
        return generate_latest(registry)
