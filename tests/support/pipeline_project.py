"""A miniature repository with a [tool.pipeline] table, for running gates against; its SLO
objectives are this repository's own."""

import textwrap
from pathlib import Path

from support.secrets import commit_all, make_baseline

OBJECTIVES = Path(__file__).resolve().parents[2] / "slo" / "objectives.yaml"

PYPROJECT = """\
[tool.pipeline]
service = "mini"
service_dir = "service"

[tool.pipeline.lint]
paths = ["mini.py", "tests"]

[tool.pipeline.security]
bandit_paths = ["mini.py"]
{security}

[tool.pipeline.environments.staging]
port = 18101

[tool.coverage.run]
source = ["mini"]
branch = true

[tool.coverage.report]
fail_under = {fail_under}

[tool.pytest.ini_options]
testpaths = ["tests"]

[tool.mypy]
files = ["mini.py"]
"""

MODULE = """\
def double(x):
    return 2 * x


def half(x):
    if x == 0:
        return 0
    return x / 2
"""

# Clean for zizmor's pedantic persona and actionlint with shellcheck, as the lint gate runs them.
WORKFLOW = """\
name: ci
on:
  push:
    branches: [main]
permissions: {}
concurrency:
  group: ci-${{ github.ref }}
  cancel-in-progress: false
jobs:
  check:
    name: check
    runs-on: ubuntu-latest
    steps:
      - run: echo checked
"""

FULL_TESTS = """\
from mini import double, half


def test_double():
    assert double(2) == 4


def test_half():
    assert half(4) == 2
    assert half(0) == 0
"""


def make_project(root, fail_under=90, tests=FULL_TESTS, module=MODULE, security=""):
    (root / "service").mkdir(parents=True)
    (root / "service" / "pyproject.toml").write_text('[project]\nname = "mini"\n')
    (root / ".github" / "workflows").mkdir(parents=True)
    (root / ".github" / "workflows" / "ci.yml").write_text(WORKFLOW)
    (root / "pyproject.toml").write_text(
        PYPROJECT.format(fail_under=fail_under, security=textwrap.dedent(security))
    )
    (root / "mini.py").write_text(module)
    (root / "slo").mkdir()
    (root / "slo" / "objectives.yaml").write_text(OBJECTIVES.read_text())
    (root / "tests").mkdir()
    (root / "tests" / "test_mini.py").write_text(textwrap.dedent(tests))
    return root / "pyproject.toml"


def commit_reviewed(root):
    """The project as a committed git tree (the tree a release has), with a detect-secrets
    baseline in which every hit is reviewed as a false positive."""
    commit_all(root)
    make_baseline(root, is_secret=False)
    commit_all(root, "secrets baseline")
