"""Request ids, security headers and the structured access log."""

import json

import pytest

SECURITY_HEADERS = (
    "X-Content-Type-Options",
    "X-Frame-Options",
    "Content-Security-Policy",
    "Referrer-Policy",
)


def test_sane_request_id_is_echoed(client):
    response = client.get("/health", headers={"X-Request-ID": "abc-123.def_4:5"})
    assert response.headers["X-Request-ID"] == "abc-123.def_4:5"


@pytest.mark.parametrize(
    "sent", ["", "x" * 200, "bad id with spaces", "<script>", "-leading-dash", "a\u00e9b"]
)
def test_insane_request_id_is_replaced(client, sent):
    response = client.get("/health", headers={"X-Request-ID": sent})
    returned = response.headers["X-Request-ID"]
    assert returned != sent
    assert len(returned) == 32 and returned.isalnum()


def test_request_ids_are_unique_when_not_sent(client):
    ids = {client.get("/health").headers["X-Request-ID"] for _ in range(20)}
    assert len(ids) == 20


@pytest.mark.parametrize("path", ["/health", "/api/data", "/ready", "/metrics", "/missing"])
def test_security_headers_on_every_response(client, path):
    response = client.get(path)
    for header in SECURITY_HEADERS:
        assert response.headers.get(header), f"{header} missing on {path}"
    assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_one_json_access_log_line_per_request(client, access_lines):
    client.get("/api/data", headers={"X-Request-ID": "trace-me"})
    client.get("/nope")
    assert len(access_lines) == 2
    first, second = (json.loads(line) for line in access_lines)
    assert first["request_id"] == "trace-me"
    assert (first["method"], first["route"], first["path"], first["status"]) == (
        "GET",
        "/api/data",
        "/api/data",
        200,
    )
    assert first["duration_ms"] >= 0 and first["time"].endswith("+00:00")
    assert (second["route"], second["status"]) == ("<unmatched>", 404)
