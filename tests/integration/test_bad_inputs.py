"""Adversarial configs and objectives files through the command line (values that once passed
validation and failed later, malformed objectives): each is exit 2 with exactly one line on
stderr and no traceback, from ``gates config`` and from ``gates slo`` alike; nothing is
measured, nothing recorded in the ledger and nothing already there lost; nothing is created or
changed outside the state directory's reports.

The whole table runs in-process (``cli.main``, what ``python -m gates`` calls) against a
staging whose live deployment and measurement are faked, so a test can tell whether anything
was measured; a sample runs as real ``python -m gates`` processes.
"""

import shutil
import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest

from gates import cli

from gates.slo import gate as slo
from gates.config import load_config
from gates.ledger import Ledger
from gates.targets import LiveRelease
from support.bad_inputs import CONFIGS, OBJECTIVES_CASES, Case
from support.gates_cli import run_gates
from support.pipeline_project import make_project

COMMANDS = (("config",), ("slo", "--environment", "staging"))
# $PIPELINE_STATE_DIR unset (empty), so the state directory is the config's
ENV = {"PIPELINE_STATE_DIR": ""}
# (exit code, stdout, stderr) of one gates command
Run = Callable[[Path, tuple[str, ...]], tuple[int, str, str]]


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The miniature project, its ledger holding one gate result that must survive; made once
    (creating a ledger is a few synchronous writes) and copied by ``seeded_project``."""
    root = tmp_path_factory.mktemp("seeded")
    ledger = Ledger.open(load_config(make_project(root), environ=ENV), create=True)
    ledger.record_gate("staging", "0" * 12, "smoke", "passed", 0, "seeded", deployment="d")
    ledger.close()
    assert sorted(p.name for p in (root / ".pipeline").iterdir()) == ["ledger.sqlite"]
    return root


def seeded_project(seeded: Path, root: Path) -> Path:
    """A copy of the seeded project in ``root``: its config file."""
    shutil.copytree(seeded, root, dirs_exist_ok=True)
    return root / "pyproject.toml"


def ledger_rows(root: Path) -> list[tuple[object, ...]]:
    db = sqlite3.connect(root / ".pipeline" / "ledger.sqlite")
    try:
        return [tuple(row) for row in db.execute("SELECT * FROM gate_results ORDER BY id")]
    finally:
        db.close()


def tree(root: Path) -> dict[str, bytes | None]:
    """Every directory and file under ``root`` (files with their bytes), except the reports
    a gate writes and the ledger's files (compared by their rows)."""
    return {
        str(path.relative_to(root)): path.read_bytes() if path.is_file() else None
        for path in sorted(root.rglob("*"))
        if "reports" not in path.relative_to(root).parts[:2] and "ledger.sqlite" not in path.name
    }


def break_file(path: Path, case: Case) -> None:
    path.write_bytes(case.applied(path.read_text()))


def refused_in_one_line(
    root: Path, config: Path, case: Case, run: Run, commands: tuple[tuple[str, ...], ...] = COMMANDS
) -> None:
    before, rows = tree(root), ledger_rows(root)
    for command in commands:
        code, out, err = run(config, command)
        assert code == 2, (command, out, err)
        assert len(err.splitlines()) == 1, (command, err)
        assert "Traceback" not in out + err
        assert case.expected in err, (command, err)
    assert tree(root) == before  # nothing created or changed outside the reports
    assert ledger_rows(root) == rows  # nothing recorded, nothing lost
    assert not (root / "x").exists()  # "../../x" made no environment outside the state dir


@pytest.fixture
def live_staging(monkeypatch):
    """In-process ``gates slo`` against a live staging deployment: its measurement is faked
    (every request good) and each call noted, so a test can tell whether anything was measured.
    """
    monkeypatch.setenv("PIPELINE_STATE_DIR", "")
    calls: list[str] = []

    def live_release(config, name):
        calls.append("live_release")
        return LiveRelease(name, 18101, "1" * 12, "1.0.0", {}, "1" * 12 + "-config")

    def measure(config, target, window, objectives, report):
        calls.append("measure")
        # enough to show 99.9 % (2,995 requests without an error, at the 95 % bound)
        return {objective.name: (10_000.0, 10_000.0) for objective in objectives.slos}

    monkeypatch.setattr(slo, "live_release", live_release)
    monkeypatch.setattr(slo, "measure_scrape", measure)
    return calls


@pytest.fixture
def in_process(capsys, live_staging) -> Run:
    def run(config: Path, command: tuple[str, ...]) -> tuple[int, str, str]:
        code = cli.main(["--config", str(config), *command])
        out, err = capsys.readouterr()
        return code, out, err

    return run


def as_process(config: Path, command: tuple[str, ...]) -> tuple[int, str, str]:
    done = run_gates(config, *command, env=ENV, cwd=config.parent)
    return done.returncode, done.stdout, done.stderr


@pytest.mark.parametrize("case", CONFIGS, ids=lambda case: case.id)
def test_a_bad_config_is_refused_in_one_line(seeded, tmp_path, in_process, live_staging, case):
    config = seeded_project(seeded, tmp_path)
    break_file(config, case)
    refused_in_one_line(tmp_path, config, case, in_process)
    assert live_staging == []


@pytest.mark.parametrize("case", OBJECTIVES_CASES, ids=lambda case: case.id)
def test_a_bad_objectives_file_is_refused_before_anything_is_measured_or_recorded(
    seeded, tmp_path, in_process, live_staging, case
):
    """``threshold: -1`` was recorded as a failed slo gate against the live deployment, which
    was then never chosen as a rollback target: now nothing is measured and nothing recorded."""
    config = seeded_project(seeded, tmp_path)
    break_file(tmp_path / "slo" / "objectives.yaml", case)
    refused_in_one_line(tmp_path, config, case, in_process)
    assert live_staging == []  # refused before the environment was even looked at


def test_good_objectives_are_measured_and_recorded_against_the_live_deployment(
    seeded, tmp_path, in_process, live_staging
):
    """The control for the tests above: with good inputs the gate measures and records."""
    config = seeded_project(seeded, tmp_path)
    assert in_process(config, COMMANDS[1])[0] == 0
    assert live_staging == ["live_release", "measure"]
    recorded = ledger_rows(tmp_path)[-1]
    assert recorded[1:6] == ("staging", "1" * 12, "slo", "1" * 12 + "-config", "passed")


# The real `python -m gates` process, once: `gates slo` on the objectives file that is not even
# text. Every case above runs both commands through the same cli.main in this process.
@pytest.mark.parametrize(
    "case, file, command",
    [
        pytest.param(case, "slo/objectives.yaml", COMMANDS[1], id=f"{case.id}-slo")
        for case in OBJECTIVES_CASES
        if case.id == "not UTF-8"
    ],
)
def test_python_m_gates_refuses_in_one_line(seeded, tmp_path, case, file, command):
    config = seeded_project(seeded, tmp_path)
    break_file(tmp_path / file, case)
    refused_in_one_line(tmp_path, config, case, as_process, (command,))


@pytest.mark.parametrize(
    "flags",
    [
        ("--window", "1e17s"),
        ("--window", "7h"),
        ("--window", "0s"),
        ("--availability-target", "100"),
        ("--latency-target", "-1"),
    ],
)
def test_bad_slo_flags_are_refused_before_anything_is_measured(
    seeded, tmp_path, in_process, live_staging, flags
):
    config = seeded_project(seeded, tmp_path)
    code, _, err = in_process(config, (*COMMANDS[1], *flags))
    assert code == 2 and len(err.splitlines()) == 1
    assert live_staging == [] and len(ledger_rows(tmp_path)) == 1
