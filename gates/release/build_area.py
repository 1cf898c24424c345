"""Where a build assembles its release: outside the store, one build at a time.

A build works in ``<state_dir>/building/`` and publishes by renaming the finished release
into the store, on the same file system, so the store holds a whole release or none of it.
One build at a time per state directory: the holder of an ``flock`` on
``<state_dir>/building.lock``, which the kernel releases when its holder dies, ``kill -9``
included. The holder starts by removing whatever a killed build left in ``building/`` and
removes ``building/`` when it is done.
"""

import fcntl
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from gates.outcome import MeasurementError


@contextmanager
def build_area(state_dir: Path, timeout: float) -> Iterator[Path]:
    """An empty work directory for one build, held exclusively; waits ``timeout`` s for
    another build in the same state directory (then MeasurementError, exit 3)."""
    state_dir.mkdir(parents=True, exist_ok=True)
    area = state_dir / "building"
    with open(state_dir / "building.lock", "a") as lock:
        _acquire(lock.fileno(), timeout, state_dir)
        try:
            shutil.rmtree(area, ignore_errors=True)
            area.mkdir()
            yield area
        finally:
            shutil.rmtree(area, ignore_errors=True)
            # Closing the file releases the lock.


def _acquire(fd: int, timeout: float, state_dir: Path) -> None:
    deadline = time.monotonic() + timeout
    announced = False
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            pass
        if time.monotonic() >= deadline:
            raise MeasurementError(
                f"another build in {state_dir} held its lock for {timeout} s; "
                "try again when it finishes"
            )
        if not announced:
            print(f"gates build: waiting up to {timeout} s for another build in {state_dir}")
            announced = True
        time.sleep(0.5)
