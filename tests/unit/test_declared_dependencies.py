"""Every distribution the gates package imports is one it declares: the stage sessions install
only the gates' own dependencies plus their group, and the CLI imports every stage's module
to build its parser, so an undeclared import breaks every session, not just its own."""

import ast
import sys
import tomllib
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]
# pydantic pins its core exactly (pydantic-core==X): importing its types is importing pydantic.
PART_OF = {"pydantic_core": "pydantic"}


def imported_top_levels(package: Path) -> dict[str, str]:
    """{top-level module: first file importing it} for the imports outside TYPE_CHECKING."""
    found: dict[str, str] = {}
    for path in sorted(package.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        typing_only = {
            id(node)
            for block in ast.walk(tree)
            if isinstance(block, ast.If) and ast.unparse(block.test) == "TYPE_CHECKING"
            for node in ast.walk(block)
        }
        for node in ast.walk(tree):
            if id(node) in typing_only:
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


def test_every_third_party_import_of_gates_is_a_declared_dependency():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    declared = {canonicalize_name(Requirement(r).name) for r in project["dependencies"]}
    distributions = metadata.packages_distributions()
    undeclared = {
        module: where
        for imported, where in imported_top_levels(ROOT / "gates").items()
        for module in [PART_OF.get(imported, imported)]
        if module not in sys.stdlib_module_names
        and module != "gates"
        and not declared & {canonicalize_name(d) for d in distributions.get(module, [module])}
    }
    assert undeclared == {}, "imported by gates/ but not in [project] dependencies"
