"""The one Prometheus HTTP API client (gates.prometheus) against a real HTTP server on
127.0.0.1 that answers what a test tells it: what it asks, and the one line it fails with
(exit 3) when the server is unreachable, answers another status, something that is not JSON,
the API's error, or JSON that is not the API's. A real Prometheus answers it in
tests/e2e/test_slo_prometheus.py, test_failure_drill_prometheus.py, test_swarm_prometheus.py."""

import json
from urllib.parse import parse_qs, urlsplit

import pytest

from gates.outcome import COULD_NOT_MEASURE, MeasurementError
from gates.prometheus import Alert, Prometheus, Rule
from support.canned_http import canned_http
from support.ports import free_port

JSON = {"Content-Type": "application/json"}


def success(data):
    return 200, JSON, json.dumps({"status": "success", "data": data}).encode()


def fails(client_call, match):
    """The MeasurementError ``client_call`` raises: exit 3, one line, naming ``match``."""
    with pytest.raises(MeasurementError, match=match) as caught:
        client_call()
    assert caught.value.exit_code == COULD_NOT_MEASURE
    assert "\n" not in str(caught.value)
    return str(caught.value)


def test_what_it_asks_and_what_it_returns():
    asked = []

    def answer(method, path, headers):
        asked.append((method, path))
        url = urlsplit(path)
        if url.path == "/prom/api/v1/query":
            return success({"resultType": "vector", "result": [{"metric": {}, "value": [1, "2"]}]})
        if url.path == "/prom/api/v1/rules":
            rule = {"name": "SLOBurnRateFastBurn", "type": "alerting", "labels": {"slo": "a"}}
            return success({"groups": [{"name": "g", "rules": [rule, {"name": "r"}]}]})
        if url.path == "/prom/api/v1/alerts":
            alert = {"labels": {"alertname": "X"}, "state": "firing", "value": "1e+00"}
            return success({"alerts": [alert]})
        if url.path == "/prom/api/v1/targets":
            return success({"activeTargets": [{"labels": {"job": "j", "instance": "i:1"}}]})
        if url.path == "/prom/-/ready":
            return 200, {}, b"Prometheus Server is Ready.\n"
        return 404, {}, b"404 page not found"

    with canned_http(answer) as url:
        client = Prometheus(url + "/prom/")  # behind a proxy's path prefix
        assert client.query('sum(x{a="b"})', at=1700000000.5) == [{"metric": {}, "value": [1, "2"]}]
        assert client.rules("alert") == [
            Rule("g", "SLOBurnRateFastBurn", {"slo": "a"}),
            Rule("g", "r", {}),
        ]
        assert client.alerts() == [Alert({"alertname": "X"}, "firing", "1e+00")]
        assert client.active_targets() == [{"job": "j", "instance": "i:1"}]
        client.ready()
    query = parse_qs(urlsplit(asked[0][1]).query)
    assert query == {"query": ['sum(x{a="b"})'], "time": ["1700000000.500"]}
    assert parse_qs(urlsplit(asked[1][1]).query) == {"type": ["alert"]}
    assert parse_qs(urlsplit(asked[3][1]).query) == {"state": ["active"]}
    assert {method for method, _ in asked} == {"GET"}


def test_an_unreachable_prometheus_is_named_with_what_was_asked():
    url = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    line = fails(lambda: Prometheus(url).query("up"), f"Prometheus at {url} did not answer ")
    assert "/api/v1/query 'up'" in line and "is it running, and is that its URL?" in line
    fails(lambda: Prometheus(url).ready(), "did not answer /-/ready: ConnectionRefusedError")


def test_another_http_status_is_named_with_its_body():
    def answer(method, path, headers):
        return 502, {"Content-Type": "text/html"}, b"<html>\n<h1>Bad Gateway</h1>\n</html>"

    with canned_http(answer) as url:
        line = fails(lambda: Prometheus(url).rules(), "answered /api/v1/rules with HTTP 502: ")
        assert "<html> <h1>Bad Gateway</h1> </html>" in line  # on one line
        fails(lambda: Prometheus(url).ready(), "answered /-/ready with HTTP 502 .*not ready yet")


def test_not_ready_yet_is_a_measurement_error_naming_the_status():
    def answer(method, path, headers):
        return 503, {}, b"Service Unavailable"

    with canned_http(answer) as url:
        fails(lambda: Prometheus(url).ready(), r"HTTP 503 \('Service Unavailable'\): not ready")


def test_a_body_that_is_not_json_is_named():
    def answer(method, path, headers):
        return 200, {}, b"not json"

    with canned_http(answer) as url:
        fails(
            lambda: Prometheus(url).alerts(),
            r"did not answer /api/v1/alerts with JSON \('not json'\): is that URL a "
            "Prometheus server",
        )


def test_the_apis_own_error_is_passed_on():
    def answer(method, path, headers):
        error = {"status": "error", "errorType": "bad_data", "error": 'parse error: "{"'}
        return 400, JSON, json.dumps(error).encode()

    with canned_http(answer) as url:
        fails(
            lambda: Prometheus(url).query("up{"),
            r"refused /api/v1/query 'up\{' \(HTTP 400\): bad_data: parse error",
        )


@pytest.mark.parametrize(
    "body",
    [
        b"[]",
        b'"up"',
        b'{"status": "pending", "data": {}}',
        b'{"status": "success"}',
        b'{"status": "success", "data": []}',
        b'{"status": "success", "data": {"result": "x"}}',
    ],
)
def test_json_that_is_not_a_query_answer_has_no_data(body):
    def answer(method, path, headers):
        return 200, JSON, body

    with canned_http(answer) as url:
        fails(
            lambda: Prometheus(url).query("up"),
            r"has no data for /api/v1/query 'up': its answer is not the HTTP API's",
        )


@pytest.mark.parametrize(
    "call, data",
    [
        (lambda api: api.rules(), {"groups": "x"}),
        (lambda api: api.rules(), {"groups": [{"rules": [{"labels": {}}]}]}),  # no name
        (lambda api: api.alerts(), {"alerts": [{"labels": ["alertname", "X"]}]}),
        (lambda api: api.active_targets(), {"activeTargets": [{}]}),
    ],
)
def test_rules_alerts_and_targets_of_another_shape_have_no_data(call, data):
    with canned_http(lambda method, path, headers: success(data)) as url:
        fails(lambda: call(Prometheus(url)), r"has no data for /api/v1/\w+: its answer is not")
