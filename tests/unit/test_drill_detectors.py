"""Which detector the failure drill uses, and how it reads the generated alerts' state from
Prometheus' HTTP API (a canned API on 127.0.0.1 here; the real server in
tests/e2e/test_failure_drill_prometheus.py)."""

import json
import threading
import time
from argparse import Namespace
from dataclasses import replace
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from gates.slo import alerts as prometheus_alerts
from gates.config import load_config
from gates.drill.detectors import AlertDetector, PrometheusDetector, detector_for
from gates.outcome import ConfigError, MeasurementError
from gates.slo.objectives import load
from gates.slo.prometheus import Source

ROOT = Path(__file__).resolve().parents[2]


def choose(tmp_path: Path, url: str | None, detector: str | None) -> str:
    config = load_config(ROOT / "pyproject.toml", environ={"PIPELINE_STATE_DIR": str(tmp_path)})
    target = SimpleNamespace(name="production", base_url="http://127.0.0.1:1")
    args = Namespace(prometheus_url=url, detector=detector, check_window=5.0)
    objectives = load(ROOT / "slo" / "objectives.yaml")
    return detector_for(config, target, objectives, args).name  # type: ignore[arg-type]


def test_scrape_mode_without_a_prometheus_and_its_evaluation_with_one(tmp_path: Path) -> None:
    assert choose(tmp_path, None, None) == "scrape"
    assert choose(tmp_path, "http://127.0.0.1:9090", None) == "prometheus"
    assert choose(tmp_path, "http://127.0.0.1:9090", "alert") == "alert"
    assert choose(tmp_path, "http://127.0.0.1:9090", "scrape") == "scrape"


def test_a_prometheus_detector_without_a_prometheus_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="--detector alert needs .*--prometheus-url"):
        choose(tmp_path, None, "alert")


def rule(name: str, **labels: str) -> dict[str, Any]:
    return {"name": name, "type": "alerting", "labels": labels}


def alert(state: str, **labels: str) -> dict[str, Any]:
    return {"labels": labels, "state": state, "value": "5.1e-02"}


API: dict[str, Any] = {
    "/api/v1/rules": {
        "groups": [
            {
                "rules": [
                    rule("SLOBurnRateFastBurn", slo="availability", severity="page"),
                    rule("SLOBurnRateFastBurn", slo="latency", severity="ticket"),
                    rule("SLOBurnRateSlowBurn", slo="latency", severity="page"),
                ]
            }
        ]
    },
    "/api/v1/alerts": {
        "alerts": [
            alert("firing", alertname="SLOBurnRateFastBurn", slo="availability", severity="page"),
            alert("pending", alertname="SLOBurnRateFastBurn", slo="latency", severity="page"),
            alert("firing", alertname="SLOBurnRateSlowBurn", slo="latency", severity="ticket"),
        ]
    },
}


@pytest.fixture
def prometheus_api() -> Iterator[str]:
    """A canned Prometheus HTTP API on a free loopback port; ``/broken`` paths answer junk."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (the stdlib's name)
            path = self.path.split("?")[0]
            if path.startswith("/broken"):
                body = b"not json"
            else:
                body = json.dumps({"status": "success", "data": API[path]}).encode()
            self.send_response(200)
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    thread.join()
    server.server_close()


def test_only_page_severity_fast_burn_rules_count_as_loaded(prometheus_api: str) -> None:
    assert prometheus_alerts.loaded(prometheus_api) == {"availability"}


def test_only_firing_page_fast_burn_alerts_count(prometheus_api: str) -> None:
    # pending is not firing; the slow burn and ticket severities are other alerts
    assert prometheus_alerts.firing(prometheus_api) == {"availability": "5.1e-02"}


def test_an_answer_that_is_not_the_api_cannot_be_judged(prometheus_api: str) -> None:
    with pytest.raises(MeasurementError, match="did not answer /api/v1/alerts"):
        prometheus_alerts.firing(prometheus_api + "/broken")
    with pytest.raises(MeasurementError, match="did not answer"):
        prometheus_alerts.firing("http://127.0.0.1:1")


def test_the_alert_detector_refuses_a_page_already_firing_before_the_push(
    prometheus_api: str,
) -> None:
    objectives = load(ROOT / "slo" / "objectives.yaml")
    detector = AlertDetector(objectives, prometheus_api)
    with pytest.raises(MeasurementError, match="already fires .* for availability before the push"):
        detector.check_before_push()


def test_the_alert_detector_counts_only_the_objectives_slos(prometheus_api: str) -> None:
    objectives = load(ROOT / "slo" / "objectives.yaml")
    only_latency = replace(
        objectives, slos=tuple(o for o in objectives.slos if o.name == "latency")
    )
    # availability fires, but is not one of the SLOs being drilled; latency has no page rule
    with pytest.raises(MeasurementError, match="has no SLOBurnRateFastBurn rule .* \\(latency\\)"):
        AlertDetector(only_latency, prometheus_api).check_before_push()


def promql_answer(query: str) -> dict[str, Any]:
    """Prometheus as a fresh one is: no declared lookback (1h, 5m, 6h, 30m) can be given; over
    the seconds since the push, 20 of availability's 400 requests failed."""
    if any(f"[{seconds}s]" in query for seconds in (3600, 300, 21600, 1800)):
        return {"status": "error", "error": "not the declared lookback"}
    good = 380 if 'status!~"5.."' in query else 400
    return {"status": "success", "data": {"result": [{"value": [0, str(good)]}]}}


def test_the_prometheus_detector_decides_without_the_declared_burn_windows(tmp_path: Path) -> None:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (the stdlib's name)
            query = parse_qs(urlsplit(self.path).query).get("query", [""])[0]
            self.send_response(200)
            self.end_headers()
            self.wfile.write(json.dumps(promql_answer(query)).encode())

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        config = load_config(ROOT / "pyproject.toml", environ={"PIPELINE_STATE_DIR": str(tmp_path)})
        objectives = load(ROOT / "slo" / "objectives.yaml")
        url = f"http://127.0.0.1:{server.server_address[1]}"
        detector = PrometheusDetector(config, objectives, Source(url))
        detector.check_before_push()  # nothing to show a burn before the push: no refusal
        now = time.monotonic()
        detected_at, why = detector.watch(now, now + 10)
    finally:
        server.shutdown()
        thread.join()
        server.server_close()
    assert detected_at is not None
    assert "Availability: 95.0000% (20 bad of 400)" in str(why)
    assert "over the gate's own" in str(why)  # the burn over the window since the push
