"""The stage registry: one declaration per stage, read by the CLI, the noxfile and summary."""

import subprocess
import sys
from pathlib import Path

import pytest

from gates import cli, stages


@pytest.mark.parametrize("stage", stages.STAGES, ids=lambda s: s.name)
def test_every_entry_point_the_registry_names_exists(stage):
    assert callable(cli.entry_point(stage.run))
    if stage.arguments:
        assert callable(cli.entry_point(stage.arguments))


def test_names_are_unique_at_every_layer():
    names = [s.name for s in stages.STAGES]
    sessions = [s.name for s in stages.sessions()]
    assert len(set(names)) == len(names)
    assert len(set(sessions)) == len(sessions)


def test_a_session_bound_to_an_environment_has_the_name_of_its_report():
    deploy = {s.name: s for s in stages.sessions()}["deploy-production"]
    assert deploy.gates_args([]) == ["deploy", "--environment", "production"]
    step = [s for s in stages.PIPELINE if s.session == "deploy-production"][0]
    assert step.report == "deploy-production"


def test_posargs_reach_the_tool_after_a_double_dash_only_where_declared():
    by_name = {s.name: s for s in stages.sessions()}
    assert by_name["test"].gates_args(["-k", "x"]) == ["test", "--", "-k", "x"]
    assert by_name["perf"].gates_args(["--rate", "9"]) == ["perf", "--rate", "9"]


@pytest.mark.parametrize("name", ["rollback", "down"])
def test_a_bare_session_that_changes_an_environment_is_refused_like_the_cli(name, tmp_path, capsys):
    """`nox -s rollback` used to roll production back; the CLI requires --environment (and
    --reason): the session and the command agree, exit 2 and nothing touched."""
    from support.pipeline_project import make_project

    config = make_project(tmp_path)
    args = {s.name: s for s in stages.sessions()}[name].gates_args([])
    assert args == [name]
    with pytest.raises(SystemExit) as refused:
        cli.main(["--config", str(config), *args])
    assert refused.value.code == 2
    assert "--environment" in capsys.readouterr().err
    assert not (tmp_path / ".pipeline" / "ledger.sqlite").exists()


def test_every_pipeline_step_is_a_session():
    sessions = {s.name for s in stages.sessions()}
    assert [s.session for s in stages.PIPELINE if s.session not in sessions] == []


def test_the_registry_needs_nothing_outside_the_standard_library():
    # The noxfile imports it before any session has installed the project's dependencies.
    code = (
        "import sys; before = set(sys.modules); import gates.stages; "
        "print(sorted(m for m in set(sys.modules) - before "
        "if m.split('.')[0] not in sys.stdlib_module_names))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert done.stdout.strip() == "['gates', 'gates.stages']"


def test_an_environment_stage_reports_under_its_environment(tmp_path, capsys):
    from support.pipeline_project import make_project

    config = make_project(tmp_path)
    assert cli.main(["--config", str(config), "smoke", "--environment", "nowhere"]) == 2
    assert (tmp_path / ".pipeline" / "reports" / "smoke-nowhere.json").is_file()


def test_the_architecture_doc_carries_the_registry_table():
    doc = (Path(__file__).resolve().parents[2] / "docs" / "architecture.md").read_text()
    assert stages.markdown_table() in doc


def test_every_stage_aimed_at_an_environment_has_the_ledger_checked_first():
    # Each reads or writes the ledger (status and down through converge); a gate that records
    # its verdict must not measure first and find the ledger damaged after.
    for stage in stages.STAGES:
        if stage.environment is not None or stage.records_gate:
            assert stage.uses_ledger, stage.name


def test_the_checks_of_a_commit_need_nothing_of_each_other_and_build_needs_them_all():
    """CI runs lint, the suites and security side by side; coverage decides over every suite,
    build only a commit every check passed, and each later stage follows the one before."""
    checks = ("lint", "test", "e2e", "faults", "security")
    for check in checks:
        assert stages.prerequisites(check) == frozenset()
    assert stages.prerequisites("coverage") == {"test", "e2e", "faults"}
    assert stages.prerequisites("build") == {*checks, "coverage"}
    assert stages.prerequisites("smoke") == {*checks, "coverage", "build", "deploy-staging"}
    every_other = {step.session for step in stages.PIPELINE} - {"summary"}
    assert stages.prerequisites("summary") == every_other


def test_a_step_needs_only_steps_that_come_before_it_in_the_default_run():
    """`nox` runs the table in order, so it must never run a step before one it needs."""
    order = [step.session for step in stages.PIPELINE]
    for n, session in enumerate(order):
        assert stages.prerequisites(session) <= set(order[:n]), session


@pytest.mark.parametrize(
    ("argv", "chosen"),
    [
        (["deploy", "--environment", "staging"], "deploy"),
        (["--config", "deploy", "smoke"], "smoke"),  # --config's value is not the stage
        (["--config=p.toml", "lint", "--", "x"], "lint"),
        (["--help"], None),
        ([], None),
    ],
)
def test_the_stage_is_read_from_the_command_line_before_the_parser_is_built(argv, chosen):
    assert cli.chosen_stage(argv) == chosen


def test_a_stage_loads_its_own_arguments_and_no_other_stages_modules():
    """The CLI's start-up is paid by every pipeline step and every test that runs gates: a
    stage's command line imports that stage's module, never every stage's."""
    code = (
        "import sys; from gates import cli; "
        "parser = cli.build_parser(only='smoke'); "
        "parser.parse_args(['smoke', '--environment', 'staging']); "
        "print(sorted(m for m in sys.modules if m.startswith(('gates.security', "
        "'gates.release.build', 'gates.drill', 'gates.engine.command', 'gates.targets'))))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
    parser = cli.build_parser(only="deploy")
    args = parser.parse_args(["deploy", "--environment", "staging", "--release", "r"])
    assert args.release == "r"
    with pytest.raises(SystemExit):  # another stage's options are not there
        parser.parse_args(["perf", "--environment", "staging", "--rate", "5"])
