"""The service's endpoint contracts, through the factory and Flask's test client."""

import time
from importlib import metadata

import pytest

from techcorp_api import create_app
from techcorp_api.settings import SettingsError, load_settings


def test_health_contract(client):
    before = int(time.time())
    response = client.get("/health")
    body = response.get_json()
    assert response.status_code == 200
    assert response.content_type == "application/json"
    assert body["status"] == "healthy"
    assert isinstance(body["timestamp"], int) and before <= body["timestamp"] <= time.time()
    assert body["version"] == "9.9.9-test"


def test_data_contract(client):
    response = client.get("/api/data")
    assert response.status_code == 200
    assert response.get_json() == {
        "message": "Hello from TechCorp API",
        "environment": "test",
        "version": "9.9.9-test",
    }


def test_environment_variables_set_environment_and_version(monkeypatch):
    monkeypatch.setenv("ENVIRONMENT", "staging")
    monkeypatch.setenv("APP_VERSION", "2.3.4")
    body = create_app().test_client().get("/api/data").get_json()
    assert body["environment"] == "staging"
    assert body["version"] == "2.3.4"


def test_version_defaults_to_package_metadata(monkeypatch):
    monkeypatch.delenv("APP_VERSION", raising=False)
    body = create_app().test_client().get("/health").get_json()
    assert body["version"] == metadata.version("techcorp-api")


def test_explicit_config_beats_environment(monkeypatch):
    monkeypatch.setenv("ENVIRONMENT", "staging")
    app = create_app({"ENVIRONMENT": "production"})
    assert app.test_client().get("/api/data").get_json()["environment"] == "production"


def test_ready_follows_starting_ready_draining():
    app = create_app({"READY_ON_START": False})
    client = app.test_client()
    readiness = app.extensions["readiness"]

    response = client.get("/ready")
    assert (response.status_code, response.get_json()["status"]) == (503, "starting")
    readiness.mark_ready()
    response = client.get("/ready")
    assert (response.status_code, response.get_json()["status"]) == (200, "ready")
    readiness.mark_draining()
    readiness.mark_ready()  # draining is final
    response = client.get("/ready")
    assert (response.status_code, response.get_json()["status"]) == (503, "draining")


def test_ready_on_start_by_default(client):
    assert client.get("/ready").status_code == 200


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"ENVIRONMENT": ""}, "ENVIRONMENT must be a non-empty string"),
        ({"APP_VERSION": 3}, "APP_VERSION must be a non-empty string"),
        ({"LOG_LEVEL": "LOUD"}, "LOG_LEVEL must be one of"),
        ({"SLO_LATENCY_SECONDS": "fast"}, "SLO_LATENCY_SECONDS must be a number"),
        ({"SLO_LATENCY_SECONDS": 0}, "SLO_LATENCY_SECONDS must be a number"),
    ],
)
def test_bad_settings_are_refused_with_a_clear_message(overrides, message):
    with pytest.raises(SettingsError, match=message):
        load_settings(overrides, environ={})


def test_settings_from_environment_are_parsed():
    config = load_settings(environ={"SLO_LATENCY_SECONDS": "0.3", "LOG_LEVEL": "debug"})
    assert config["SLO_LATENCY_SECONDS"] == 0.3
    assert config["LOG_LEVEL"] == "DEBUG"


def test_release_id_is_answered_when_deployed():
    client = create_app({"RELEASE_ID": "abc123"}).test_client()
    response = client.get("/ready")
    assert response.headers["X-Release-ID"] == "abc123"
    assert response.get_json()["release"] == "abc123"
    assert client.get("/api/data").headers["X-Release-ID"] == "abc123"


def test_no_release_header_outside_a_deploy(client):
    assert "X-Release-ID" not in client.get("/health").headers
    assert client.get("/ready").get_json()["release"] is None


def test_faults_are_off_by_default(client):
    assert not client.application.extensions["faults"].active
    assert all(client.get("/api/data").status_code == 200 for _ in range(50))


def test_injected_error_rate_is_exact_and_spares_health(monkeypatch):
    monkeypatch.setenv("FAULT_ERROR_RATE", "0.05")
    client = create_app().test_client()
    codes = [client.get("/api/data").status_code for _ in range(100)]
    assert codes.count(500) == 5 and codes.count(200) == 95
    assert client.get("/health").status_code == 200 and client.get("/ready").status_code == 200


@pytest.mark.parametrize(
    "rate, failed_of_100",
    [(0.01, 1), (0.3, 30), (0.35, 35), (0.5, 50), (0.7, 70), (0.95, 95), (1.0, 100)],
)
def test_injected_error_rate_is_the_configured_share_at_any_rate(rate, failed_of_100):
    # round(1 / rate) gave every 3rd request for 0.35 (33) and every request for 0.7 (100)
    client = create_app({"FAULT_ERROR_RATE": rate}).test_client()
    codes = [client.get("/api/data").status_code for _ in range(100)]
    assert codes.count(500) == failed_of_100
    first_ten = codes[:10].count(500)
    assert first_ten == int(rate * 10 + 1e-9), codes[:10]  # spread evenly, not bunched


def test_injected_latency_delays_data_only():
    client = create_app({"FAULT_LATENCY_MS": 60}).test_client()
    started = time.perf_counter()
    client.get("/api/data")
    assert time.perf_counter() - started >= 0.06


@pytest.mark.parametrize("key, value", [("FAULT_ERROR_RATE", 2), ("FAULT_LATENCY_MS", "slow")])
def test_bad_fault_settings_are_refused(key, value):
    with pytest.raises(SettingsError, match=key):
        load_settings({key: value}, environ={})
