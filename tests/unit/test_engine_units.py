"""The engine's parts that need no engine: config, references, plans, prerequisites, records."""

import json
import os
from pathlib import Path

import pytest

from gates.config import load_config
from gates.engine import mounts, prerequisites
from gates.engine.layout import Layout
from gates.engine.record import Record, Started
from gates.engine.survey import Plan, State, plan
from gates.outcome import ConfigError, MeasurementError
from gates.registry import Registry, split_reference
from support.canned_http import canned_http
from support.pipeline_project import make_project


def project(tmp_path, engine_table="", build_table=""):
    path = make_project(tmp_path)
    path.write_text(path.read_text() + engine_table + build_table)
    return path


def test_engine_defaults_leave_the_choice_to_docker(tmp_path):
    config = load_config(project(tmp_path), environ={})
    assert config.engine.docker_host == "" and config.engine.registry == ""
    assert config.build.base_image == "python:3.11-slim"
    assert str(config.engine.data_root) == "/var/lib/gates-docker"


def test_docker_host_from_the_environment_wins_over_the_file(tmp_path):
    table = '[tool.pipeline.engine]\ndocker_host = "unix:///run/a/docker.sock"\n'
    path = project(tmp_path, table)
    assert load_config(path, environ={}).engine.docker_host == "unix:///run/a/docker.sock"
    overridden = load_config(path, environ={"DOCKER_HOST": "ssh://deploy@manager"})
    assert overridden.engine.docker_host == "ssh://deploy@manager"


@pytest.mark.parametrize(
    "value, message",
    [
        ("garbage://x", "must be empty or a Docker host URL: unix:///PATH, tcp://HOST:PORT or "
         "ssh://USER@HOST, got 'garbage://x'"),
        (f"unix:///{'d' * 110}", "must be a unix socket path of at most 107 bytes (the kernel's "
         f"limit), got 111: /{'d' * 110}"),
    ],
)  # fmt: skip
def test_a_bad_docker_host_from_the_environment_is_blamed_on_it(tmp_path, value, message):
    path = project(tmp_path, '[tool.pipeline.engine]\ndocker_host = "unix:///run/a/docker.sock"\n')
    with pytest.raises(ConfigError) as raised:
        load_config(path, environ={"DOCKER_HOST": value})
    said = f"{path} [tool.pipeline.engine]: docker_host (from $DOCKER_HOST) {message}"
    assert str(raised.value) == said


@pytest.mark.parametrize(
    "table, message",
    [
        ('docker_host = "/run/x.sock"', "docker_host must be empty or a Docker host URL"),
        (f'docker_host = "unix:///{"d" * 110}/docker.sock"', "at most 107 bytes"),
        ('registry = "http://127.0.0.1:5000"', "registry must be empty or HOST[:PORT]"),
        ('data_root = "var/lib/x"', "must be an absolute path"),
        ('edge_image = ""', "edge_image"),
    ],
)
def test_bad_engine_settings_are_refused_in_one_line(tmp_path, table, message):
    path = project(tmp_path, f"[tool.pipeline.engine]\n{table}\n")
    with pytest.raises(ConfigError, match="tool.pipeline.engine") as raised:
        load_config(path, environ={})
    assert message in str(raised.value) and "\n" not in str(raised.value)


@pytest.mark.parametrize(
    "reference, parts",
    [
        ("127.0.0.1:15000/gates-haproxy:2.6", ("127.0.0.1:15000", "gates-haproxy", "2.6")),
        ("gates-base:bookworm", ("", "gates-base", "bookworm")),
        ("ghcr.io/org/api@sha256:ab", ("ghcr.io", "org/api", "sha256:ab")),
        ("localhost/x", ("localhost", "x", "latest")),
        ("library/python", ("", "library/python", "latest")),
    ],
)
def test_image_references_split_the_way_docker_reads_them(reference, parts):
    assert split_reference(reference) == parts


def test_a_registry_with_a_namespace_names_its_repositories():
    registry = Registry.parse("127.0.0.1:15000/team")
    assert (registry.host, registry.port, registry.loopback) == ("127.0.0.1:15000", 15000, True)
    assert registry.reference("api", "0123") == "127.0.0.1:15000/team/api:0123"
    assert registry.reference("api", "sha256:ff") == "127.0.0.1:15000/team/api@sha256:ff"
    assert not Registry.parse("ghcr.io/org").loopback and Registry.parse("ghcr.io").port is None


def engine_config(tmp_path, docker_host="unix:///run/t/docker.sock", registry="127.0.0.1:15999"):
    table = f'[tool.pipeline.engine]\ndocker_host = "{docker_host}"\nregistry = "{registry}"\n'
    table += f'edge_image = "{registry}/edge:1"\n' if registry else ""
    return load_config(project(tmp_path, table), environ={}).engine


DOWN = State(None, "Cannot connect", "", "refused", None, None, None)
UP = State("20.10", "", "active", None, True, True, True, True, None)


def test_a_cold_machine_plans_everything(tmp_path):
    todo = plan(engine_config(tmp_path), DOWN)
    assert todo == Plan(True, True, True, True, True, True, (), build_prometheus=True)
    assert DOWN.lacking() == ["dockerd does not answer", "the registry does not answer"]


def test_an_engine_that_is_up_plans_nothing(tmp_path):
    assert plan(engine_config(tmp_path), UP) == Plan(False, False, False, False, False, False, ())
    assert UP.ready() and not UP.lacking()


def test_only_a_unix_socket_engine_or_a_loopback_registry_is_started_here(tmp_path):
    todo = plan(engine_config(tmp_path, "ssh://deploy@manager", "registry.example:5000"), DOWN)
    assert not todo.start_engine and not todo.start_registry
    assert "only on a unix:// socket" in todo.problems[0]
    assert "only on a loopback address" in todo.problems[1]


def test_without_a_swarm_the_engine_is_ready_for_builds(tmp_path):
    state = State("20.10", "", "inactive", None, True, True, True, True, None)
    assert state.lacking() == ["swarm inactive"] and state.ready(swarm=False)
    assert not plan(engine_config(tmp_path), state, swarm=False).init_swarm


def test_missing_programs_are_named_with_their_packages(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))  # nothing on it
    missing = prerequisites.missing(plan(engine_config(tmp_path), DOWN))
    names = [p.name for p in missing.programs]
    assert names == ["docker", "dockerd", "containerd", "runc", "docker-registry"] + [
        "debootstrap",
        "chroot",
    ]
    line = missing.describe()
    assert "dockerd (package docker.io)" in line
    assert "sudo apt-get install -y docker.io containerd runc docker-registry debootstrap" in line


def test_nothing_but_the_client_is_needed_when_all_is_up(tmp_path, monkeypatch):
    (tmp_path / "bin").mkdir()
    client = tmp_path / "bin" / "docker"
    client.write_text("#!/bin/sh\n")
    client.chmod(0o755)
    monkeypatch.setenv("PATH", str(tmp_path / "bin"))
    assert not prerequisites.missing(plan(engine_config(tmp_path), UP))


def test_the_layout_follows_the_socket(tmp_path):
    layout = Layout.of(engine_config(tmp_path))
    assert layout.run_dir == layout.exec_root.parent == layout.record.parent
    assert str(layout.socket) == "/run/t/docker.sock"
    assert Layout.of(engine_config(tmp_path / "b", "tcp://h:2376")).socket is None


def test_the_record_keeps_what_up_started(tmp_path):
    record = Record(tmp_path / "run" / "gates-engine.json")
    assert record.started("dockerd") is None and not record.swarm
    me = Started(os.getpid(), 1.0, "dockerd")
    record.update(dockerd=me, swarm=True)
    assert record.started("dockerd") == me and record.swarm
    assert json.loads(record.path.read_text())["dockerd"]["pid"] == os.getpid()
    assert not me.alive  # our pid, but not our start time: someone else's
    record.update(dockerd=None, swarm=None)
    assert not record.path.exists()


def test_mount_points_under_a_directory_are_found_deepest_first(tmp_path, monkeypatch):
    info = tmp_path / "mountinfo"
    info.write_text(
        "1 0 0:1 / / rw - ext4 /dev/root rw\n"
        "2 1 0:4 / /run/e/exec/netns/default rw - nsfs nsfs rw\n"
        "3 1 0:5 / /run/e/exec rw - tmpfs tmpfs rw\n"
        "4 1 0:6 / /run/e/exec\\040x rw - tmpfs tmpfs rw\n"
        "5 1 0:7 / /run/elsewhere rw - tmpfs tmpfs rw\n"
    )
    monkeypatch.setattr(mounts, "MOUNTINFO", info)
    found = [str(p) for p in mounts.under(Path("/run/e/exec"))]
    assert found == ["/run/e/exec/netns/default", "/run/e/exec"]


DIGEST = "sha256:" + "ab" * 32


def registry_answer(method, path, headers):
    """A registry holding one manifest, api:1; it wants the manifest kinds in Accept."""
    if "application/vnd.oci.image.index.v1+json" not in headers.get("Accept", ""):
        return 406, {}, b""
    if path == "/v2/":
        return 200, {}, b"{}"
    if path == "/v2/api/manifests/1":
        return (
            (202, {}, b"") if method == "DELETE" else (200, {"Docker-Content-Digest": DIGEST}, b"")
        )
    return 404, {}, b""


def test_the_registry_api_over_the_one_http_client():
    with canned_http(registry_answer) as url:
        registry = Registry.parse(url.removeprefix("http://"))
        assert registry.base_url == url  # loopback: plain HTTP
        assert registry.answers() is None
        assert registry.manifest_digest("api", "1") == DIGEST
        assert registry.manifest_digest("api", "2") is None
        assert registry.delete_manifest("api", "1") and not registry.delete_manifest("api", "2")
    assert Registry.parse("ghcr.io/org").base_url == "https://ghcr.io"
    why = registry.answers()  # the server is gone
    assert why is not None and why.startswith(f"the image registry {registry.host} does not answer")
    with pytest.raises(MeasurementError, match=r"does not answer \(HEAD /v2/api/manifests/1: "):
        registry.manifest_digest("api", "1")
