"""No import cycles among the project's modules (read with `ast`; nothing is imported).

Every import counts, those inside functions too: a function-level import that closes a cycle
hides it from Python at start, not from a reader.
"""

from __future__ import annotations

import ast
from pathlib import Path

from tests.contracts.test_import_boundaries import ROOT, imports_of, module_name, python_files

PACKAGES = ("contracts", "services")


def project_modules() -> dict[str, Path]:
    return {module_name(p): p for package in PACKAGES for p in python_files(ROOT / package)}


def import_graph(modules: dict[str, Path]) -> dict[str, set[str]]:
    """module → the project modules it imports (the most specific existing module)."""
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        for found in imports_of(path):
            target = found.module
            while target and target not in modules:
                target = target.rpartition(".")[0]
            if target and target != name and not _is_package_of(target, modules, name):
                graph[name].add(target)
    return graph


def _is_package_of(target: str, modules: dict[str, Path], name: str) -> bool:
    """`from pkg import sub` also names `pkg` itself: a package's (empty) __init__ is no edge."""
    path = modules[target]
    return path.name == "__init__.py" and not ast.parse(path.read_text()).body[1:]


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One cycle per strongly connected component of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph[node]):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                components.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return [_one_cycle(graph, set(c)) for c in components]


def _one_cycle(graph: dict[str, set[str]], component: set[str]) -> list[str]:
    """A shortest cycle through the component's first module, as a path back to itself."""
    start = min(component)
    paths = {start: [start]}
    frontier = [start]
    while frontier:
        following = []
        for node in frontier:
            for nxt in sorted(graph[node] & component):
                if nxt == start:
                    return paths[node] + [start]
                if nxt not in paths:
                    paths[nxt] = paths[node] + [nxt]
                    following.append(nxt)
        frontier = following
    return sorted(component)


def test_a_cycle_is_found_and_named() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert cycles(graph) == [["a", "b", "c", "a"]]


def test_project_modules_import_each_other_without_cycles() -> None:
    found = cycles(import_graph(project_modules()))
    assert not found, "import cycles:\n" + "\n".join(" → ".join(c) for c in found)
