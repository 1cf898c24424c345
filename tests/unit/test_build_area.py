"""The build area: outside the store, one build at a time, a killed build's leftovers removed."""

import signal
import subprocess
import sys

import pytest

from gates.outcome import MeasurementError
from gates.release.build_area import build_area
from support.timeouts import HANG

HOLD = """
import sys, time
from pathlib import Path
from gates.release.build_area import build_area
with build_area(Path(sys.argv[1]), 5) as area:
    (area / "half-built").write_text("x")
    print("held", flush=True)
    time.sleep(60)
"""


def test_the_area_starts_empty_and_is_removed_after(tmp_path):
    (tmp_path / "building" / "old").mkdir(parents=True)
    with build_area(tmp_path, 5) as area:
        assert area == tmp_path / "building"
        assert list(area.iterdir()) == []
        (area / "work").write_text("x")
    assert not area.exists()


def test_a_second_build_waits_then_gives_up(tmp_path, capsys):
    with build_area(tmp_path, 5):
        with pytest.raises(MeasurementError, match="another build .* held its lock for 0.3 s"):
            with build_area(tmp_path, 0.3):
                pass
    assert "waiting up to 0.3 s for another build" in capsys.readouterr().out


def test_a_build_killed_while_holding_the_area_neither_blocks_nor_leaves_anything(tmp_path):
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(tmp_path)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout.readline() == "held\n"
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait(timeout=HANG)
        holder.stdout.close()
    assert (tmp_path / "building" / "half-built").exists()
    with build_area(tmp_path, 1) as area:
        assert list(area.iterdir()) == []
