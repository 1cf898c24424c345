"""A deploy job on a GitHub runner never deploys to the runner: with the environments local
(no $PIPELINE_TARGETS) every command aimed at one exits 2 in one line and starts nothing; with
$PIPELINE_TARGETS placing them on a swarm, the same job goes past that check to the engine.

The deploy runs as a real `python -m gates` process, as the job runs it; the table of the
other commands runs the same CLI in this process."""

import pytest

from support.gates_cli import run_gates, run_gates_in_process
from support.pipeline_project import make_project
from support.ports import free_port

REFUSED = (
    'staging is a local environment (target = "local"): on a GitHub runner it would be '
    "thrown away with the runner; set the repository variable PIPELINE_TARGETS to place it "
    "(docs/ci.md#where-the-environments-live)"
)


def project(tmp_path):
    path = make_project(tmp_path / "project")
    port = free_port()
    path.write_text(path.read_text().replace("port = 18101", f"port = {port}"))
    return path, port


def test_a_deploy_job_with_no_target_configured_exits_2_and_starts_nothing(tmp_path):
    config, port = project(tmp_path)
    state = tmp_path / "state"
    done = run_gates(
        config,
        "deploy",
        "--environment",
        "staging",
        env={"GITHUB_ACTIONS": "true"},
        state_dir=state,
    )
    assert done.returncode == 2, done.stdout + done.stderr
    (line,) = done.stderr.splitlines()
    assert line.startswith(f"gates deploy: usage or configuration error: {REFUSED} [report: ")
    assert not (state / "environments").exists()  # no release installed, no server started
    assert not (state / "releases").exists()


@pytest.mark.parametrize(
    "command",
    [
        ["rollback", "--environment", "staging", "--reason", "bad release"],
        ["smoke", "--environment", "staging"],
        ["perf", "--environment", "staging"],
        ["slo", "--environment", "staging"],
        ["drill", "--environment", "staging"],
        ["dora", "--environment", "staging"],
        ["status", "--environment", "staging"],
        ["down", "--environment", "staging"],
    ],
    ids=lambda command: command[0],
)
def test_every_command_aimed_at_a_local_environment_is_refused_on_a_runner(
    tmp_path, monkeypatch, command
):
    config, _ = project(tmp_path)
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    done = run_gates_in_process(config, *command, state_dir=tmp_path / "state")
    assert done.returncode == 2, done.stdout + done.stderr
    assert REFUSED in done.stderr
    assert not (tmp_path / "state" / "environments").exists()


def test_the_same_job_placed_on_a_swarm_goes_on_to_the_engine(tmp_path):
    config, port = project(tmp_path)
    placed = f'[environments.staging]\ntarget = "swarm"\nurl = "http://127.0.0.1:{port}"\n'
    env = {
        "GITHUB_ACTIONS": "true",
        "PIPELINE_TARGETS": placed,
        "DOCKER_HOST": f"unix://{tmp_path}/no-engine.sock",
    }
    done = run_gates(config, "deploy", "--environment", "staging", env=env, state_dir=tmp_path)
    assert done.returncode == 3, done.stdout + done.stderr  # could not measure: no engine there
    assert "local environment" not in done.stderr
    assert f"the container engine at unix://{tmp_path}/no-engine.sock is unreachable" in (
        done.stderr
    )


def test_the_summary_on_a_runner_says_production_is_local_and_prints_its_table(tmp_path):
    config, _ = project(tmp_path)
    config.write_text(
        config.read_text() + f"\n[tool.pipeline.environments.production]\nport = {free_port()}\n"
    )
    env = {"GITHUB_ACTIONS": "true", "GITHUB_STEP_SUMMARY": ""}
    done = run_gates(config, "summary", env=env, state_dir=tmp_path / "state")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "| lint | not run | | |" in done.stdout
    assert "production: production is a local environment" in done.stdout
