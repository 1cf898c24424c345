"""Every distribution the gates package imports is one it declares: the stage sessions install
only the gates' own dependencies plus their group, and the CLI imports every stage's module
to build its parser, so an undeclared import breaks every session, not just its own.

A distribution only one stage needs (matplotlib: the perf gate's chart) may instead be in that
stage's dependency group, imported inside the function that uses it: then importing the CLI
and every stage's module must not import it."""

import ast
import subprocess
import sys
import tomllib
from collections.abc import Mapping
from functools import cache
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from gates import stages

ROOT = Path(__file__).resolve().parents[2]
# pydantic pins its core exactly (pydantic-core==X): importing its types is importing pydantic.
PART_OF = {"pydantic_core": "pydantic"}


@cache
def imported_top_levels(package: Path, in_functions: bool = True) -> dict[str, str]:
    """{top-level module: first file importing it} for the imports outside TYPE_CHECKING
    (and, unless ``in_functions``, outside function bodies)."""
    found: dict[str, str] = {}
    for path in sorted(package.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        skipped = {
            id(node)
            for block in ast.walk(tree)
            if (isinstance(block, ast.If) and ast.unparse(block.test) == "TYPE_CHECKING")
            or (not in_functions and isinstance(block, (ast.FunctionDef, ast.AsyncFunctionDef)))
            for node in ast.walk(block)
        }
        for node in ast.walk(tree):
            if id(node) in skipped:
                continue
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                found.setdefault(name.split(".")[0], str(path.relative_to(ROOT)))
    return found


def names(requirements: list[object], groups: dict[str, list[object]]) -> set[str]:
    """The distributions a list of requirements names, include-group entries followed."""
    found: set[str] = set()
    for entry in requirements:
        if isinstance(entry, dict):
            found |= names(groups[entry["include-group"]], groups)
        else:
            found.add(canonicalize_name(Requirement(str(entry)).name))
    return found


@cache
def distributions() -> Mapping[str, list[str]]:
    return metadata.packages_distributions()


def undeclared(imports: dict[str, str], declared: set[str]) -> dict[str, str]:
    return {
        module: where
        for imported, where in imports.items()
        for module in [PART_OF.get(imported, imported)]
        if module not in sys.stdlib_module_names
        and module != "gates"
        and not declared & {canonicalize_name(d) for d in distributions().get(module, [module])}
    }


PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
DECLARED = names(PYPROJECT["project"]["dependencies"], {})
GROUPS = PYPROJECT["dependency-groups"]
# what a stage's session installs besides the gates' own dependencies
STAGE_GROUPS = {stage.group for stage in stages.STAGES}
IN_A_STAGE_GROUP = {name for group in STAGE_GROUPS for name in names(GROUPS[group], GROUPS)}


def test_every_third_party_import_of_gates_is_a_declared_dependency():
    at_import = imported_top_levels(ROOT / "gates", in_functions=False)
    assert undeclared(at_import, DECLARED) == {}, "imported by gates/ but not in [project]"


def test_an_import_inside_a_function_may_come_from_a_stage_group():
    imports = imported_top_levels(ROOT / "gates")
    assert undeclared(imports, DECLARED | IN_A_STAGE_GROUP) == {}, "in no dependency group"


def test_importing_every_stage_imports_only_the_declared_dependencies():
    lazy = sorted(undeclared(imported_top_levels(ROOT / "gates"), DECLARED))
    code = (
        "import importlib, sys\n"
        "from gates import cli, stages\n"
        "for stage in stages.STAGES:\n"
        "    importlib.import_module(stage.run.split(':')[0])\n"
        f"print(sorted(set({lazy!r}) & {{m.split('.')[0] for m in sys.modules}}))"
    )
    found = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert (found.returncode, found.stdout.strip()) == (0, "[]"), found.stderr
