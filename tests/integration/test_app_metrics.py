"""/metrics: Prometheus text with request counts and a latency histogram, bounded labels."""

import pytest
from prometheus_client.parser import text_string_to_metric_families

from techcorp_api import create_app
from techcorp_api.metrics import latency_buckets, method_label


def samples(client, name):
    """{labels-tuple: value} of one sample name from a scrape."""
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.content_type.startswith("text/plain; version=")
    found = {}
    for family in text_string_to_metric_families(response.get_data(as_text=True)):
        for sample in family.samples:
            if sample.name == name:
                found[tuple(sorted(sample.labels.items()))] = sample.value
    return found


def count(client, route, method="GET", status="200"):
    key = (("method", method), ("route", route), ("status", status))
    return samples(client, "http_requests_total").get(key, 0)


def test_requests_are_counted_by_route_method_status(client):
    for _ in range(3):
        client.get("/api/data")
    client.post("/api/data")
    assert count(client, "/api/data") == 3
    assert count(client, "<unmatched>", "POST", "405") == 1


def test_unknown_paths_share_one_label_value(client):
    for i in range(50):
        client.get(f"/probe/{i}/admin.php")
    routes = {dict(k)["route"] for k in samples(client, "http_requests_total")}
    assert routes == {"<unmatched>"}
    assert count(client, "<unmatched>", status="404") == 50


def test_unknown_methods_share_one_label_value(client):
    client.open("/health", method="PROPFIND")
    client.open("/health", method="BREW")
    assert count(client, "<unmatched>", "OTHER", "405") == 2
    assert method_label("GET") == "GET" and method_label("brew") == "OTHER"


def test_histogram_has_the_slo_threshold_bucket(client):
    client.get("/api/data")
    buckets = samples(client, "http_request_duration_seconds_bucket")
    bounds = {dict(k)["le"] for k in buckets if dict(k)["route"] == "/api/data"}
    assert "0.2" in bounds and "+Inf" in bounds
    key = (("le", "0.2"), ("method", "GET"), ("route", "/api/data"))
    assert buckets[key] == 1


@pytest.mark.parametrize("threshold", [0.2, 0.3, 0.075])
def test_configured_slo_threshold_is_always_a_bucket(threshold):
    assert threshold in latency_buckets(threshold)
    app = create_app({"SLO_LATENCY_SECONDS": threshold})
    client = app.test_client()
    client.get("/health")
    bounds = {dict(k)["le"] for k in samples(client, "http_request_duration_seconds_bucket")}
    assert str(threshold) in bounds


def test_each_app_counts_only_its_own_requests():
    first, second = create_app().test_client(), create_app().test_client()
    first.get("/health")
    assert count(second, "/health") == 0
