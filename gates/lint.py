"""The lint gate: black --check and flake8 over the configured paths."""

from gates.outcome import MeasurementError
from gates.tools import run_module

# name -> (arguments before the paths, exit codes that mean "ran and found problems")
LINTERS = {
    "black": (["--check"], {1}),
    "flake8": ([], {1}),
}


def findings(name, output):
    if name == "black":
        return sum(1 for line in output.splitlines() if line.startswith("would reformat"))
    return sum(1 for line in output.splitlines() if line.strip())


def run(config, report, paths=()):
    """Lint ``paths`` (default: the configured ones); every linter runs, even after a failure."""
    paths = list(paths or config.lint.paths)
    for name, (args, finding_codes) in LINTERS.items():
        result = run_module(name, [*args, *paths], cwd=config.root)
        if result.returncode not in {0, *finding_codes}:
            raise MeasurementError(
                f"{name} exited {result.returncode} without judging the code: "
                f"{result.tail(1) or 'no output'}"
            )
        count = findings(name, result.output) if result.returncode else 0
        if result.returncode and not count:
            count = 1  # it failed the code; never report a failure as zero findings
        report.add(name, count == 0, f"{count} finding(s)", "0 findings", " ".join(paths))
        report.details[name] = {"exit_code": result.returncode, "output": result.tail(50)}
