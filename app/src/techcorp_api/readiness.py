"""Whether this process should receive traffic: starting -> ready -> draining."""

import threading

STARTING = "starting"
READY = "ready"
DRAINING = "draining"


class Readiness:
    def __init__(self) -> None:
        self._state = STARTING
        self._lock = threading.Lock()

    @property
    def state(self) -> str:
        return self._state

    @property
    def is_ready(self) -> bool:
        return self._state == READY

    def mark_ready(self) -> None:
        with self._lock:
            if self._state == STARTING:
                self._state = READY

    def mark_draining(self) -> None:
        """Irreversible: a draining process finishes its work and exits."""
        with self._lock:
            self._state = DRAINING
