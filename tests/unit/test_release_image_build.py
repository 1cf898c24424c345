"""Container engine detection and image builds, with stand-in engines on PATH.

No container engine runs on the machines this project is tested on, so these tests put small
scripts named docker/podman on PATH that answer like an engine would (or fail like one).
"""

import os
import stat

import pytest

from gates.config import load_config
from gates.docker import Docker
from gates.outcome import COULD_NOT_MEASURE, MeasurementError
from gates.release import image
from gates.report import Report
from support.pipeline_project import make_project
from support.ports import free_port

ENGINE = """#!/bin/sh
echo "$*" >> "$0.calls"
case "$1" in
  info) {info} ;;
  build) echo "building $*"; {build} ;;
  image) echo "sha256:0123456789abcdef" ;;
esac
"""


def fake_engine(directory, name, info="exit 0", build="exit 0"):
    directory.mkdir(exist_ok=True)
    path = directory / name
    path.write_text(ENGINE.format(info=info, build=build))
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


@pytest.fixture
def bin_dir(tmp_path, monkeypatch):
    directory = tmp_path / "bin"
    directory.mkdir()
    monkeypatch.setenv("PATH", str(directory))
    return directory


def test_no_engine_installed_is_explained(bin_dir):
    assert image.find_engine("docker") == (None, "docker: not installed")


def test_the_named_engine_is_the_only_one_asked(bin_dir):
    fake_engine(bin_dir, "docker", info="echo 'Cannot connect to the Docker daemon'; exit 1")
    fake_engine(bin_dir, "podman")
    engine, why = image.find_engine("docker")
    assert engine is None and why == "docker: Cannot connect to the Docker daemon"
    engine, why = image.find_engine("podman")
    assert engine is not None and engine.binary() == str(bin_dir / "podman") and why is None


def test_engine_can_be_disabled_or_chosen(bin_dir):
    fake_engine(bin_dir, "docker")
    assert image.find_engine("none")[0] is None
    assert image.find_engine("podman") == (None, "podman: not installed")


def test_image_build_records_the_image_id(bin_dir, tmp_path):
    engine = fake_engine(bin_dir, "docker")
    image_id, error = image.build_image(
        Docker(client=str(engine)), tmp_path, "techcorp-api:abc", 30
    )
    assert (image_id, error) == ("sha256:0123456789abcdef", None)


def test_failed_image_build_reports_the_error(bin_dir, tmp_path):
    engine = fake_engine(bin_dir, "docker", build="echo 'pull access denied'; exit 1")
    image_id, error = image.build_image(
        Docker(client=str(engine)), tmp_path, "techcorp-api:abc", 30
    )
    assert image_id is None and "pull access denied" in error


def runner(tmp_path, monkeypatch, engine, registry=""):
    """A GitHub-like runner: docker and podman both on PATH (stand-ins, ahead of the real
    ones), and a project that names ``engine``."""
    directory = tmp_path / "bin"
    clients = {name: fake_engine(directory, name) for name in ("docker", "podman")}
    monkeypatch.setenv("PATH", f"{directory}{os.pathsep}{os.environ['PATH']}")
    path = make_project(tmp_path / "project")
    table = f'[tool.pipeline.build]\ncontainer_engine = "{engine}"\n'
    table += f'[tool.pipeline.engine]\nregistry = "{registry}"\n'
    path.write_text(path.read_text() + table)
    return load_config(path, environ={}), clients


def calls(client):
    log = client.with_name(client.name + ".calls")
    return log.read_text().splitlines() if log.exists() else []


def test_a_runner_with_podman_builds_with_the_docker_it_names(tmp_path, monkeypatch):
    config, clients = runner(tmp_path, monkeypatch, "docker")
    facts = image.build_release_image(config, tmp_path, "0123", 30, Report("build"))
    assert (facts["built"], facts["engine"]) == (True, "docker")
    assert [call.split()[0] for call in calls(clients["docker"])] == ["info", "build", "image"]
    assert calls(clients["podman"]) == []  # never asked, not even whether it answers


def test_podman_but_no_registry_is_exit_3_naming_the_registry_and_how_to_start_it(
    tmp_path, monkeypatch
):
    registry = f"127.0.0.1:{free_port()}"
    config, clients = runner(tmp_path, monkeypatch, "podman", registry)
    with pytest.raises(MeasurementError) as raised:
        image.build_release_image(config, tmp_path, "0123", 30, Report("build"))
    said = str(raised.value)
    assert raised.value.exit_code == COULD_NOT_MEASURE and "\n" not in said
    assert said.startswith(f"the image registry {registry} does not answer")
    assert said.endswith("the image cannot be pushed (start it with `nox -s engine -- up`)")
    assert calls(clients["podman"]) == ["info"]  # nothing built that could not be pushed
    assert calls(clients["docker"]) == []
