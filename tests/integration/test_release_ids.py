"""Release ids from the command line: exactly ``latest``, a full id, or a hex prefix of at least
four digits, always resolved inside the store, never as a path or a glob.

Every refusal is one line (exit 2 for bad input, 1 for a store changed behind the pipeline's
back), no traceback, and nothing deployed or recorded.
"""

import os
import sqlite3
from contextlib import closing

import pytest

from gates.cli import main
from support.gates_cli import run_gates, run_gates_in_process
from support.pipeline_project import make_project
from support.release_store import make_release, set_latest

# (case, the --release argument, expected exit code); ``{id}`` is the release in the store,
# ``{outside}`` a valid release in a directory beside the project, ``{store}`` the store.
CASES = [
    ("empty", "", 2),
    ("path out of the store", "../../../elsewhere/{outside}", 2),
    ("path inside the store", "latest/../{id}", 2),
    ("absolute path", "{store}/{id}", 2),
    ("glob ?", "{id[0]}?{id[2]}{id[3]}", 2),
    ("glob class", "[{id[0]}x]*", 2),
    ("glob star", "*", 2),
    ("id and star", "{id}*", 2),
    ("too short", "{id[0]}{id[1]}{id[2]}", 2),
    ("too long", "{id}0", 2),
    ("trailing slash", "{id}/", 2),
    ("leading space", " {id}", 2),
    ("newline", "{id}\n", 2),
    ("upper case", "{upper}", 2),
    ("not latest", "LATEST", 2),
    ("no such release", "{absent}", 2),
    ("latest points out of the store", "latest", 1),
    ("store entry links out of the store", "{outside}", 1),
]


def absent_prefix(present: set[str]) -> str:
    return next(p for p in ("0000", "ffff", "abcd") if not any(r.startswith(p) for r in present))


@pytest.fixture
def project(tmp_path):
    """A project whose store holds one release, and a valid release outside the store."""
    config = make_project(tmp_path / "project")
    state = tmp_path / "project" / ".pipeline"
    store = state / "releases"
    rid = make_release(store, "a")
    set_latest(store, rid)
    outside = make_release(tmp_path / "elsewhere", "b")
    upper = rid.upper()
    assert upper != rid  # the label makes an id with letters
    fields = {
        "id": rid,
        "outside": outside,
        "store": str(store),
        "upper": upper,
        "absent": absent_prefix({rid, outside}),
    }
    return config, state, fields


def deploy_rows(state):
    path = state / "ledger.sqlite"
    if not path.exists():
        return []
    with closing(sqlite3.connect(path)) as db, db:
        return db.execute("SELECT release_id, state FROM deploys").fetchall()


def set_up(case, tmp_path, state, fields):
    store = state / "releases"
    if case == "latest points out of the store":
        set_latest(store, "../../../elsewhere/" + fields["outside"])
    if case == "store entry links out of the store":
        os.symlink(tmp_path / "elsewhere" / fields["outside"], store / fields["outside"])


def assert_refused_in_one_line(code, value, stdout, stderr):
    assert "Traceback" not in stdout + stderr
    assert stdout == ""
    lines = stderr.splitlines()
    assert len(lines) == 1, lines
    if code == 2:
        assert repr(value) in lines[0]


# Every case runs in this process (gates.cli.main, what `python -m gates` calls); the value
# with a newline also as a real `python -m gates` process: still one line on its stderr.
AS_PROCESS = {"newline"}
DEPLOY_CASES = [pytest.param(*case, run_gates_in_process, id=case[0]) for case in CASES] + [
    pytest.param(*case, run_gates, id=f"{case[0]}-process")
    for case in CASES
    if case[0] in AS_PROCESS
]


@pytest.mark.parametrize("case, argument, code, run", DEPLOY_CASES)
def test_deploy_refuses_bad_release_ids_in_one_line(project, tmp_path, case, argument, code, run):
    config, state, fields = project
    set_up(case, tmp_path, state, fields)
    value = argument.format(**fields)

    done = run(config, "deploy", "--environment", "staging", "--release", value, state_dir=state)

    assert done.returncode == code, (done.stdout, done.stderr)
    assert_refused_in_one_line(code, value, done.stdout, done.stderr)
    assert deploy_rows(state) == []
    assert not (state / "environments" / "staging" / "releases").exists()


@pytest.mark.parametrize("case, argument, code", CASES, ids=[c[0] for c in CASES])
def test_release_commands_refuse_bad_release_ids_in_one_line(
    project, tmp_path, monkeypatch, capsys, case, argument, code
):
    config, state, fields = project
    set_up(case, tmp_path, state, fields)
    value = argument.format(**fields)
    monkeypatch.setenv("PIPELINE_STATE_DIR", str(state))

    exit_code = main(["--config", str(config), "release", "verify", value])

    captured = capsys.readouterr()
    assert exit_code == code, (captured.out, captured.err)
    assert_refused_in_one_line(code, value, captured.out, captured.err)


def test_a_full_id_a_prefix_and_latest_name_the_same_release(project, monkeypatch, capsys):
    config, state, fields = project
    rid = fields["id"]
    monkeypatch.setenv("PIPELINE_STATE_DIR", str(state))
    for name in (rid, rid[:4], rid[:9], "latest"):
        assert main(["--config", str(config), "release", "verify", name]) == 0, name
        assert capsys.readouterr().out == f"release {rid}: 1 artifacts verified\n"
