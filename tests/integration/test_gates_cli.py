"""The gates command line: stages listed, usage errors, internal errors never pass."""

import json
import os
import sys

from gates import cli, stages

from gates.checks import lint
from support.gates_cli import run_gates, run_gates_in_process
from support.pipeline_project import make_project


def outcome(done):
    return done.returncode, done.stdout, done.stderr


def test_help_lists_the_stages():
    done = run_gates(None, "--help", timeout=30)
    assert done.returncode == 0
    for stage in stages.BY_NAME:
        assert stage in done.stdout
    assert "exit codes: 0 passed, 1 the gate failed" in done.stdout
    # argparse's sys.exit(0), in this process, is the same exit and the same text
    assert outcome(run_gates_in_process(None, "--help")) == outcome(done)


def test_the_in_process_runner_is_the_process_twin_and_puts_everything_back(tmp_path):
    """The tests that run gates in this process see what `python -m gates` would: the
    working directory (the config is found from it), the environment (the state directory),
    the output and the exit code; this process's own are back afterwards."""
    make_project(tmp_path)
    before = dict(os.environ), os.getcwd(), list(sys.argv)
    state = tmp_path / "state"
    args = dict(env={"GATES_TEST_MARK": "1"}, state_dir=state, cwd=tmp_path)
    done = run_gates(None, "config", **args)
    assert done.returncode == 0 and f'"state_dir": "{state}"' in done.stdout
    assert outcome(run_gates_in_process(None, "config", **args)) == outcome(done)
    assert (dict(os.environ), os.getcwd(), list(sys.argv)) == before
    usage = run_gates_in_process(None, "deploy-the-moon", cwd=tmp_path)
    assert usage.returncode == 2 and "invalid choice" in usage.stderr and usage.stdout == ""


def test_unknown_stage_is_usage_error(capsys):
    try:
        cli.main(["deploy-the-moon"])
    except SystemExit as exit_:
        assert exit_.code == 2
    assert "invalid choice" in capsys.readouterr().err


def test_config_command_prints_the_validated_config(tmp_path, capsys):
    assert cli.main(["--config", str(make_project(tmp_path)), "config"]) == 0
    assert '"service": "mini"' in capsys.readouterr().out


def test_internal_error_in_a_gate_is_exit_3_with_traceback_in_report(tmp_path, monkeypatch):
    config = make_project(tmp_path)

    def broken(config, report, args):
        report.add("looked fine", True, "ok")
        raise KeyError("boom")

    monkeypatch.setattr(lint, "run", broken)
    assert cli.main(["--config", str(config), "lint"]) == 3
    data = json.loads((tmp_path / ".pipeline" / "reports" / "lint.json").read_text())
    assert data["error"] == "internal error in the lint gate: KeyError('boom')"
    assert "Traceback" in data["details"]["traceback"]


def test_split_passthrough():
    assert cli.split_passthrough(["test", "--", "-k", "x"]) == (["test"], ["-k", "x"])
    assert cli.split_passthrough(["lint"]) == (["lint"], [])


def test_config_schema_needs_no_configuration(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)  # no pyproject.toml here or above
    assert cli.main(["config", "--schema"]) == 0
    schema = json.loads(capsys.readouterr().out)
    assert schema["additionalProperties"] is False and "environments" in schema["properties"]


def test_config_command_refuses_a_bad_configuration_in_one_line(tmp_path, capsys):
    config = make_project(tmp_path)
    config.write_text(config.read_text().replace("port = 18101", "port = 80"))
    assert cli.main(["--config", str(config), "config"]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "port must be a whole number 1024-65535, got 80" in err
