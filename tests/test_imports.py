"""Imports point one way: no module of the package imports, directly or through others, a module
that imports it back. Every import counts: at the top, inside a function, under TYPE_CHECKING
(a cycle hidden in a function is still a knot a newcomer has to untie)."""

from __future__ import annotations

import ast
from pathlib import Path

import storyboard

PACKAGE = Path(storyboard.__file__).parent


def module_name(path: Path) -> str:
    """Return the dotted name of a module file of the package."""
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def modules() -> dict[str, Path]:
    """Return every module of the package by dotted name."""
    return {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def imported(name: str, path: Path, known: set[str]) -> set[str]:
    """Return the package's modules that `name` imports anywhere in its file."""
    is_package = path.name == "__init__.py"
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: from the module's own package
                base = name.split(".") if is_package else name.split(".")[:-1]
                base = base[: len(base) - (node.level - 1)]
                prefix = ".".join([*base, node.module] if node.module else base)
            else:
                prefix = node.module or ""
            # `from storyboard.run import pacing` imports the module storyboard.run.pacing
            targets = [f"{prefix}.{a.name}" if f"{prefix}.{a.name}" in known else prefix for a in node.names]
        for target in targets:
            while target and target not in known:  # `import storyboard.x.y` names x.y; an attribute: its module
                target = target.rpartition(".")[0]
            # Importing a.b.c runs a/__init__ and a/b/__init__ first: edges to those too, except to
            # the importer's own ancestors, which are already being imported.
            while target:
                if target != name and not name.startswith(target + "."):
                    found.add(target)
                target = target.rpartition(".")[0]
    return found


def graph() -> dict[str, set[str]]:
    """Return the import graph of the package."""
    mods = modules()
    known = set(mods)
    return {name: imported(name, path, known) for name, path in mods.items()}


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Return the strongly connected components of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(edges.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return sorted(out)


def test_the_graph_sees_every_kind_of_import() -> None:
    edges = graph()
    assert "storyboard.plan" in edges["storyboard.requests"]  # a top-level import
    assert "storyboard.story.schema" in edges["storyboard.requests"]  # inside a function
    assert "storyboard.plan" in edges["storyboard.results"]  # under TYPE_CHECKING
    assert "storyboard.run.pacing" in edges["storyboard.run.runner"]  # `from package import module`


def test_cycles_are_found() -> None:
    edges = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": {"e"}}
    assert cycles(edges) == [["a", "b", "c"]]


def test_no_import_cycles() -> None:
    found = cycles(graph())
    assert found == [], "import cycles (break each by moving what both sides need below them):\n" + "\n".join(
        " <-> ".join(c) for c in found
    )


def test_no_module_is_over_400_lines_without_saying_why() -> None:
    # Issue 14: a module that grows past ~400 lines holds more than one concept, unless its
    # docstring gives the reason it must stay whole ("kept whole: ...").
    long = {}
    for name, path in modules().items():
        lines = path.read_text(encoding="utf-8").count("\n")
        doc = ast.get_docstring(ast.parse(path.read_text(encoding="utf-8"))) or ""
        if lines > 400 and "kept whole:" not in doc:
            long[name] = lines
    assert long == {}, f"split these, or say in the docstring why not ('kept whole: ...'): {long}"
