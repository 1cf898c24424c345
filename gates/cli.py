"""``python -m gates <stage>``: each stage reads config, does its work, writes a report, and
exits 0 passed, 1 failed, 2 usage or configuration error, 3 could not measure.

The stages and commands come from the registry (gates/stages.py); this module only parses
the command line, loads the configuration and turns a gate's verdict into a report.

A stage that uses the ledger finds it checked before it starts (a damaged ledger: exit 2, one
line). A gate's report and exit code are one verdict, written after the ledger recorded it:
a verdict that could not be recorded is reported as such, never as the gate's outcome. A
command refused because another holds the environment writes ``<report>.busy.{json,md}``,
so the report of the command holding it is never replaced by the refusal.
"""

from __future__ import annotations

import argparse
import importlib
import sqlite3
import sys
import traceback
from typing import TYPE_CHECKING, Any, Callable

from gates import stages
from gates.config import load_config
from gates.ledger import LEDGER_FILE, Ledger
from gates.outcome import COULD_NOT_MEASURE, GateError, Refused
from gates.report import Report

if TYPE_CHECKING:
    from gates.config import PipelineConfig

EPILOG = """exit codes: 0 passed, 1 the gate failed, 2 usage or configuration error,
3 the gate could not measure. Reports: <state_dir>/reports/<stage>[-<environment>].{json,md}.
Arguments after `--` go to the underlying tool (pytest for `test` and `e2e`, paths for `lint`)."""
BUSY_SUFFIX = ".busy"  # the report of a command refused because the environment is busy


def entry_point(reference: str) -> Callable[..., Any]:
    """The function a registry entry names as ``module:function``."""
    module, function = reference.split(":")
    found: Callable[..., Any] = getattr(importlib.import_module(module), function)
    return found


def chosen_stage(argv: list[str]) -> str | None:
    """The stage named on the command line (the first word that is not an option or the
    value of ``--config``), or None (e.g. ``gates --help``)."""
    words = iter(argv)
    for word in words:
        if word == "--config":
            next(words, None)
        elif not word.startswith("-"):
            return word
    return None


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The command line of every stage; with ``only``, the arguments of that stage alone are
    added (every other stage's module stays unimported: each costs the CLI's start-up)."""
    parser = argparse.ArgumentParser(
        prog="gates",
        description="The delivery pipeline's gates.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--config", metavar="PATH", help="pipeline config (pyproject.toml)")
    commands = parser.add_subparsers(dest="command", metavar="STAGE", required=True)
    for stage in stages.STAGES:
        command = commands.add_parser(stage.name, help=stage.help, description=stage.help)
        option = stage.environment
        if option is not None:
            command.add_argument(
                "--environment",
                default=option.default,
                required=option.required,
                help=option.describe(),
            )
        if stage.arguments and only in (None, stage.name):
            entry_point(stage.arguments)(command)
    return parser


def check_ledger(config: PipelineConfig, stage: stages.Stage) -> None:
    """Open the ledger once before a stage that uses it: LedgerError (exit 2) if damaged.

    A missing one is created here by build and deploy. For any other command it stays
    missing: the stage finds that out when it reads it (LedgerMissing, exit 3), after its own
    arguments are checked; a swarm environment's ledger creates its file itself (its history
    lives in the engine; the file holds only this machine's builds).
    """
    if stage.creates_ledger or (config.state_dir / LEDGER_FILE).exists():
        Ledger.open(config, create=stage.creates_ledger).close()


def record_gate(config: PipelineConfig, stage: stages.Stage, report: Report) -> None:
    """Verification gates record their verdict per release and environment in the ledger.

    If that fails, the failure becomes the report's verdict: it never says what the ledger
    does not hold.
    """
    release, environment = report.details.get("release_id"), report.details.get("environment")
    if not (stage.records_gate and release and environment):
        return
    from gates.targets import target_for  # here: a stage with no environment never loads them

    summary = report.error or "; ".join(
        f"{c.name}: {c.measured}" for c in report.checks if not c.passed
    )
    try:
        target_for(config, environment).ledger.record_gate(
            environment,
            release,
            stage.name,
            report.outcome,
            report.exit_code,
            summary[:2000],
            deployment=report.details.get("deployment"),
        )
    except (GateError, sqlite3.Error) as exc:
        code = exc.exit_code if isinstance(exc, GateError) else COULD_NOT_MEASURE
        verdict = report.outcome + (f" ({report.error})" if report.error else "")
        report.fail(code, f"the verdict '{verdict}' could not be recorded in the ledger: {exc}")


def split_passthrough(argv: list[str]) -> tuple[list[str], list[str]]:
    """Split at the first ``--``: gates' own arguments, then the tool's."""
    if "--" in argv:
        at = argv.index("--")
        return argv[:at], argv[at + 1 :]
    return argv, []


def main(argv: list[str] | None = None) -> int:
    own, passthrough = split_passthrough(list(sys.argv[1:] if argv is None else argv))
    args = build_parser(only=chosen_stage(own) or "").parse_args(own)
    args.passthrough = passthrough
    stage = stages.stage(args.command)
    try:
        config = load_config(args.config) if stage.needs_config else None
        if not stage.writes_report:
            if config is not None and stage.uses_ledger:
                check_ledger(config, stage)
            exit_code: int = entry_point(stage.run)(config, args)
            return exit_code
    except GateError as exc:
        print(f"gates {stage.name}: {exc}", file=sys.stderr)
        return exc.exit_code
    assert config is not None  # every stage that writes a report reads the configuration
    return run_stage(stage, config, args)


def run_stage(stage: stages.Stage, config: PipelineConfig, args: argparse.Namespace) -> int:
    report = Report(stage.report_name(getattr(args, "environment", None)))
    name = report.stage
    try:
        if stage.uses_ledger:
            check_ledger(config, stage)
        entry_point(stage.run)(config, report, args)
    except Refused as exc:
        report.fail(exc.exit_code, str(exc))
        name += BUSY_SUFFIX
    except GateError as exc:
        report.fail(exc.exit_code, str(exc))
    except Exception as exc:  # a bug in the gate: still a verdict, never a pass
        report.fail(COULD_NOT_MEASURE, f"internal error in the {stage.name} gate: {exc!r}")
        report.details["traceback"] = traceback.format_exc()
    record_gate(config, stage, report)
    json_path, _ = report.write(config.reports_dir, name)
    for check in report.checks:
        verdict = "pass" if check.passed else "FAIL"
        print(f"gates {stage.name}: {verdict} {check.name}: {check.measured} (limit {check.limit})")
    line = f"gates {stage.name}: {report.outcome}" + (f": {report.error}" if report.error else "")
    print(f"{line} [report: {json_path}]", file=sys.stderr if report.exit_code else sys.stdout)
    return report.exit_code
