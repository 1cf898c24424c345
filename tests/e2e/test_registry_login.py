"""`gates engine login` against a real registry that wants credentials: Debian's docker-registry
with htpasswd (bcrypt) auth on a loopback port of its own, the engine's docker CLI logging in
with a client configuration of the test's own ($DOCKER_CONFIG)."""

import json
import shutil
import subprocess
import time
import warnings
from pathlib import Path

import pytest
import requests

from gates.docker import Docker
from gates.registry import Registry
from support.engine import unique_name
from support.gates_cli import run_gates
from support.pipeline_project import make_project
from support.ports import free_port
from support.servers import Started
from support.timeouts import HANG, START_TIMEOUT

USERNAME, GIVEN = "deployer", "e2e-registry-word"  # the password the registry takes
WRONG = "not-it"
CONFIG = """\
version: 0.1
storage:
  filesystem:
    rootdirectory: {data}
http:
  addr: {address}
auth:
  htpasswd:
    realm: gates-test
    path: {htpasswd}
"""


def bcrypt_line(username, password):
    """An htpasswd line with a bcrypt hash (the only kind docker-registry accepts)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            import crypt  # the standard library's, up to Python 3.12
        return f"{username}:{crypt.crypt(password, crypt.mksalt(crypt.METHOD_BLOWFISH))}\n"
    except ImportError:
        if shutil.which("htpasswd") is None:
            pytest.skip("no bcrypt: Python's crypt module (<= 3.12) or htpasswd (apache2-utils)")
        done = subprocess.run(
            ["htpasswd", "-nbB", username, password], capture_output=True, text=True, timeout=HANG
        )
        return done.stdout.strip() + "\n"


@pytest.fixture
def private_registry(tmp_path, engine):
    """A registry on 127.0.0.1:<free port> that answers 401 without credentials."""
    binary = shutil.which("docker-registry")
    if binary is None:
        pytest.skip("docker-registry is not installed (apt-get install docker-registry)")
    address = f"127.0.0.1:{free_port()}"
    htpasswd = tmp_path / "htpasswd"
    htpasswd.write_text(bcrypt_line(USERNAME, GIVEN))
    config = tmp_path / "registry.yml"
    config.write_text(CONFIG.format(data=tmp_path / "data", address=address, htpasswd=htpasswd))
    log = tmp_path / "registry.log"
    with open(log, "w") as handle:
        process = subprocess.Popen(
            [binary, "serve", str(config)],
            stdout=handle,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    registry = Started(process, log)
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            try:
                if requests.get(f"http://{address}/v2/", timeout=HANG).status_code == 401:
                    break
            except requests.ConnectionError:
                pass
            assert process.poll() is None, registry.log()
            assert time.monotonic() < deadline, registry.log()
            time.sleep(0.1)
        yield address
    finally:
        registry.stop()


def docker_with(engine, env, *args):
    """``docker args`` against the engine with ``env`` (a client configuration) added."""
    client = Docker.of(engine.config)
    return subprocess.run(
        [client.binary(), *args],
        env={**client.env(), **env},
        capture_output=True,
        text=True,
        timeout=START_TIMEOUT,
    )


def test_login_to_a_registry_that_wants_credentials(
    tmp_path, engine, private_registry, monkeypatch
):
    path = make_project(tmp_path / "project")
    path.write_text(
        path.read_text()
        + f'[tool.pipeline.engine]\nregistry = "{private_registry}/techcorp"\n'
        + f'docker_host = "{engine.docker_host}"\n'
    )
    client = tmp_path / "docker-config"  # never the machine's own ~/.docker
    env = {"DOCKER_CONFIG": str(client), "REGISTRY_USERNAME": USERNAME}

    wrong = run_gates(path, "engine", "login", env={**env, "REGISTRY_PASSWORD": WRONG})
    assert wrong.returncode == 2, wrong.stdout + wrong.stderr
    (line,) = wrong.stderr.splitlines()
    assert line.startswith(
        f"gates engine: the registry {private_registry} refused the credentials of {USERNAME} "
    )
    assert "401 Unauthorized" in line and WRONG not in wrong.stdout + wrong.stderr

    right = run_gates(path, "engine", "login", env={**env, "REGISTRY_PASSWORD": GIVEN})
    assert right.returncode == 0, right.stdout + right.stderr
    assert f"gates engine: logged in to {private_registry} as {USERNAME}" in right.stdout
    assert GIVEN not in right.stdout + right.stderr
    stored = json.loads((client / "config.json").read_text())
    assert private_registry in stored["auths"]  # what a push and --with-registry-auth send

    anonymous = run_gates(path, "engine", "login", env={"DOCKER_CONFIG": str(client)})
    assert anonymous.returncode == 0, anonymous.stdout + anonymous.stderr
    assert "pushing and pulling anonymously" in anonymous.stdout

    # The login is what a push sends; the pipeline's registry client answers the 401 itself.
    tag = f"{private_registry}/techcorp/{unique_name()}:probe"
    config = {"DOCKER_CONFIG": str(client)}
    engine.docker("tag", engine.config.base_image, tag)
    try:
        pushed = docker_with(engine, config, "push", tag)
        assert pushed.returncode == 0, pushed.stderr
        recorded = engine.docker("image", "inspect", "--format", "{{json .RepoDigests}}", tag)
        registry = Registry.parse(private_registry)
        repository, reference = tag.split("/", 1)[1].rsplit(":", 1)
        assert "401" in (registry.answers() or "")  # no credentials in this process
        monkeypatch.setenv("REGISTRY_USERNAME", USERNAME)
        monkeypatch.setenv("REGISTRY_PASSWORD", GIVEN)
        assert registry.answers() is None
        digest = registry.manifest_digest(repository, reference)
        assert f"{private_registry}/{repository}@{digest}" in recorded.stdout
    finally:
        engine.docker("rmi", tag, check=False)


def test_a_registry_that_is_not_there_is_exit_3(tmp_path, engine):
    dead = f"127.0.0.1:{free_port()}"
    path = make_project(tmp_path / "project")
    path.write_text(
        path.read_text()
        + f'[tool.pipeline.engine]\nregistry = "{dead}"\ndocker_host = "{engine.docker_host}"\n'
    )
    env = {"DOCKER_CONFIG": str(tmp_path / "dc"), "REGISTRY_USERNAME": USERNAME}
    done = run_gates(path, "engine", "login", env={**env, "REGISTRY_PASSWORD": GIVEN})
    assert done.returncode == 3, done.stdout + done.stderr
    (line,) = done.stderr.splitlines()
    assert line.startswith(f"gates engine: could not log in to the registry {dead}: ")
    assert "connection refused" in line
    assert (
        not Path(tmp_path / "dc" / "config.json").exists()
        or dead not in (tmp_path / "dc" / "config.json").read_text()
    )
