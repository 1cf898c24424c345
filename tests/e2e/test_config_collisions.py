"""Configurations that would make two environments fight over the engine's names or a port,
and a bad $DOCKER_HOST, through the real `python -m gates` (issue 25, finding 4): exit 2 in
one line naming both environments and the key, from `gates config` and from any command that
loads the configuration. tests/unit/test_gates_config.py holds every case; these are the ones
the issue found passing."""

import pytest

from support.gates_cli import run_gates
from support.pipeline_project import make_project

TABLE = "tool.pipeline.environments"
STAGING = 'target = "swarm"\nurl = "http://127.0.0.1:18080"\nprometheus_port = 19090\n'
FOUND = {
    "a shared stack": (
        'target = "swarm"\nurl = "http://127.0.0.1:18081"\nstack = "mini-staging"\n',
        "stack 'mini-staging' is also staging's stack",
    ),
    "one URL port": (
        'target = "swarm"\nurl = "http://127.0.0.1:18080"\n',
        "url port 18080 on 127.0.0.1 is also staging's url port",
    ),
    "a prometheus_port on the other's URL port": (
        'target = "swarm"\nurl = "http://127.0.0.1:18081"\nprometheus_port = 18080\n',
        "prometheus_port 18080 is also staging's url port",
    ),
}


def project(tmp_path, production):
    path = make_project(tmp_path)
    text = path.read_text().replace("port = 18101\n", f"port = 18101\n{STAGING}")
    path.write_text(text + f"\n[{TABLE}.production]\nport = 18102\n{production}")
    return path


def refused(done):
    """The one line of a configuration error (exit 2)."""
    assert done.returncode == 2, (done.returncode, done.stdout, done.stderr)
    line = done.stderr.strip()
    assert "\n" not in line and "Traceback" not in line, line
    return line


@pytest.mark.parametrize("production, said", FOUND.values(), ids=FOUND)
def test_environments_that_collide_are_exit_2_naming_both(tmp_path, production, said):
    path = project(tmp_path, production)
    for command in (("config",), ("status",)):
        line = refused(run_gates(path, *command, state_dir=tmp_path / "state"))
        assert line.startswith(f"gates {command[0]}: {path} [{TABLE}.production]: {said}")
        assert line.endswith("each environment needs its own"), line


def test_a_bad_docker_host_is_blamed_on_docker_host(tmp_path):
    path = project(tmp_path, 'target = "swarm"\nurl = "http://127.0.0.1:18081"\n')
    line = refused(run_gates(path, "config", env={"DOCKER_HOST": "garbage://x"}))
    assert "docker_host (from $DOCKER_HOST) must be empty or a Docker host URL" in line
    assert line.endswith("got 'garbage://x'"), line
