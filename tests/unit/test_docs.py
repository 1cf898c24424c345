"""The docs stay true: the README is the way in (short, set-up and tests first, a map of every
page in docs/), .ci/run runs what it says, and every path of the tree the docs name exists."""

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
DOCS = sorted((ROOT / "docs").glob("*.md"))


def code_blocks(text):
    """The fenced code blocks of a Markdown text, each as its lines."""
    return [block.splitlines() for block in re.findall(r"^```[^\n]*\n(.*?)^```", text, re.M | re.S)]


def ci_run_commands():
    lines = (ROOT / ".ci" / "run").read_text().splitlines()
    return [line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")]


def test_the_readme_is_short():
    assert len(README.read_text().splitlines()) <= 120


def test_the_readme_starts_with_the_set_up_and_the_tests_that_ci_runs():
    setup, tests = code_blocks(README.read_text())[:2]
    assert setup[0].startswith("python3 -m venv .venv")
    assert "--require-hashes -r bootstrap-requirements.txt" in setup[-1]
    assert tests == [".venv/bin/nox -t tests"]
    # .ci/run "calls the test command the README gives", after the README's set-up.
    run = ci_run_commands()
    for command in setup:
        assert any(command in line for line in run), command
    assert run[-1] == tests[0]


def test_the_readme_maps_every_page_of_docs():
    text = README.read_text()
    linked = set(re.findall(r"\]\(docs/([\w.-]+\.md)", text))
    assert {page.name for page in DOCS} <= linked


def test_the_code_blocks_parser_finds_fenced_blocks_only():
    text = "intro\n\n    indented\n\n```sh\na\nb\n```\n\n```\nc\n```\n"
    assert code_blocks(text) == [["a", "b"], ["c"]]


# A path of this tree where it is named as one: after a space, backquote, parenthesis or the
# start of a line, never inside another path (`app/src/gates/...`) or a URL.
TREE_PATH = re.compile(r"(?:(?<=[\s`(\[])|^)((?:gates|tests|benchmarks)/[\w./-]*[\w/])", re.M)


def named_paths(text):
    return {p.rstrip("/.") for p in TREE_PATH.findall(text)}


@pytest.mark.parametrize("page", [README, *DOCS], ids=lambda p: p.name)
def test_every_path_a_page_names_exists(page):
    missing = sorted(p for p in named_paths(page.read_text()) if not (ROOT / p).exists())
    assert not missing, f"{page.name} names paths that do not exist: {missing}"


def test_the_path_finder_sees_paths_and_only_paths():
    text = "see `gates/slo/rules.py`, (tests/unit/) and\ngates/cli.py. Not app/src/gates/x.py"
    assert named_paths(text) == {"gates/slo/rules.py", "tests/unit", "gates/cli.py"}
