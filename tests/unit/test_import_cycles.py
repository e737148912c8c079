"""No import circle among the harness's own modules.

Every module under ``orchbench/``, ``fault_injection/`` and ``runners/`` is parsed with
``ast``; every import counts wherever it is written (module level, inside a function, under
``TYPE_CHECKING``), relative imports included. A circle hidden behind a function-level
import is still a circle: each module of it can only be understood with all the others.
"""

from __future__ import annotations

import ast
from pathlib import Path

from tests.conftest import REPO

ROOTS = ("orchbench", "fault_injection", "runners")


def module_files(repo: Path) -> dict[str, Path]:
    """Dotted module name -> file, for every ``.py`` file under ``ROOTS``."""
    out = {}
    for root in ROOTS:
        for path in sorted((repo / root).rglob("*.py")):
            parts = list(path.relative_to(repo).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            out[".".join(parts)] = path
    return out


def _known(name: str, modules: dict[str, Path]) -> str | None:
    """The longest prefix of ``name`` that is one of our modules (``a.b.C`` -> ``a.b``)."""
    parts = name.split(".")
    while parts:
        candidate = ".".join(parts)
        if candidate in modules:
            return candidate
        parts.pop()
    return None


def imports_of(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """Our modules that module ``name`` (at ``path``) imports anywhere in its body."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                stem = ".".join(base + ([node.module] if node.module else []))
            else:
                stem = node.module or ""
            # ``from pkg import mod`` imports the module pkg.mod; ``from mod import name``
            # imports mod
            subs = [f"{stem}.{a.name}" for a in node.names if f"{stem}.{a.name}" in modules]
            targets = subs + ([stem] if len(subs) < len(node.names) else [])
        else:
            continue
        for target in targets:
            known = _known(target, modules)
            if known is not None and known != name:
                found.add(known)
    return found


def import_graph(repo: Path) -> dict[str, set[str]]:
    modules = module_files(repo)
    return {name: imports_of(name, path, modules) for name, path in modules.items()}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import circle as ``[a, b, ..., a]``, or None (iterative depth-first search)."""
    WHITE, GREY, BLACK = 0, 1, 2
    colour = dict.fromkeys(graph, WHITE)
    for start in sorted(graph):
        if colour[start] != WHITE:
            continue
        stack = [(start, iter(sorted(graph[start])))]
        colour[start] = GREY
        while stack:
            node, children = stack[-1]
            child = next(children, None)
            if child is None:
                colour[node] = BLACK
                stack.pop()
            elif colour.get(child, BLACK) == GREY:
                path = [n for n, _ in stack]
                return [*path[path.index(child) :], child]
            elif colour.get(child) == WHITE:
                colour[child] = GREY
                stack.append((child, iter(sorted(graph[child]))))
    return None


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected groups of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                out.append(sorted(group))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def test_the_graph_sees_every_kind_of_import(tmp_path: Path) -> None:
    """The parser finds function-level, TYPE_CHECKING, relative and ``from . import``
    imports, so a circle cannot hide behind any of them."""
    pkg = tmp_path / "orchbench"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("def f():\n    from orchbench.b import g\n")
    (pkg / "b.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from . import c\n"
    )
    (pkg / "c.py").write_text("from .sub import d\n")
    (pkg / "sub" / "__init__.py").write_text("")
    (pkg / "sub" / "d.py").write_text("from .. import a\nimport orchbench.sub.e as e\n")
    (pkg / "sub" / "e.py").write_text("from ..a import f\n")
    graph = import_graph(tmp_path)
    assert graph["orchbench.a"] == {"orchbench.b"}
    assert graph["orchbench.b"] == {"orchbench.c"}
    assert graph["orchbench.c"] == {"orchbench.sub.d"}
    assert graph["orchbench.sub.d"] == {"orchbench.a", "orchbench.sub.e"}
    assert graph["orchbench.sub.e"] == {"orchbench.a"}
    cycle = find_cycle(graph)
    assert cycle is not None and cycle[0] == cycle[-1]
    assert circles(graph) == [
        ["orchbench.a", "orchbench.b", "orchbench.c", "orchbench.sub.d", "orchbench.sub.e"]
    ]


def test_no_import_circle() -> None:
    graph = import_graph(REPO)
    assert len(graph) > 50  # the walk found the code
    cycle = find_cycle(graph)
    groups = "\n".join(" ".join(g) for g in circles(graph))
    assert cycle is None, (
        f"import circle: {' -> '.join(cycle or [])}\nmodules in circles:\n{groups}"
    )
