"""Where a build assembles its release: outside the store, one build at a time.

A build works in ``<state_dir>/building/`` and publishes by renaming the finished release
into the store, on the same file system, so the store holds a whole release or none of it.
One build at a time per state directory: the holder of an ``flock`` on
``<state_dir>/building.lock`` (gates.locks.FileLock), which the kernel releases when its holder
dies, ``kill -9`` included. The holder starts by removing whatever a killed build left in
``building/`` and removes ``building/`` when it is done.
"""

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from gates.locks import FileLock
from gates.outcome import MeasurementError


@contextmanager
def build_area(state_dir: Path, timeout: float) -> Iterator[Path]:
    """An empty work directory for one build, held exclusively; waits ``timeout`` s for
    another build in the same state directory (then MeasurementError, exit 3)."""
    state_dir.mkdir(parents=True, exist_ok=True)
    area = state_dir / "building"
    lock = FileLock(
        state_dir / "building.lock",
        f"the build area in {state_dir}",
        "another build",
        refusal=MeasurementError,
        interval=0.5,
    )
    with lock.acquire(timeout):
        try:
            shutil.rmtree(area, ignore_errors=True)
            area.mkdir()
            yield area
        finally:
            shutil.rmtree(area, ignore_errors=True)
