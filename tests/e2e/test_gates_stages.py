"""The lint, test and coverage gates, run for real (black, flake8, pytest, coverage) against a
miniature project."""

import json
from functools import partial

import pytest

from support.pipeline_project import make_project
from support.gates_cli import run_gates

TIMEOUT = 300

gates = partial(run_gates, timeout=TIMEOUT)


def report(config_path, stage):
    return json.loads((config_path.parent / ".pipeline" / "reports" / f"{stage}.json").read_text())


def checks(data):
    return {c["name"]: c for c in data["checks"]}


def test_test_gate_passes_a_fully_covered_passing_suite(tmp_path):
    config = make_project(tmp_path)
    done = gates(config, "test")
    assert done.returncode == 0, done.stdout + done.stderr
    data = report(config, "test")
    assert data["outcome"] == "passed"
    assert checks(data)["tests"]["measured"] == "2 passed, 0 failed, 0 skipped"
    assert "coverage" not in checks(data)  # decided once, over every suite
    assert (tmp_path / ".pipeline" / "reports" / "junit-test.xml").is_file()
    done = gates(config, "coverage")
    assert done.returncode == 0, done.stdout + done.stderr
    assert checks(report(config, "coverage"))["coverage"]["measured"] == "100.00% over test"
    assert (tmp_path / ".pipeline" / "reports" / "coverage.xml").is_file()
    # combining consumed the suite's data: a second decision needs a new run
    done = gates(config, "coverage")
    assert done.returncode == 3 and "run `nox -s test` first" in done.stderr


def test_coverage_gate_needs_every_suite(tmp_path):
    config = make_project(tmp_path)
    text = config.read_text().replace(
        "[tool.pipeline.lint]",
        '[tool.pipeline.test.suites]\ntest = ["-k", "double"]\ne2e = ["-k", "half"]\n\n'
        "[tool.pipeline.lint]",
    )
    config.write_text(text)
    assert gates(config, "test").returncode == 0
    done = gates(config, "coverage")
    assert done.returncode == 3
    assert "no coverage data from the e2e suite(s)" in done.stderr
    assert "run `nox -s e2e` first" in done.stderr
    assert gates(config, "e2e").returncode == 0
    done = gates(config, "coverage")
    assert done.returncode == 0, done.stdout + done.stderr
    measured = checks(report(config, "coverage"))["coverage"]["measured"]
    assert measured == "100.00% over test + e2e"  # neither suite covers it all alone


def test_test_gate_fails_on_a_failing_test_and_names_it(tmp_path):
    config = make_project(
        tmp_path,
        tests="from mini import double\n\n\ndef test_bad():\n" "    assert double(2) == 5\n",
    )
    done = gates(config, "test")
    assert done.returncode == 1
    data = report(config, "test")
    assert not checks(data)["tests"]["passed"]
    assert data["details"]["tests"]["failing"] == ["tests.test_mini::test_bad"]


def test_a_suite_that_is_not_configured_is_a_usage_error(tmp_path):
    done = gates(make_project(tmp_path), "e2e")
    assert done.returncode == 2
    assert "no 'e2e' suite in [tool.pipeline.test] suites" in done.stderr


def test_coverage_gate_fails_below_the_threshold(tmp_path):
    config = make_project(
        tmp_path, tests="from mini import double\n\n\ndef test_d():\n    assert double(1) == 2\n"
    )
    assert gates(config, "test").returncode == 0  # the suite passes; its coverage is low
    done = gates(config, "coverage")
    assert done.returncode == 1
    coverage = checks(report(config, "coverage"))["coverage"]
    assert not coverage["passed"] and coverage["limit"] == ">= 90%"
    assert float(coverage["measured"].split("%")[0]) < 90


def test_test_gate_with_no_tests_could_not_measure(tmp_path):
    config = make_project(tmp_path, tests="")
    done = gates(config, "test")
    assert done.returncode == 3
    assert "no tests" in done.stderr
    assert report(config, "test")["outcome"] == "could not measure"


def test_test_gate_forwards_arguments_to_pytest(tmp_path):
    config = make_project(tmp_path)
    done = gates(config, "test", "--", "--definitely-not-an-option")
    assert done.returncode == 2
    assert "pytest rejected its arguments" in done.stderr


def test_lint_gate_passes_clean_code(tmp_path):
    config = make_project(tmp_path)
    done = gates(config, "lint")
    assert done.returncode == 0, done.stdout + done.stderr
    assert set(checks(report(config, "lint"))) == {
        "black",
        "flake8",
        "mypy",
        "zizmor",
        "actionlint",
    }


def test_lint_gate_fails_on_formatting_and_style_and_runs_both(tmp_path):
    config = make_project(tmp_path, module="import os\ndef double(x):  return 2*x\n")
    done = gates(config, "lint")
    assert done.returncode == 1
    found = checks(report(config, "lint"))
    assert found["black"]["measured"] == "1 finding(s)"
    assert not found["flake8"]["passed"]
    assert "F401" in report(config, "lint")["details"]["flake8"]["output"]


def test_lint_gate_fails_on_a_wrong_type(tmp_path):
    wrong = 'def double(x: int) -> int:\n    return "two" * x\n'
    config = make_project(tmp_path, module=wrong)
    done = gates(config, "lint")
    assert done.returncode == 1
    found = checks(report(config, "lint"))
    assert found["black"]["passed"] and found["flake8"]["passed"]
    assert not found["mypy"]["passed"] and found["mypy"]["source"] == "[tool.mypy] files"
    output = report(config, "lint")["details"]["mypy"]["output"]
    assert 'mini.py:2: error: Incompatible return value type (got "str", expected "int")' in output


def test_lint_gate_without_mypy_targets_could_not_measure(tmp_path):
    config = make_project(tmp_path)
    config.write_text(config.read_text().replace('[tool.mypy]\nfiles = ["mini.py"]\n', ""))
    done = gates(config, "lint")
    assert done.returncode == 3
    assert "mypy exited 2 without judging the code" in done.stderr


INJECTABLE_WORKFLOW = """\
on: pull_request_target
jobs:
  greet:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
      - run: echo "${{ github.event.pull_request.title }}"
      - run: echo ${{ matrix.missing }
"""


def test_lint_gate_fails_on_an_unsafe_or_broken_workflow(tmp_path):
    config = make_project(tmp_path)
    (tmp_path / ".github" / "workflows" / "ci.yml").write_text(INJECTABLE_WORKFLOW)
    done = gates(config, "lint")
    assert done.returncode == 1
    found = checks(report(config, "lint"))
    assert found["black"]["passed"] and found["flake8"]["passed"]
    assert not found["zizmor"]["passed"] and not found["actionlint"]["passed"]
    zizmor = report(config, "lint")["details"]["zizmor"]["output"]
    assert "template-injection" in zizmor and "dangerous-triggers" in zizmor
    assert found["zizmor"]["source"] == ".github/workflows/ci.yml"


def test_lint_gate_without_workflows_could_not_measure(tmp_path):
    config = make_project(tmp_path)
    (tmp_path / ".github" / "workflows" / "ci.yml").unlink()
    done = gates(config, "lint")
    assert done.returncode == 3
    assert "no workflow files in" in done.stderr


def test_lint_gate_takes_paths_from_posargs(tmp_path):
    config = make_project(tmp_path)
    (tmp_path / "ugly.py").write_text("x=1\n")
    assert gates(config, "lint").returncode == 0
    assert gates(config, "lint", "--", "ugly.py").returncode == 1


def test_lint_gate_could_not_measure_when_a_linter_crashes(tmp_path):
    config = make_project(tmp_path)
    done = gates(config, "lint", "--", "no-such-path.py")
    assert done.returncode == 3
    assert "black exited" in done.stderr


@pytest.mark.parametrize("stage", ["lint", "test"])
def test_bad_config_is_one_line_and_exit_2(tmp_path, stage):
    config = make_project(tmp_path)
    config.write_text(config.read_text().replace('service = "mini"', "service = 1"))
    done = gates(config, stage)
    assert done.returncode == 2
    assert len(done.stderr.strip().splitlines()) == 1
    assert "service must be a non-empty str" in done.stderr
