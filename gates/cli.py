"""``python -m gates <stage>``: each stage reads config, does its work, writes a report, and
exits 0 passed, 1 failed, 2 usage or configuration error, 3 could not measure."""

import argparse
import json
import sys
import traceback
from dataclasses import asdict

from gates import combined_coverage, dora, drill, lint, perf, slo, smoke, summary, testsuite
from gates.deploy import commands as environment_commands, deploy, rollback
from gates.release import build, commands as release_commands
from gates.security import gate as security
from gates.config import load_config
from gates.ledger import Ledger
from gates.outcome import COULD_NOT_MEASURE, USAGE_ERROR, ConfigError, GateError
from gates.report import Report

EPILOG = """exit codes: 0 passed, 1 the gate failed, 2 usage or configuration error,
3 the gate could not measure. Reports: <state_dir>/reports/<stage>.{json,md}.
Arguments after `--` go to the underlying tool (pytest for `test` and `e2e`, paths for `lint`)."""

# stage -> module with HELP, run(config, report, args) and optionally add_arguments(parser)
STAGES = {
    "lint": lint,
    "test": testsuite,
    "e2e": testsuite,
    "coverage": combined_coverage,
    "security": security,
    "build": build,
    "deploy": deploy,
    "rollback": rollback,
    "smoke": smoke,
    "perf": perf,
    "slo": slo,
    "drill": drill,
    "dora": dora,
}
COMMANDS = {
    "status": environment_commands.status,
    "down": environment_commands.down,
    "release": release_commands.run,
    "summary": summary.run,
}


def build_parser():
    parser = argparse.ArgumentParser(
        prog="gates",
        description="The delivery pipeline's gates.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--config", metavar="PATH", help="pipeline config (pyproject.toml)")
    commands = parser.add_subparsers(dest="command", metavar="STAGE", required=True)
    for name, module in STAGES.items():
        stage = commands.add_parser(name, help=module.HELP, description=module.HELP)
        if hasattr(module, "add_arguments"):
            module.add_arguments(stage)
    release_commands.add_parser(commands)
    environment_commands.add_parsers(commands)
    commands.add_parser("summary", help="one table for the whole rehearsal, from the reports")
    commands.add_parser("config", help="validate the pipeline configuration and print it")
    return parser


def record_gate(config, stage, report):
    """Verification gates record their verdict per release and environment in the ledger."""
    release, environment = report.details.get("release_id"), report.details.get("environment")
    if getattr(STAGES[stage], "RECORDS_GATE", False) and release and environment:
        summary = report.error or "; ".join(
            f"{c.name}: {c.measured}" for c in report.checks if not c.passed
        )
        Ledger.open(config).record_gate(
            environment,
            release,
            stage,
            report.outcome,
            report.exit_code,
            summary[:2000],
            deployment=report.details.get("deployment"),
        )


def split_passthrough(argv):
    """Split at the first ``--``: gates' own arguments, then the tool's."""
    if "--" in argv:
        at = argv.index("--")
        return argv[:at], argv[at + 1 :]
    return argv, []


def main(argv=None):
    own, passthrough = split_passthrough(list(sys.argv[1:] if argv is None else argv))
    args = build_parser().parse_args(own)
    try:
        config = load_config(args.config)
    except ConfigError as exc:
        print(f"gates {args.command}: {exc}", file=sys.stderr)
        return USAGE_ERROR
    if args.command == "config":
        print(json.dumps(asdict(config), indent=2, default=str))
        return 0
    if args.command in COMMANDS:
        try:
            return COMMANDS[args.command](config, args)
        except GateError as exc:
            print(f"gates {args.command}: {exc}", file=sys.stderr)
            return exc.exit_code
    args.passthrough = passthrough
    return run_stage(args.command, config, args)


def run_stage(stage, config, args):
    # Stages aimed at one environment keep one report per environment.
    environment = getattr(args, "environment", None)
    report = Report(f"{stage}-{environment}" if environment else stage)
    try:
        STAGES[stage].run(config, report, args)
    except GateError as exc:
        report.fail(exc.exit_code, str(exc))
    except Exception as exc:  # a bug in the gate: still a verdict, never a pass
        report.fail(COULD_NOT_MEASURE, f"internal error in the {stage} gate: {exc!r}")
        report.details["traceback"] = traceback.format_exc()
    json_path, _ = report.write(config.reports_dir)
    record_gate(config, stage, report)
    for check in report.checks:
        verdict = "pass" if check.passed else "FAIL"
        print(f"gates {stage}: {verdict} {check.name}: {check.measured} (limit {check.limit})")
    line = f"gates {stage}: {report.outcome}" + (f": {report.error}" if report.error else "")
    print(f"{line} [report: {json_path}]", file=sys.stderr if report.exit_code else sys.stdout)
    return report.exit_code
