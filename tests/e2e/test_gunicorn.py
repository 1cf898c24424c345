"""The service under a real gunicorn on 127.0.0.1: contracts over HTTP, metrics across workers."""

import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from support.timeouts import HANG

REQUESTS = 200


def scrape(server):
    response = requests.get(server.url("/metrics"), timeout=HANG)
    assert response.status_code == 200
    values = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            values[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return values


def data_count(values):
    key = (("method", "GET"), ("route", "/api/data"), ("status", "200"))
    return values.get(("http_requests_total", key), 0)


def worker_pids_with_samples(metrics_dir):
    """gunicorn workers that wrote samples: prometheus names each file after its pid."""
    return {path.stem.rsplit("_", 1)[1] for path in Path(metrics_dir).glob("counter_*.db")}


def get_fresh_connection(url):
    # A new connection per request, so the kernel spreads them over the workers.
    return requests.get(url, timeout=HANG, headers={"Connection": "close"})


def test_contracts_over_http(gunicorn_server):
    server = gunicorn_server(env={"ENVIRONMENT": "e2e", "APP_VERSION": "7.7.7"})
    health = requests.get(server.url("/health"), timeout=HANG)
    assert health.status_code == 200
    assert health.json()["status"] == "healthy" and health.json()["version"] == "7.7.7"
    assert isinstance(health.json()["timestamp"], int)
    data = requests.get(server.url("/api/data"), headers={"X-Request-ID": "e2e-1"}, timeout=HANG)
    assert data.json() == {
        "message": "Hello from TechCorp API",
        "environment": "e2e",
        "version": "7.7.7",
    }
    assert data.headers["X-Request-ID"] == "e2e-1"
    missing = requests.get(server.url("/missing"), timeout=HANG)
    assert (missing.status_code, missing.headers["Content-Type"]) == (404, "application/json")
    wrong = requests.delete(server.url("/api/data"), timeout=HANG)
    assert (wrong.status_code, wrong.json()["status"]) == (405, 405)
    assert requests.get(server.url("/ready"), timeout=HANG).json()["status"] == "ready"


def test_metrics_count_every_request_across_two_workers(gunicorn_server, tmp_path):
    server = gunicorn_server("--workers", "2")
    metrics_dir = next(tmp_path.glob("metrics-*"))
    before = data_count(scrape(server))

    sent = 0
    with ThreadPoolExecutor(max_workers=8) as pool:
        # Keep sending (bounded) until both workers have answered some of the requests.
        while sent < REQUESTS or len(worker_pids_with_samples(metrics_dir)) < 2:
            assert sent < 10 * REQUESTS, "requests never reached a second worker"
            results = list(pool.map(get_fresh_connection, [server.url("/api/data")] * 50))
            assert all(r.status_code == 200 for r in results)
            sent += len(results)

    assert len(worker_pids_with_samples(metrics_dir)) == 2
    # Whichever worker answers the scrape, it reports the total of all workers.
    for _ in range(5):
        assert data_count(scrape(server)) - before == sent


def test_structured_access_log_from_gunicorn(gunicorn_server):
    server = gunicorn_server()
    requests.get(server.url("/api/data"), headers={"X-Request-ID": "log-me"}, timeout=HANG)
    deadline = time.monotonic() + HANG
    while '"request_id": "log-me"' not in server.log() and time.monotonic() < deadline:
        time.sleep(0.05)
    line = next(x for x in server.log().splitlines() if '"request_id": "log-me"' in x)
    assert '"route": "/api/data"' in line and '"status": 200' in line


def test_sigterm_stops_master_and_workers(gunicorn_server):
    server = gunicorn_server("--workers", "2")
    assert requests.get(server.url("/health"), timeout=HANG).status_code == 200
    server.process.send_signal(signal.SIGTERM)
    assert server.process.wait(15) == 0
    with pytest.raises(requests.ConnectionError):
        requests.get(server.url("/health"), timeout=2)


def test_bad_worker_count_is_one_clear_line_and_exit_2():
    done = subprocess.run(
        [sys.executable, "-m", "techcorp_api", "--bind", "127.0.0.1:1"],
        env={"WEB_CONCURRENCY": "many", "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 2
    assert "WEB_CONCURRENCY='many' is not a whole number" in done.stderr
    assert "Traceback" not in done.stderr


def test_bad_service_setting_is_refused_before_gunicorn_starts():
    done = subprocess.run(
        [sys.executable, "-m", "techcorp_api", "--bind", "127.0.0.1:1"],
        env={"SLO_LATENCY_SECONDS": "fast", "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "techcorp-api: configuration error: SLO_LATENCY_SECONDS must be a number of seconds "
        "between 0 and 60, got 'fast'"
    ]
