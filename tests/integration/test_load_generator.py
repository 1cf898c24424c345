"""The perf gate's load generator against tiny real HTTP servers on 127.0.0.1.

A slow service must be measured as slow (every request sent on schedule, latency ≈ the
service's), and judged a failed gate (exit 1) naming p95 latency, never "could not measure"
(exit 3). Only a generator that itself could not keep its schedule (here: its process
stopped with SIGSTOP for a second, as a starved CI runner would be) is exit 3.
"""

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from gates import perf
from gates.config import load_config
from gates.load import ConstantRateLoad
from gates.outcome import FAILED, PASSED, MeasurementError
from gates.report import Report
from support.timeouts import HANG

ROOT = Path(__file__).resolve().parents[2]
SLOW_SECONDS = 1.5  # the case: above ~1.3 s a pool of 64 senders queues at 50/s


class Answer(BaseHTTPRequestHandler):
    delay = 0.0

    def do_GET(self) -> None:
        if self.delay:
            time.sleep(self.delay)  # the service under test is this slow: the fault itself
        body = b'{"status": "ok"}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


class Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 512  # every request of a run may be waiting at once


def serve(delay: float) -> Iterator[int]:
    handler = type("Delayed", (Answer,), {"delay": delay})
    server = Server(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()
        thread.join(HANG)


@pytest.fixture
def slow_port() -> Iterator[int]:
    yield from serve(SLOW_SECONDS)


@pytest.fixture
def fast_port() -> Iterator[int]:
    yield from serve(0.0)


def test_a_slow_service_keeps_the_schedule_and_fails_on_its_latency(slow_port):
    result = ConstantRateLoad(slow_port, ("/",), rate=50, duration=2, timeout=HANG).run()
    assert len(result.samples) == 100
    assert not result.failures, result.failures[:3]
    # Sent on time: the generator's own lag stays small however long the answers take
    # (a pool of 64 senders sent 36 of these 100 late, from the slot at 1.28 s on).
    late_ratio = len(result.late) / len(result.samples)
    assert late_ratio <= load_config().perf.max_late_ratio, [s.lag for s in result.late]

    assert min(s.latency for s in result.samples) >= SLOW_SECONDS

    report = Report("perf")
    perf.judge(report, load_config().perf, result, rate=50)
    assert report.exit_code == FAILED
    p95 = {c.name: c for c in report.checks}["p95 latency"]
    assert not p95.passed and float(p95.measured.split()[0]) >= SLOW_SECONDS * 1000
    assert {c.name for c in report.checks if not c.passed} == {"p95 latency"}


def test_a_fast_service_passes_the_same_judgement(fast_port):
    result = ConstantRateLoad(fast_port, ("/",), rate=50, duration=2, timeout=HANG).run()
    report = Report("perf")
    perf.judge(report, load_config().perf, result, rate=50)
    assert report.exit_code == PASSED, report.checks


STARVED = """
import json, sys
from gates import perf
from gates.config import load_config
from gates.load import ConstantRateLoad
from gates.outcome import MeasurementError
from gates.report import Report

load = ConstantRateLoad(int(sys.argv[1]), ("/",), rate=50, duration=3, timeout=10).start()
print("running", flush=True)
sys.stdin.readline()  # the test stopped and resumed this process meanwhile
result = load.wait()
try:
    perf.judge(Report("perf"), load_config().perf, result, rate=50)
    print(json.dumps({"exit": 0, "late": len(result.late)}))
except MeasurementError as exc:
    print(json.dumps({"exit": exc.exit_code, "message": str(exc), "late": len(result.late)}))
"""


def test_a_generator_stopped_mid_run_could_not_measure(fast_port):
    child = subprocess.Popen(
        [sys.executable, "-c", STARVED, str(fast_port)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    try:
        assert child.stdout is not None and child.stdin is not None
        assert child.stdout.readline().strip() == "running"
        os.kill(child.pid, signal.SIGSTOP)
        time.sleep(1.0)  # the generator gets no CPU for a second: its own fault, not the server's
        os.kill(child.pid, signal.SIGCONT)
        out, _ = child.communicate("\n", timeout=HANG * 3)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait(HANG)
    verdict = json.loads(out.strip().splitlines()[-1])
    assert verdict["exit"] == MeasurementError.exit_code, verdict
    assert "the load generator fell behind" in verdict["message"]
    assert verdict["late"] >= 25  # about a second's worth of slots went out late
