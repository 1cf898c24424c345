"""`gates engine` without an engine: what is missing is named, a daemon that fails is reported
with its log's last line, and `down` stops only what `up` recorded.

`check` runs as a real `python -m gates` process (one line on stderr, exit 2); the others run
the same CLI in this process, with PATH and DOCKER_HOST set for the call as a child has them."""

import json
import os
import stat

import pytest

from support.gates_cli import run_gates, run_gates_in_process
from support.pipeline_project import make_project

FAILING_CLIENT = """#!/bin/sh
echo "Cannot connect to the Docker daemon at $DOCKER_HOST. Is the docker daemon running?" >&2
exit 1
"""
FAILING_DOCKERD = """#!/bin/sh
echo 'level=info msg="Starting up"'
echo 'failed to start daemon: error initializing graphdriver: driver not supported'
exit 1
"""
DOES_NOTHING = "#!/bin/sh\nexit 0\n"


def project(tmp_path):
    path = make_project(tmp_path / "project")
    socket = tmp_path / "run" / "docker.sock"
    table = f'[tool.pipeline.engine]\ndocker_host = "unix://{socket}"\n'
    table += f'data_root = "{tmp_path / "data"}"\n'
    path.write_text(path.read_text() + table)
    return path, socket.parent


def fake_bin(tmp_path, **programs):
    directory = tmp_path / "bin"
    directory.mkdir(exist_ok=True)
    for name, script in programs.items():
        path = directory / name.replace("_", "-")
        path.write_text(script)
        path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return {"PATH": str(directory), "DOCKER_HOST": ""}


def test_check_names_every_missing_program_and_the_apt_line(tmp_path):
    config, _ = project(tmp_path)
    done = run_gates(config, "engine", "check", env=fake_bin(tmp_path))
    assert done.returncode == 2, done.stdout + done.stderr
    error = done.stderr.strip()
    assert error.count("\n") == 0  # one line
    for program, package in [
        ("docker", "docker.io"),
        ("dockerd", "docker.io"),
        ("containerd", "containerd"),
        ("runc", "runc"),
        ("debootstrap", "debootstrap"),
    ]:
        assert f"{program} (package {package})" in error
    assert "sudo apt-get install -y docker.io containerd runc debootstrap" in error


@pytest.mark.skipif(os.geteuid() != 0, reason="only root can start dockerd")
def test_a_dockerd_that_fails_to_start_is_exit_3_with_its_last_log_line(tmp_path):
    config, run_dir = project(tmp_path)
    env = fake_bin(
        tmp_path,
        docker=FAILING_CLIENT,
        dockerd=FAILING_DOCKERD,
        containerd=DOES_NOTHING,
        runc=DOES_NOTHING,
        debootstrap=DOES_NOTHING,
        chroot=DOES_NOTHING,
    )
    done = run_gates_in_process(config, "engine", "up", env=env)
    assert done.returncode == 3, done.stdout + done.stderr
    assert "dockerd exited (1) instead of starting: failed to start daemon: error initializing" in (
        done.stderr
    )
    assert str(run_dir / "dockerd.log") in done.stderr
    # What up started is recorded before it is waited for; down finds it already gone.
    record = json.loads((run_dir / "gates-engine.json").read_text())
    assert record["dockerd"]["argv0"] == "dockerd"
    down = run_gates_in_process(config, "engine", "down", env=env)
    assert down.returncode == 0 and "dockerd had already stopped" in down.stdout
    assert not (run_dir / "gates-engine.json").exists()


def test_down_with_nothing_started_stops_nothing(tmp_path):
    config, _ = project(tmp_path)
    done = run_gates_in_process(
        config, "engine", "down", env=fake_bin(tmp_path, docker=FAILING_CLIENT)
    )
    assert done.returncode == 0 and "nothing to stop" in done.stdout


def test_status_of_an_engine_that_does_not_answer_is_exit_3(tmp_path):
    config, _ = project(tmp_path)
    done = run_gates_in_process(
        config, "engine", "status", env=fake_bin(tmp_path, docker=FAILING_CLIENT)
    )
    assert done.returncode == 3
    assert "not answering (Cannot connect to the Docker daemon" in done.stdout
    assert "not ready (dockerd does not answer)" in done.stdout


def test_the_engine_session_exists_and_defaults_to_status():
    from gates import stages

    session = {s.name: s for s in stages.sessions()}["engine"]
    assert session.gates_args([]) == ["engine", "status"]
    assert session.gates_args(["up"]) == ["engine", "up"]
