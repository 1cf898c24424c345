"""The registry client asks a registry that wants credentials again, as its 401 challenge says:
Basic with $REGISTRY_USERNAME/$REGISTRY_PASSWORD, or Bearer through its token service."""

import base64
import json

import pytest

from gates.registry import Registry, stored_credentials
from support.canned_http import canned_http

DIGEST = "sha256:" + "cd" * 32
BASIC = "Basic " + base64.b64encode(b"deployer:s3cret").decode()


@pytest.fixture
def credentials(monkeypatch):
    monkeypatch.setenv("REGISTRY_USERNAME", "deployer")
    monkeypatch.setenv("REGISTRY_PASSWORD", "s3cret")


def basic_registry(method, path, headers):
    if headers.get("Authorization") != BASIC:
        return 401, {"WWW-Authenticate": 'Basic realm="gates"'}, b"{}"
    return 200, {"Docker-Content-Digest": DIGEST}, b"{}"


def test_a_basic_registry_is_asked_again_with_the_credentials(credentials):
    with canned_http(basic_registry) as url:
        registry = Registry(url.removeprefix("http://"))
        assert registry.answers() is None
        assert registry.manifest_digest("techcorp-api", "r1") == DIGEST


def test_without_credentials_a_401_says_what_it_wants():
    with canned_http(basic_registry) as url:
        host = url.removeprefix("http://")
        assert Registry(host).answers() == (
            f"the image registry {host} answered GET /v2/ with 401: it wants credentials "
            "($REGISTRY_USERNAME, $REGISTRY_PASSWORD) and was given none it accepts"
        )


def test_a_bearer_registry_gives_a_token_for_the_credentials(credentials):
    asked = []

    def registry(method, path, headers):
        if path.startswith("/token?"):
            asked.append((path, headers.get("Authorization")))
            return 200, {}, json.dumps({"token": "t0k"}).encode()
        if headers.get("Authorization") != "Bearer t0k":
            challenge = (
                f'Bearer realm="{base}/token",service="reg",scope="repository:techcorp-api:pull"'
            )
            return 401, {"WWW-Authenticate": challenge}, b"{}"
        return 200, {"Docker-Content-Digest": DIGEST}, b"{}"

    with canned_http(registry) as base:
        assert Registry(base.removeprefix("http://")).manifest_digest("techcorp-api", "r1") == (
            DIGEST
        )
    assert asked == [("/token?service=reg&scope=repository%3Atechcorp-api%3Apull", BASIC)]


@pytest.mark.parametrize("token_answer", [(200, b"not json"), (401, b"{}"), (200, b'{"x": 1}')])
def test_no_token_is_the_401_as_it_was(credentials, token_answer):
    def registry(method, path, headers):
        if path.startswith("/token"):
            return token_answer[0], {}, token_answer[1]
        return 401, {"WWW-Authenticate": f'Bearer realm="{base}/token"'}, b"{}"

    with canned_http(registry) as base:
        assert "answered GET /v2/ with 401" in Registry(base.removeprefix("http://")).answers()


def test_the_registry_client_uses_what_docker_login_stored_when_no_credentials_are_set(
    tmp_path,
):
    (tmp_path / "config.json").write_text(
        '{"auths": {"10.231.0.2:5000": {"auth": "ZGVwbG95OnNlY3JldA=="}}}'
    )
    environ = {"DOCKER_CONFIG": str(tmp_path)}
    assert stored_credentials("10.231.0.2:5000", environ) == "Basic ZGVwbG95OnNlY3JldA=="
    assert stored_credentials("elsewhere:5000", environ) is None
    (tmp_path / "config.json").write_text("not json")
    assert stored_credentials("10.231.0.2:5000", environ) is None
