"""The lint gate: black, flake8 and mypy over the code; zizmor and actionlint over the workflows;
the pipeline workflow held to its policy (gates.checks.workflow_policy).

zizmor runs with the pedantic persona (``--offline``: no GitHub API) over the workflows and
``.github/dependabot.yml``; actionlint runs shellcheck over ``run:`` scripts, with the locked
shellcheck binary named explicitly, so a missing one is "could not measure", never a rule
silently skipped. With ``[tool.pipeline.lint] pipeline_workflow`` set, that workflow must keep
gates/checks/workflow_policy.py against the stage registry: one finding per problem.

mypy takes its targets and strictness from the project's own ``[tool.mypy]`` table (``files``,
``strict``, overrides), the way a developer runs it; paths after ``--`` replace the targets.
A project without mypy targets is not "clean": mypy exits 2 and the gate could not measure.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gates import stages

from gates.checks import workflow_policy
from gates.outcome import MeasurementError
from gates.report import Report
from gates.tools import ToolRun, executable, run_tool

if TYPE_CHECKING:
    from argparse import Namespace

    from gates.config import PipelineConfig

DEPENDABOT = "dependabot.yml"  # zizmor audits it; actionlint reads workflows only
# Reads a linter's run: how many findings it reported.
Counter = Callable[[ToolRun], int]


def _lines_starting(prefix: str) -> Counter:
    return lambda run: sum(1 for line in run.output.splitlines() if line.startswith(prefix))


def _lines_containing(text: str) -> Counter:
    return lambda run: sum(1 for line in run.output.splitlines() if text in line)


def _nonblank_lines(run: ToolRun) -> int:
    return sum(1 for line in run.output.splitlines() if line.strip())


def _json_findings(describe: Callable[[dict[str, Any]], str]) -> Counter:
    """Count a JSON list of findings, keeping one readable line per finding."""

    def count(run: ToolRun) -> int:
        try:
            findings = json.loads(run.output or "null")
        except ValueError:
            findings = None
        if not isinstance(findings, list) or not all(isinstance(f, dict) for f in findings):
            raise MeasurementError(f"{run.name} printed no JSON list of findings: {run.tail(1)}")
        run.output = "\n".join(describe(f) for f in findings)
        return len(findings)

    return count


def _zizmor_line(finding: dict[str, Any]) -> str:
    return f"{finding.get('ident', '?')}: {finding.get('desc', '')}"


def _actionlint_line(finding: dict[str, Any]) -> str:
    return (
        f"{finding.get('filepath', '?')}:{finding.get('line', '?')}: "
        f"{finding.get('message', '')} [{finding.get('kind', '?')}]"
    )


@dataclass(frozen=True)
class Linter:
    name: str
    command: Callable[[Sequence[str]], list[str]]  # targets -> argv
    finding_codes: frozenset[int]  # exit codes meaning "ran and found problems"
    count: Counter
    json_output: bool = False
    own_targets: str = ""  # where the tool reads its default targets, if not from our paths

    def run(self, targets: Sequence[str], cwd: Path) -> tuple[ToolRun, int]:
        result = run_tool(
            self.name,
            self.command(targets),
            cwd,
            echo=not self.json_output,
            separate_stderr=self.json_output,
        )
        if result.returncode not in {0, *self.finding_codes}:
            detail = (result.stderr or result.output).strip().splitlines()
            raise MeasurementError(
                f"{self.name} exited {result.returncode} without judging the code: "
                f"{detail[-1] if detail else 'no output'}"
            )
        found = self.count(result) if result.returncode else 0
        # A linter that failed the code never reports zero findings.
        return result, max(found, 1) if result.returncode else found


PYTHON_LINTERS = (
    Linter(
        "black",
        lambda paths: [sys.executable, "-m", "black", "--check", *paths],
        frozenset({1}),
        _lines_starting("would reformat"),
    ),
    Linter(
        "flake8",
        lambda paths: [sys.executable, "-m", "flake8", *paths],
        frozenset({1}),
        _nonblank_lines,
    ),
    Linter(
        "mypy",
        lambda paths: [sys.executable, "-m", "mypy", *paths],
        frozenset({1}),
        _lines_containing(": error:"),
        own_targets="[tool.mypy] files",
    ),
)
WORKFLOW_LINTERS = (
    # --offline: no GitHub API calls; exit 10-14 is "findings" by highest severity. The
    # pedantic persona also reports what the default one leaves to taste (undocumented
    # permissions, missing job names...): a reviewer signs off on zero of those too.
    Linter(
        "zizmor",
        lambda paths: [
            executable("zizmor"),
            "--offline",
            "--persona=pedantic",
            "--format",
            "json",
            *paths,
        ],
        frozenset(range(10, 15)),
        _json_findings(_zizmor_line),
        json_output=True,
    ),
    Linter(
        "actionlint",
        lambda paths: [
            executable("actionlint"),
            "-shellcheck",
            executable("shellcheck"),
            "-format",
            "{{json .}}",
            *[p for p in paths if not p.endswith(DEPENDABOT)],
        ],
        frozenset({1}),
        _json_findings(_actionlint_line),
        json_output=True,
    ),
)


def workflow_files(config: PipelineConfig) -> list[str]:
    """The workflows, and the Dependabot configuration beside them when there is one."""
    directory = config.lint.workflows
    files = sorted([*directory.glob("*.yml"), *directory.glob("*.yaml")])
    if not files:
        raise MeasurementError(
            f"no workflow files in {directory}; set [tool.pipeline.lint] workflows"
        )
    dependabot = directory.parent / DEPENDABOT
    return [str(f.relative_to(config.root)) for f in files] + (
        [str(dependabot.relative_to(config.root))] if dependabot.is_file() else []
    )


def check_pipeline_workflow(config: PipelineConfig, report: Report) -> None:
    """Hold ``[tool.pipeline.lint] pipeline_workflow`` to the workflow policy."""
    path = config.lint.pipeline_workflow
    if path is None:
        return
    if not path.is_file():
        raise MeasurementError(
            f"no pipeline workflow at {path}; set [tool.pipeline.lint] pipeline_workflow"
        )
    sessions = [session.name for session in stages.sessions()]
    problems = workflow_policy.check_file(path, sessions)
    source = str(path.relative_to(config.root))
    report.add("workflow policy", not problems, f"{len(problems)} problem(s)", "0 problems", source)
    report.details["workflow policy"] = {"problems": problems}
    if problems:
        print("workflow policy problems:\n" + "\n".join(problems))


def run(config: PipelineConfig, report: Report, args: Namespace) -> None:
    """Lint the paths after ``--`` (default: the configured ones); every linter always runs."""
    given = list(args.passthrough)
    jobs = [
        (linter, given or ([] if linter.own_targets else list(config.lint.paths)))
        for linter in PYTHON_LINTERS
    ]
    if not given:
        workflows = workflow_files(config)
        jobs += [(linter, workflows) for linter in WORKFLOW_LINTERS]
    for linter, targets in jobs:
        result, count = linter.run(targets, config.root)
        source = " ".join(targets) or linter.own_targets
        report.add(linter.name, count == 0, f"{count} finding(s)", "0 findings", source)
        report.details[linter.name] = {"exit_code": result.returncode, "output": result.tail(50)}
        if count and linter.json_output:
            print(f"{linter.name} findings:\n{result.tail(50)}")
    if not given:
        check_pipeline_workflow(config, report)
