"""What every target's environment lock shares: ``Busy``, and waiting for the lock.

A command refused because another one holds the environment is ``Refused`` (exit 3): its
report is written beside the holder's, never over it, whatever the target.
"""

import time
from collections.abc import Callable

from gates.outcome import Refused


class Busy(Refused):
    """Another command holds the environment (exit 3; its report keeps its name)."""


def wait_for(
    try_acquire: Callable[[], bool],
    timeout: float,
    name: str,
    holder: Callable[[], str],
    interval: float,
) -> None:
    """Take the lock with ``try_acquire``, retrying every ``interval`` s for up to ``timeout``
    s; Busy naming ``holder()`` after that."""
    deadline = time.monotonic() + timeout
    announced = False
    while not try_acquire():
        if time.monotonic() >= deadline:
            raise Busy(
                f"environment {name} is busy: {holder()} held it for {timeout} s; "
                "try again when it finishes"
            )
        if not announced:
            print(f"gates: waiting up to {timeout} s for another command on {name}")
            announced = True
        time.sleep(interval)
