"""Opt-in fault injection for drills: slow or failing /api/data, OFF unless configured.

FAULT_LATENCY_MS: extra milliseconds before every /api/data answer.
FAULT_ERROR_RATE: fraction (0-1) of /api/data requests answered 500, spread evenly: request
n of a worker fails when floor(n * rate) steps up, so with 0.05 every 20th fails and with 0.7
seven of every ten. Deterministic, so a drill's numbers are exact.

These exist so the pipeline's own drills can push a bad *configuration* (the failure mode
the SLO gate and automated rollback are for) without shipping broken code. /health and
/ready are never affected, so a bad config passes pre-flight, as it would in real life.
"""

import math
import threading
import time
from fractions import Fraction

from werkzeug.exceptions import InternalServerError


class Faults:
    def __init__(self, latency_ms: float = 0.0, error_rate: float = 0.0) -> None:
        self.latency = latency_ms / 1000.0
        self.error_rate = error_rate
        self._count = 0
        self._lock = threading.Lock()

    @property
    def active(self) -> bool:
        return bool(self.latency or self.error_rate)

    def apply(self) -> None:
        if self.latency:
            time.sleep(self.latency)
        if self.error_rate:
            with self._lock:
                self._count += 1
                failing = self.failures_in(self._count) > self.failures_in(self._count - 1)
            if failing:
                raise InternalServerError("injected fault (FAULT_ERROR_RATE)")

    def failures_in(self, count: int) -> int:
        """How many of the first ``count`` requests fail: floor(count * rate), exactly (the
        rate is a decimal from the environment: 0.7 * 10 must be 7, not 6.999...)."""
        return math.floor(Fraction(str(self.error_rate)) * count)
