"""Opt-in fault injection for drills: slow or failing /api/data, OFF unless configured.

FAULT_LATENCY_MS: extra milliseconds before every /api/data answer.
FAULT_ERROR_RATE: fraction (0-1) of /api/data requests answered 500, spread evenly: with
0.05 every 20th request of a worker fails. Deterministic, so a drill's numbers are exact.

These exist so the pipeline's own drills can push a bad *configuration* (the failure mode
the SLO gate and automated rollback are for) without shipping broken code. /health and
/ready are never affected, so a bad config passes pre-flight, as it would in real life.
"""

import threading
import time

from werkzeug.exceptions import InternalServerError


class Faults:
    def __init__(self, latency_ms: float = 0.0, error_rate: float = 0.0) -> None:
        self.latency = latency_ms / 1000.0
        self.error_every = round(1 / error_rate) if error_rate > 0 else 0
        self._count = 0
        self._lock = threading.Lock()

    @property
    def active(self) -> bool:
        return bool(self.latency or self.error_every)

    def apply(self) -> None:
        if self.latency:
            time.sleep(self.latency)
        if self.error_every:
            with self._lock:
                self._count += 1
                failing = self._count % self.error_every == 0
            if failing:
                raise InternalServerError("injected fault (FAULT_ERROR_RATE)")
