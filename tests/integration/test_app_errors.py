"""Every error is JSON with the right status: never HTML, never a stack trace."""

import json

import pytest


@pytest.fixture
def failing_app(app):
    @app.get("/boom")
    def boom():
        raise RuntimeError("secret internal detail")

    return app


def assert_json_error(response, status):
    assert response.status_code == status
    assert response.content_type == "application/json"
    body = response.get_json()
    assert body["status"] == status
    assert body["error"] and body["message"]
    assert body["request_id"] == response.headers["X-Request-ID"]
    text = response.get_data(as_text=True)
    assert "<html" not in text.lower() and "Traceback" not in text
    return body


def test_unknown_path_is_json_404(client):
    body = assert_json_error(client.get("/no/such/thing"), 404)
    assert body["error"] == "Not Found"


def test_wrong_method_is_json_405_with_allow(client):
    response = client.post("/health")
    assert_json_error(response, 405)
    assert "GET" in response.headers["Allow"]


def test_unhandled_exception_is_json_500_without_details(failing_app):
    response = failing_app.test_client().get("/boom")
    body = assert_json_error(response, 500)
    assert "secret internal detail" not in response.get_data(as_text=True)
    assert body["error"] == "Internal Server Error"


def test_unhandled_exception_is_logged_with_its_request_id(failing_app, service_lines):
    failing_app.test_client().get("/boom", headers={"X-Request-ID": "req-500"})
    errors = [json.loads(line) for line in service_lines]
    errors = [e for e in errors if e["level"] == "error"]
    assert [e["message"] for e in errors] == ["unhandled exception"]
    assert errors[0]["request_id"] == "req-500"
    # The log keeps what the client must not see.
    assert "secret internal detail" in errors[0]["exception"]
