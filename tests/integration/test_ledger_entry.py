"""The ledger where it enters a command: a damaged ledger is one line and exit 2, untouched.

Every command that reads or writes the ledger is run against each kind of damage found by
an adversarial run against the pipeline: it must refuse in exactly one line on stderr, with
exit 2, no traceback, and leave the file exactly as it was (nothing recorded, nothing lost).
A gate's report and its exit code come from one verdict, decided after recording.
"""

import functools
import json
import os
import random
import sqlite3
from contextlib import closing
import tempfile
from pathlib import Path

import pytest

from gates import cli, smoke
from gates.config import load_config
from gates.ledger import Ledger
from support.pipeline_project import make_project

# Every command that opens the ledger, as a person would type it for the mini project.
COMMANDS = {
    "status": ["status"],
    "down": ["down", "--environment", "staging"],
    "smoke": ["smoke"],
    "perf": ["perf"],
    "slo": ["slo", "--environment", "staging"],
    "deploy": ["deploy", "--environment", "staging"],
    "rollback": ["rollback", "--environment", "staging", "--reason", "test"],
    "drill": ["drill", "--environment", "staging"],
    "dora": ["dora", "--environment", "staging"],
    "summary": ["summary"],
    "build": ["build"],
}


def garbage(path: Path) -> None:
    path.write_bytes(random.Random(13).randbytes(3000))


def zero_length(path: Path) -> None:
    path.write_bytes(b"")


def foreign_sqlite(path: Path) -> None:
    with closing(sqlite3.connect(path)) as db, db:
        db.execute("CREATE TABLE notes (text TEXT)")
        db.execute("INSERT INTO notes VALUES ('not a ledger')")
    db.close()


def older_schema(path: Path) -> None:
    """Our table names, but a deploys table without the columns the ledger needs."""
    with closing(sqlite3.connect(path)) as db, db:
        for table in ("builds", "gate_results", "events"):
            db.execute(f"CREATE TABLE {table} (id INTEGER PRIMARY KEY)")
        db.execute("CREATE TABLE deploys (id INTEGER PRIMARY KEY, environment TEXT)")
    db.close()


@functools.cache
def history() -> bytes:
    """A closed ledger holding 300 events (one file: closing it checkpoints the WAL away).
    Built once, 300 transactions, and copied into each test that damages one."""
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "ledger.sqlite"
        ledger = Ledger(path)
        for n in range(300):
            ledger.record_event("staging", "down", f"history {n} " + "x" * 200)
        ledger.close()
        assert os.listdir(directory) == ["ledger.sqlite"]
        return path.read_bytes()


def with_history(path: Path) -> None:
    path.write_bytes(history())


def truncated(path: Path) -> None:
    with_history(path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2 + 123])


def truncated_at_a_page(path: Path) -> None:
    with_history(path)
    data = path.read_bytes()
    page = int.from_bytes(data[16:18], "big")
    path.write_bytes(data[: (len(data) // page // 2) * page])


def sqlite_header_then_garbage(path: Path) -> None:
    with_history(path)
    data = path.read_bytes()
    path.write_bytes(data[:100] + random.Random(7).randbytes(len(data) - 100))


def directory(path: Path) -> None:
    path.mkdir()


DAMAGE = {
    f.__name__: f
    for f in (
        garbage,
        zero_length,
        foreign_sqlite,
        older_schema,
        truncated,
        truncated_at_a_page,
        sqlite_header_then_garbage,
        directory,
    )
}


def snapshot(path: Path) -> object:
    """What the ledger path holds, and the ledger's files beside it (-wal, -shm, new ones)."""
    content = sorted(os.listdir(path)) if path.is_dir() else path.read_bytes()
    return content, sorted(p.name for p in path.parent.iterdir() if path.name in p.name)


@pytest.fixture
def project(tmp_path):
    config = make_project(tmp_path)
    (tmp_path / ".pipeline").mkdir()
    return config


@pytest.mark.parametrize("command", COMMANDS)
@pytest.mark.parametrize("damage", DAMAGE)
def test_a_damaged_ledger_is_one_line_exit_2_and_left_as_it_was(
    project, damage, command, capsys, monkeypatch
):
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)
    monkeypatch.delenv("PIPELINE_STATE_DIR", raising=False)
    path = project.parent / ".pipeline" / "ledger.sqlite"
    DAMAGE[damage](path)
    before = snapshot(path)

    code = cli.main(["--config", str(project), *COMMANDS[command]])

    err = capsys.readouterr().err
    assert code == 2, err
    assert len(err.strip().splitlines()) == 1, err
    assert "Traceback" not in err
    assert str(path) in err and "move it aside" in err, err
    assert snapshot(path) == before


READERS = [name for name in COMMANDS if name not in ("build", "deploy")]
SAY_AND_GO_ON = ("status", "summary")


@pytest.mark.parametrize("command", READERS)
def test_a_missing_ledger_is_said_never_made_empty_to_read_from(
    project, command, capsys, monkeypatch
):
    """Only build and deploy create the ledger. Any other command on a state directory
    without one says so (exit 3; status and summary say it and go on) and creates nothing:
    an empty ledger made on the spot answered "nothing to roll back", "no data", "not running"
    for a state directory that was simply the wrong one."""
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)
    monkeypatch.delenv("PIPELINE_STATE_DIR", raising=False)
    path = project.parent / ".pipeline" / "ledger.sqlite"

    code = cli.main(["--config", str(project), *COMMANDS[command]])

    out, err = capsys.readouterr()
    assert "Traceback" not in err
    if command in SAY_AND_GO_ON:
        assert code == 0, out + err
        assert command == "summary" or f"no ledger at {path}" in out, out
    else:
        assert code == 3, out + err
        # the measuring gates find nothing running before they would read history
        measuring = command in ("smoke", "perf", "slo") and "nothing is running in staging" in err
        assert measuring or f"no ledger at {path}" in err, err
    assert not path.exists()


def test_a_missing_ledger_is_created_whole_and_nothing_else_is_left(tmp_path):
    path = tmp_path / "state" / "ledger.sqlite"
    Ledger(path).close()
    assert sorted(os.listdir(path.parent)) == ["ledger.sqlite"]
    again = Ledger(path)  # and it is a valid ledger from the start
    assert again.deploys() == []
    again.close()


def test_a_gate_whose_verdict_cannot_be_recorded_does_not_report_passed(
    project, capsys, monkeypatch
):
    def passes(config, report, args):
        report.details.update(release_id="r1", environment="staging", deployment="r1-k")
        report.add("GET /health", True, "200, contract holds")

    def cannot_record(*args, **kwargs):
        raise sqlite3.OperationalError("disk I/O error")

    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)
    monkeypatch.delenv("PIPELINE_STATE_DIR", raising=False)
    monkeypatch.setattr(smoke, "run", passes)
    Ledger.open(load_config(project), create=True).close()  # as a deploy would have
    monkeypatch.setattr(Ledger, "record_gate", cannot_record)

    code = cli.main(["--config", str(project), "smoke"])

    reports = project.parent / ".pipeline" / "reports"
    report = json.loads((reports / "smoke-staging.json").read_text())
    markdown = (reports / "smoke-staging.md").read_text()
    assert code == 3
    assert (report["exit_code"], report["outcome"]) == (3, "could not measure")
    assert "could not be recorded" in report["error"] and "disk I/O error" in report["error"]
    assert "passed" not in markdown.splitlines()[0]
    err = capsys.readouterr().err
    assert "could not be recorded" in err and "Traceback" not in err
