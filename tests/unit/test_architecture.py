"""The tree is the map: one package per concept, docs/architecture.md's diagram is the packages'
import graph, and no module imports itself back through another."""

import ast
import functools
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
GATES = ROOT / "gates"


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
def module_edges():
    """(module, module it imports) over every module of gates/, every import statement
    counted (a function's own imports too), parsed once per process."""
    edges = set()
    for path in GATES.rglob("*.py"):
        module = ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
        for node in ast.walk(ast.parse(path.read_text())):
            edges.update((module, target) for target in imported(node) if target != module)
    return frozenset(edges)


def room(module):
    """A module's place on the map: its package under gates/, or the top-level module itself."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[1] != "__main__" else None


def room_edges():
    return {
        (room(a), room(b)) for a, b in module_edges() if room(a) and room(b) and room(a) != room(b)
    }


def foundation(edges):
    """What every stage shares, not drawn: the top-level modules and the config package at the
    bottom of the graph (each imports only what is already there)."""
    rooms, bottom = {r for edge in edges for r in edge}, set()
    while True:
        more = {r for r in rooms - bottom if all(b in bottom for a, b in edges if a == r)}
        if not more:
            break
        bottom |= more
    return {r for r in bottom if r == "config" or (GATES / f"{r}.py").is_file()}


def architecture_doc():
    return (ROOT / "docs" / "architecture.md").read_text()


def diagram_edges():
    block = architecture_doc().split("```mermaid\n", 1)[1].split("```", 1)[0]
    edge = re.compile(r'^\s*(\w+)(?:\["[^"]*"\])?\s*-->\s*(\w+)', re.M)
    return set(edge.findall(block))


def documented_foundation():
    """The rooms the page names as not drawn: `Not drawn: ...` up to the first full stop."""
    sentence = architecture_doc().split("Not drawn:", 1)[1].split(".", 1)[0]
    return set(re.findall(r"`(\w+)`", sentence))


def test_the_diagram_is_the_import_graph_of_the_packages():
    edges = room_edges()
    bottom = foundation(edges)
    assert documented_foundation() == bottom
    assert diagram_edges() == {(a, b) for a, b in edges if b not in bottom}


def test_no_module_imports_itself_back():
    graph = {}
    for a, b in module_edges():
        graph.setdefault(a, set()).add(b)
    done, path = set(), []

    def visit(module):
        if module in path:
            cycle = path[path.index(module) :] + [module]
            raise AssertionError(f"an import cycle: {' -> '.join(cycle)}")
        if module in done:
            return
        path.append(module)
        for target in sorted(graph.get(module, ())):
            visit(target)
        path.pop()
        done.add(module)

    for module in sorted(graph):
        visit(module)


def test_a_concept_with_several_files_is_a_package():
    """A module at the top of gates/ shares its first word with no package and no other
    top-level module (slo_rules.py beside slo/ would belong inside it)."""
    packages = {p.name for p in GATES.iterdir() if (p / "__init__.py").is_file()}
    top = [p.stem for p in GATES.glob("*.py") if not p.stem.startswith("__")]
    words = [name.split("_")[0] for name in top]
    assert not set(words) & packages
    assert len(set(words)) == len(words), sorted(top)


def test_the_cycle_check_finds_a_cycle(monkeypatch):
    """The check above can fail: a module importing its importer is named, with the path."""
    edges = module_edges() | {("gates.outcome", "gates.report")}
    monkeypatch.setattr(
        __import__(__name__, fromlist=["module_edges"]), "module_edges", lambda: edges
    )
    try:
        test_no_module_imports_itself_back()
    except AssertionError as exc:
        assert "gates.outcome -> gates.report -> gates.outcome" in str(exc)
    else:
        raise AssertionError("a cycle went unnoticed")
