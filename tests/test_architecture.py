"""The house holds: import-linter's contracts (pyproject.toml) and no import cycles between modules.

``lint-imports`` checks the package-level rules: the layers of ``runtime`` and ``studio_app``, Qt
kept out of the core, the node library on runtime's public API only, and the bridge as Studio's one
door to a running runtime. The module-level cycle check is ours: import-linter's acyclic contract
looks at sibling packages, and a cycle between two modules of one package is just as tangled.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import grimp
import pytest

ROOT = Path(__file__).resolve().parent.parent


def module_cycles(graph: grimp.ImportGraph, package: str) -> list[list[str]]:
    """Strongly connected groups of two or more modules of ``package`` (Tarjan, iterative)."""
    modules = sorted(m for m in graph.modules if m == package or m.startswith(package + "."))
    edges = {m: sorted(i for i in graph.find_modules_directly_imported_by(m) if i in modules)
             for m in modules}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    groups: list[list[str]] = []
    for root in modules:
        if root in index:
            continue
        work = [(root, 0)]
        while work:
            node, child_at = work.pop()
            if child_at == 0:
                index[node] = low[node] = len(index)
                stack.append(node)
                on_stack.add(node)
            children = edges[node]
            if child_at < len(children):
                work.append((node, child_at + 1))
                child = children[child_at]
                if child not in index:
                    work.append((child, 0))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            for child in children:
                if child in on_stack:
                    low[node] = min(low[node], low[child])
            if low[node] == index[node]:
                group = []
                while True:
                    top = stack.pop()
                    on_stack.discard(top)
                    group.append(top)
                    if top == node:
                        break
                if len(group) > 1:
                    groups.append(sorted(group))
    return groups


def test_the_import_contracts_hold():
    lint = Path(sys.executable).with_name("lint-imports")

    done = subprocess.run([str(lint), "--no-cache"], cwd=ROOT, capture_output=True, text=True,
                          timeout=300, check=False)

    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize("package", ["runtime", "node_library", "studio_app"])
def test_no_two_modules_import_each_other_even_through_others(package):
    graph = grimp.build_graph(package, exclude_type_checking_imports=True)

    assert module_cycles(graph, package) == []


def test_the_cycle_check_finds_a_cycle_through_three_modules():
    graph = grimp.ImportGraph()
    for name in ("pkg", "pkg.a", "pkg.b", "pkg.c", "pkg.d"):
        graph.add_module(name)
    for importer, imported in (("pkg.a", "pkg.b"), ("pkg.b", "pkg.c"), ("pkg.c", "pkg.a"),
                               ("pkg.d", "pkg.a")):
        graph.add_import(importer=importer, imported=imported)

    assert module_cycles(graph, "pkg") == [["pkg.a", "pkg.b", "pkg.c"]]
