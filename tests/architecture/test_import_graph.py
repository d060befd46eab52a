"""The packages' import graph: no cycle, and no runtime module that imports test support.

Every ``import`` statement counts, those inside functions too: a lazy import
is still an edge a reader has to follow.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SOURCES = (ROOT / "protocol" / "src", ROOT / "adapters" / "sqlalchemy" / "src")
TEST_SUPPORT = ("userstore.testing", "userstore_sqlalchemy.testing")


def _modules() -> dict[str, tuple[Path, bool]]:
    found: dict[str, tuple[Path, bool]] = {}
    for source in SOURCES:
        for path in sorted(source.rglob("*.py")):
            parts = list(path.relative_to(source).with_suffix("").parts)
            package = parts[-1] == "__init__"
            if package:
                parts.pop()
            found[".".join(parts)] = (path, package)
    return found


MODULES = _modules()


def _imports(name: str) -> set[str]:
    """The package modules ``name`` imports (a submodule named in ``from x import y`` counts)."""
    path, package = MODULES[name]
    here = name if package else name.rpartition(".")[0]
    edges: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                up = here.split(".")[: len(here.split(".")) - node.level + 1]
                base = ".".join([*up, base] if base else up)
            submodules = [f"{base}.{a.name}" for a in node.names if f"{base}.{a.name}" in MODULES]
            targets = submodules + ([base] if len(submodules) < len(node.names) else [])
        for target in targets:
            while target and target not in MODULES:
                target = target.rpartition(".")[0]
            if target and target != name:
                edges.add(target)
    return edges


GRAPH = {name: _imports(name) for name in MODULES}


def _cycles() -> Iterator[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()

    def visit(node: str) -> Iterator[list[str]]:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for other in sorted(GRAPH[node]):
            if other not in index:
                yield from visit(other)
                low[node] = min(low[node], low[other])
            elif other in on_stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                yield sorted(component)

    for name in sorted(GRAPH):
        if name not in index:
            yield from visit(name)


def test_the_graph_is_read() -> None:
    assert "userstore._errors" in GRAPH["userstore"]
    assert "userstore_sqlalchemy._tokendb" in GRAPH["userstore_sqlalchemy.access_token"]


def test_no_import_cycle() -> None:
    assert list(_cycles()) == []


def _runtime(name: str) -> bool:
    return not any(name == t or name.startswith(t + ".") for t in TEST_SUPPORT)


@pytest.mark.parametrize("name", sorted(n for n in MODULES if _runtime(n)))
def test_runtime_modules_do_not_import_test_support(name: str) -> None:
    reached = {name}
    todo = [name]
    while todo:
        for other in GRAPH[todo.pop()]:
            if other not in reached:
                reached.add(other)
                todo.append(other)
    assert [m for m in sorted(reached) if not _runtime(m)] == []


def test_importing_every_runtime_module_loads_no_test_support() -> None:
    names = [n for n in sorted(MODULES) if _runtime(n) and n != "userstore.__main__"]
    code = (
        "import importlib, sys\n"
        f"for name in {names!r}:\n"
        "    importlib.import_module(name)\n"
        f"print(sorted(m for m in sys.modules if m.startswith({TEST_SUPPORT!r})))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    assert done.stdout.strip() == "[]", done.stderr
