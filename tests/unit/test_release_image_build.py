"""Container engine detection and image builds, with stand-in engines on PATH.

No container engine runs on the machines this project is tested on, so these tests put small
scripts named docker/podman on PATH that answer like an engine would (or fail like one).
"""

import stat

import pytest

from gates.docker import Docker
from gates.release import image

ENGINE = """#!/bin/sh
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
    engine, why = image.find_engine("auto")
    assert engine is None
    assert why == "docker: not installed; podman: not installed"


def test_engine_without_a_daemon_is_skipped_for_the_next(bin_dir):
    fake_engine(bin_dir, "docker", info="echo 'Cannot connect to the Docker daemon'; exit 1")
    fake_engine(bin_dir, "podman")
    engine, why = image.find_engine("auto")
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
