"""No import cycle among NetBuilder's modules, imports inside functions included (only those under
``if TYPE_CHECKING:`` never run). import-linter's contracts (pyproject.toml, run by
scripts/test.sh) hold the layers; this holds every module against every other."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "netbuilder"


def module_files(package: Path = PACKAGE) -> dict[str, Path]:
    """Dotted module name → its file (a package is its ``__init__.py``)."""
    modules = {}
    for path in sorted(package.rglob("*.py")):
        parts = path.relative_to(package.parent).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        modules[".".join(parts)] = path
    return modules


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING"
            or isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _imports(tree: ast.AST) -> list[ast.Import | ast.ImportFrom]:
    """Every import statement in ``tree``, leaving out ``if TYPE_CHECKING:`` bodies."""
    type_checking = {id(node) for branch in ast.walk(tree)
                     if isinstance(branch, ast.If) and _is_type_checking(branch.test)
                     for statement in branch.body for node in ast.walk(statement)}
    return [node for node in ast.walk(tree)
            if isinstance(node, ast.Import | ast.ImportFrom) and id(node) not in type_checking]


def _imported_modules(statement: ast.Import | ast.ImportFrom, module: str, is_package: bool,
                      modules: dict[str, Path]) -> Iterator[str]:
    """Our modules that ``statement`` (in ``module``) imports: ``from package import module``
    names the module, ``from module import name`` the module."""
    if isinstance(statement, ast.Import):
        yield from (alias.name for alias in statement.names if alias.name in modules)
        return
    base = statement.module or ""
    if statement.level:
        package = module.split(".") if is_package else module.split(".")[:-1]
        anchor = ".".join(package[:len(package) - statement.level + 1])
        base = f"{anchor}.{base}" if base else anchor
    for alias in statement.names:
        if f"{base}.{alias.name}" in modules:
            yield f"{base}.{alias.name}"
        elif base in modules:
            yield base


def import_graph(modules: dict[str, Path]) -> dict[str, dict[str, list[int]]]:
    """module → {module it imports: [line numbers]}."""
    graph: dict[str, dict[str, list[int]]] = {name: {} for name in modules}
    for name, path in modules.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        for statement in _imports(tree):
            targets = set(_imported_modules(statement, name, path.name == "__init__.py", modules))
            for target in targets - {name}:
                graph[name].setdefault(target, []).append(statement.lineno)
    return graph


def strongly_connected(graph: dict[str, dict[str, list[int]]]) -> list[list[str]]:
    """The groups of two or more modules that import each other, directly or not (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []

    def visit(start: str) -> None:
        # Iterative, so that a long chain of imports cannot exhaust the recursion limit.
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, targets = work[-1]
            for target in targets:
                if target not in index:
                    index[target] = low[target] = len(index)
                    stack.append(target)
                    on_stack.add(target)
                    work.append((target, iter(sorted(graph[target]))))
                    break
                if target in on_stack:
                    low[node] = min(low[node], index[target])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    group = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        group.append(member)
                        if member == node:
                            break
                    if len(group) > 1:
                        groups.append(sorted(group))

    for name in sorted(graph):
        if name not in index:
            visit(name)
    return sorted(groups)


def describe(group: list[str], graph: dict[str, dict[str, list[int]]]) -> str:
    members = set(group)
    lines = [f"{len(group)} modules import each other:"]
    for name in group:
        for target, line_numbers in sorted(graph[name].items()):
            if target in members:
                at = ", ".join(f"l.{n}" for n in line_numbers)
                lines.append(f"  {name} -> {target} ({at})")
    return "\n".join(lines)


@pytest.fixture(scope="module")
def graph() -> dict[str, dict[str, list[int]]]:
    return import_graph(module_files())


def test_the_module_graph_is_found(graph):
    assert graph["netbuilder.__main__"] == {"netbuilder.cli": [3]}
    assert "netbuilder.ui.canvas.scene" in graph


def test_no_import_cycle(graph):
    groups = strongly_connected(graph)
    assert not groups, "import cycles:\n" + "\n".join(describe(g, graph) for g in groups)


def test_cycles_are_found_inside_functions_but_not_under_type_checking(tmp_path):
    package = tmp_path / "pkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "a.py").write_text("from typing import TYPE_CHECKING\n"
                                  "if TYPE_CHECKING:\n    from pkg import c\n"
                                  "def f():\n    from . import b\n")
    (package / "b.py").write_text("from pkg.a import f\n")
    (package / "c.py").write_text("import pkg.a\n")
    assert strongly_connected(import_graph(module_files(package))) == [["pkg.a", "pkg.b"]]
