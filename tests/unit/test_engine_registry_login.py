"""`gates engine login`: the registry's credentials, from the environment, to `docker login`
through its standard input, against the configured engine; refusals in one line, without the
password. A stand-in docker on PATH records what it was given."""

import os
import stat

import pytest

from gates.config import EngineConfig
from gates.engine import registry_login
from gates.outcome import COULD_NOT_MEASURE, USAGE_ERROR, ConfigError, MeasurementError
from support.gates_cli import run_gates
from support.pipeline_project import make_project

GIVEN = "pa55-word-never-shown"  # the password
CREDENTIALS = {"REGISTRY_USERNAME": "deployer", "REGISTRY_PASSWORD": GIVEN}
SOCKET = "unix:///run/elsewhere/docker.sock"
DOCKER = """#!/bin/sh
printf '%s\\n' "$@" > "$0.args"
cat > "$0.stdin"
echo "$DOCKER_HOST" > "$0.host"
{then}
"""
SUCCEEDS = 'echo "Login Succeeded"'
WRONG = (
    'echo "Error response from daemon: login attempt to http://10.231.0.2:5000/v2/ failed with '
    'status: 401 Unauthorized" >&2; exit 1'
)
UNREACHABLE = (
    'echo "Error response from daemon: Get \\"https://10.231.0.2:5000/v2/\\": dial tcp '
    '10.231.0.2:5000: connect: no route to host" >&2; exit 1'
)
ECHOES = 'echo "unauthorized: $(cat "$0.stdin") is not the password" >&2; exit 1'


@pytest.fixture
def docker(tmp_path, monkeypatch):
    """Install a stand-in docker that ends as told; returns where it records its call."""

    def install(then):
        directory = tmp_path / "bin"
        directory.mkdir(exist_ok=True)
        path = directory / "docker"
        path.write_text(DOCKER.format(then=then))
        path.chmod(path.stat().st_mode | stat.S_IXUSR)
        monkeypatch.setenv("PATH", f"{directory}{os.pathsep}{os.environ['PATH']}")
        return path

    return install


def engine(registry="10.231.0.2:5000/techcorp"):
    return EngineConfig(docker_host=SOCKET, registry=registry)


def test_the_password_goes_through_stdin_to_the_configured_engine(docker):
    client = docker(SUCCEEDS)
    said = registry_login.log_in(engine(), CREDENTIALS)
    assert said == f"logged in to 10.231.0.2:5000 as deployer (engine: {SOCKET})"
    args = client.with_name("docker.args").read_text().splitlines()
    assert args == ["login", "10.231.0.2:5000", "--username", "deployer", "--password-stdin"]
    assert client.with_name("docker.stdin").read_text() == GIVEN
    assert client.with_name("docker.host").read_text().strip() == SOCKET


def test_no_credentials_is_an_anonymous_registry_and_runs_nothing(docker):
    client = docker(SUCCEEDS)
    assert registry_login.log_in(engine(), {}) == (
        "no registry credentials set: pushing and pulling anonymously"
    )
    assert not client.with_name("docker.args").exists()


@pytest.mark.parametrize(
    "environ, message",
    [
        ({"REGISTRY_USERNAME": "deployer"}, r"\$REGISTRY_PASSWORD is empty but \$REGISTRY_USER"),
        ({"REGISTRY_PASSWORD": GIVEN}, r"\$REGISTRY_USERNAME is empty but \$REGISTRY_PASS"),
        ({**CREDENTIALS, "REGISTRY_PASSWORD": ""}, r"\$REGISTRY_PASSWORD is empty"),
    ],
)
def test_one_without_the_other_is_a_configuration_error(docker, environ, message):
    client = docker(SUCCEEDS)
    with pytest.raises(ConfigError, match=message):
        registry_login.log_in(engine(), environ)
    assert not client.with_name("docker.args").exists()


def test_credentials_without_a_registry_are_a_configuration_error(docker):
    docker(SUCCEEDS)
    with pytest.raises(ConfigError, match="no registry to log in to"):
        registry_login.log_in(engine(registry=""), CREDENTIALS)


def test_credentials_the_registry_refuses_are_exit_2_with_dockers_line(docker):
    docker(WRONG)
    with pytest.raises(ConfigError) as refused:
        registry_login.log_in(engine(), CREDENTIALS)
    assert refused.value.exit_code == USAGE_ERROR
    assert str(refused.value) == (
        "the registry 10.231.0.2:5000 refused the credentials of deployer ($REGISTRY_USERNAME, "
        "$REGISTRY_PASSWORD): Error response from daemon: login attempt to "
        "http://10.231.0.2:5000/v2/ failed with status: 401 Unauthorized"
    )


def test_a_registry_that_cannot_be_reached_is_exit_3_with_dockers_line(docker):
    docker(UNREACHABLE)
    with pytest.raises(MeasurementError) as failed:
        registry_login.log_in(engine(), CREDENTIALS)
    assert failed.value.exit_code == COULD_NOT_MEASURE
    assert str(failed.value).startswith("could not log in to the registry 10.231.0.2:5000: ")
    assert str(failed.value).endswith("connect: no route to host")


def test_the_password_is_never_repeated_even_when_docker_does(docker):
    docker(ECHOES)
    with pytest.raises(ConfigError) as refused:
        registry_login.log_in(engine(), CREDENTIALS)
    assert GIVEN not in str(refused.value) and "unauthorized: *** is not" in str(refused.value)


def test_the_engine_command_logs_in_as_one_line(tmp_path, docker):
    docker(WRONG)
    path = make_project(tmp_path / "project")
    path.write_text(path.read_text() + '[tool.pipeline.engine]\nregistry = "10.231.0.2:5000"\n')
    done = run_gates(path, "engine", "login", env=CREDENTIALS)
    assert done.returncode == USAGE_ERROR, done.stdout + done.stderr
    (line,) = done.stderr.splitlines()
    assert line.startswith("gates engine: the registry 10.231.0.2:5000 refused the credentials")
    assert GIVEN not in done.stdout + done.stderr
    done = run_gates(path, "engine", "login")
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout == (
        "gates engine: no registry credentials set: pushing and pulling anonymously\n"
    )
