"""Runtime modules never import test support, and neither package has an import cycle."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import userstore
import userstore_sqlalchemy

PACKAGES = {
    "userstore": Path(userstore.__file__).parent,
    "userstore_sqlalchemy": Path(userstore_sqlalchemy.__file__).parent,
}
TEST_SUPPORT = ("userstore.testing", "userstore_sqlalchemy.testing")


def _modules() -> dict[str, Path]:
    """Every module of both packages, by dotted name."""
    found: dict[str, Path] = {}
    for package, root in PACKAGES.items():
        for path in sorted(root.rglob("*.py")):
            parts = [package, *path.relative_to(root).with_suffix("").parts]
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join(parts)] = path
    return found


def _is_test_support(name: str) -> bool:
    return any(name == t or name.startswith(t + ".") for t in TEST_SUPPORT)


def _module_level(tree: ast.Module) -> list[ast.stmt]:
    """The statements run when the module is imported (``if TYPE_CHECKING:`` left out)."""
    run: list[ast.stmt] = []
    todo: list[ast.stmt] = list(tree.body)
    while todo:
        node = todo.pop()
        run.append(node)
        if isinstance(node, ast.If):
            if not (isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING"):
                todo += node.body + node.orelse
        elif isinstance(node, ast.Try):
            todo += node.body + node.orelse + node.finalbody
            todo += [s for handler in node.handlers for s in handler.body]
    return run


def _everywhere(tree: ast.Module) -> list[ast.AST]:
    """Every node that can run: functions' bodies too, ``if TYPE_CHECKING:`` left out."""
    found: list[ast.AST] = []
    todo: list[ast.AST] = [tree]
    while todo:
        node = todo.pop()
        found.append(node)
        if (
            isinstance(node, ast.If)
            and isinstance(node.test, ast.Name)
            and node.test.id == "TYPE_CHECKING"
        ):
            todo += node.orelse
            continue
        todo += ast.iter_child_nodes(node)
    return found


def _imports(name: str, path: Path, known: set[str], *, deferred: bool = True) -> set[str]:
    """The modules of both packages that ``name`` imports.

    With ``deferred`` those imported inside functions count too, else only those
    imported when the module itself is.
    """
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    tree = ast.parse(path.read_text(), str(path))
    for node in _everywhere(tree) if deferred else _module_level(tree):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = package
            for _ in range(node.level - 1):
                base = base.rpartition(".")[0]
            stem = node.module or ""
            base = f"{base}.{stem}".strip(".") if node.level else stem
            targets = [base] + [f"{base}.{alias.name}" for alias in node.names]
        else:
            continue
        for target in targets:
            while target and target not in known:
                target = target.rpartition(".")[0]
            if target and target != name:
                found.add(target)
    return found


def _graph(*, deferred: bool = True) -> dict[str, set[str]]:
    modules = _modules()
    known = set(modules)
    return {name: _imports(name, path, known, deferred=deferred) for name, path in modules.items()}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    # a package's __init__ importing its own submodules is how a package is built, not a cycle
    edges = {
        name: {d for d in deps if not (name + ".").startswith(d + ".")}
        for name, deps in graph.items()
    }
    state: dict[str, int] = {}
    cycles: list[list[str]] = []

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for dep in sorted(edges[node]):
            if state.get(dep) == 1:
                cycles.append([*path[path.index(dep) :], dep])
            elif dep not in state:
                visit(dep, [*path, dep])
        state[node] = 2

    for start in sorted(edges):
        if start not in state:
            visit(start, [start])
    return cycles


def test_the_graph_sees_the_known_imports() -> None:
    graph = _graph()
    assert "userstore._errors" in graph["userstore._registry"]
    assert "userstore.testing" in graph["userstore_sqlalchemy.testing"]


def test_no_runtime_module_imports_test_support() -> None:
    offenders = {
        name: sorted(n for n in deps if _is_test_support(n))
        for name, deps in _graph().items()
        # the ``userstore check`` command is the suite's runner: it loads the suite
        if not _is_test_support(name) and name != "userstore._cli._check"
    }
    assert {k: v for k, v in offenders.items() if v} == {}


def test_no_import_cycle_when_modules_are_imported() -> None:
    cycles = _cycles(_graph(deferred=False))
    assert cycles == [], "\n".join(" -> ".join(c) for c in cycles)


def test_no_import_cycle_even_through_imports_inside_functions() -> None:
    cycles = _cycles(_graph())
    assert cycles == [], "\n".join(" -> ".join(c) for c in cycles)


def test_no_import_cycle_through_test_support_even_deferred() -> None:
    cycles = [c for c in _cycles(_graph()) if any(_is_test_support(m) for m in c)]
    assert cycles == [], "\n".join(" -> ".join(c) for c in cycles)


PROBE = """\
import importlib, json, sys
for name in json.loads(sys.argv[1]):
    importlib.import_module(name)
print(json.dumps(sorted(sys.modules)))
"""


def test_importing_every_runtime_module_loads_no_test_support() -> None:
    runtime = sorted(
        name
        for name in _modules()
        if not _is_test_support(name)
        and not name.endswith("__main__")
        and ".migrations" not in name
    )
    done = subprocess.run(
        [sys.executable, "-c", PROBE, json.dumps(runtime)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    loaded = json.loads(done.stdout)
    assert set(runtime) <= set(loaded)
    assert [name for name in loaded if _is_test_support(name)] == []
