"""docs/architecture.md's package diagram is the code's import graph, and it has no cycles."""

import ast
import functools
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# Rooms of the diagram: a module's room is the first rule its dotted name matches.
ROOMS = (
    ("cli", ("gates.cli", "gates.__main__")),
    ("stages", ("gates.stages",)),
    ("ledger", ("gates.ledger",)),
    ("config", ("gates.config", "gates.config_command", "gates.slo_objectives", "gates.slo_rules")),
    ("local", ("gates.targets.local",)),
    ("swarm", ("gates.targets.swarm",)),
    ("live", ("gates.targets.live",)),
    ("target_for", ("gates.targets=",)),  # "=": the package's own module only
    ("targets", ("gates.targets",)),
    ("deploy", ("gates.deploy",)),
    ("release", ("gates.release",)),
    ("engine", ("gates.engine",)),
    ("security", ("gates.security",)),
    (
        "checks",
        ("gates.lint", "gates.workflow_policy", "gates.testsuite", "gates.combined_coverage"),
    ),
    (
        "verify",
        (
            "gates.smoke",
            "gates.perf",
            "gates.slo",
            "gates.drill",
            "gates.drill_detectors",
            "gates.dora",
            "gates.summary",
        ),
    ),
)
FOUNDATION = {"config", "core"}


def room(module):
    for name, prefixes in ROOMS:
        for prefix in prefixes:
            exact = prefix.endswith("=")
            prefix = prefix.rstrip("=")
            if module == prefix or (not exact and module.startswith(prefix + ".")):
                return name
    return "core" if module != "gates" else None


def is_module(name):
    path = ROOT / Path(*name.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def imported(node):
    """The gates modules an import statement loads (a submodule, not its package)."""
    if isinstance(node, ast.Import):
        return [a.name for a in node.names if a.name.split(".")[0] == "gates"]
    if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "gates":
        subs = [f"{node.module}.{a.name}" for a in node.names]
        found = [s for s in subs if is_module(s)]
        return found + ([node.module] if len(found) < len(subs) else [])
    return []


@functools.cache
def code_edges():
    """(room, room it imports) over every module of gates/, parsed once per process: the three
    tests below read the same graph."""
    edges = set()
    for path in (ROOT / "gates").rglob("*.py"):
        module = ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
        for node in ast.walk(ast.parse(path.read_text())):
            for target in imported(node):
                a, b = room(module), room(target)
                if a and b and a != b:
                    edges.add((a, b))
    return frozenset(edges)


def diagram_edges():
    doc = (ROOT / "docs" / "architecture.md").read_text()
    block = doc.split("```mermaid\n", 1)[1].split("```", 1)[0]
    edge = re.compile(r'^\s*(\w+)(?:\["[^"]*"\])?\s*-->\s*(\w+)', re.M)
    return set(edge.findall(block))


def test_the_diagram_is_the_import_graph():
    drawn = {(a, b) for a, b in code_edges() if b not in FOUNDATION}
    assert diagram_edges() == drawn


def test_the_foundation_imports_only_itself():
    edges = code_edges()
    assert {b for a, b in edges if a == "core"} == set()
    assert {b for a, b in edges if a == "config"} <= {"core"}
    assert {b for a, b in edges if a == "ledger"} <= FOUNDATION


def test_the_rooms_have_no_cycle():
    edges, order = code_edges(), []
    rooms = {r for edge in edges for r in edge}
    while rooms:
        free = {r for r in rooms if not any(a == r and b in rooms for a, b in edges)}
        assert free, f"a cycle among {sorted(rooms)}"
        order += sorted(free)
        rooms -= free
