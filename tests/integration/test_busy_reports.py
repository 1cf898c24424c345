"""A command refused because another holds the environment never replaces that one's report.

The refusal (exit 3) is written as ``<report>.busy.{json,md}``; ``<report>.json`` stays the
report of the command that held the environment (a refusal once overwrote it).
"""

import fcntl
import json

import pytest

from gates import cli
from support.pipeline_project import make_project

COMMANDS = {
    "deploy": (["deploy", "--environment", "staging"], "deploy-staging"),
    "rollback": (["rollback", "--environment", "staging", "--reason", "test"], "rollback-staging"),
}


@pytest.mark.parametrize("command", COMMANDS)
def test_a_refused_command_writes_its_own_report(tmp_path, command, capsys, monkeypatch):
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)
    monkeypatch.delenv("PIPELINE_STATE_DIR", raising=False)
    config = make_project(tmp_path)
    with config.open("a") as handle:
        handle.write("\n[tool.pipeline.deploy]\nlock_timeout = 1\n")
    reports = tmp_path / ".pipeline" / "reports"
    reports.mkdir(parents=True)
    argv, name = COMMANDS[command]
    # What the command holding the environment reported (or will report when it finishes).
    holders = {suffix: f"the holder's own report ({suffix})" for suffix in ("json", "md")}
    for suffix, text in holders.items():
        (reports / f"{name}.{suffix}").write_text(text)
    lock_file = tmp_path / ".pipeline" / "environments" / "staging" / "lock"
    lock_file.parent.mkdir(parents=True)
    with open(lock_file, "a+") as held:
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
        code = cli.main(["--config", str(config), *argv])

    assert code == 3
    for suffix, text in holders.items():
        assert (reports / f"{name}.{suffix}").read_text() == text
    refused = json.loads((reports / f"{name}.busy.json").read_text())
    assert (refused["stage"], refused["exit_code"]) == (name, 3)
    assert "environment staging is busy" in refused["error"]
    assert "is busy" in (reports / f"{name}.busy.md").read_text()
    assert f"[report: {reports / name}.busy.json]" in capsys.readouterr().err
