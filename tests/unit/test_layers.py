"""The house rules import-linter cannot see: no cycle even through function-level imports, no private doors.

import-linter checks the layer order of DESIGN.md section 3 (pyproject.toml). What it does not tell is a cycle
hidden inside one layer behind an import in a function body (``app`` imports ``handlers``, which imports
``app`` when a request comes), nor a package reaching into another package's ``_private`` module. Both are
read here from the source with :mod:`ast`, every import statement counted wherever it stands.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from functools import cache
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src"
PACKAGE = SRC / "shipyard"
MAX_LINES = 450


@cache
def _modules() -> dict[str, Path]:
    """Dotted name -> file, for every module of the package (a package is its ``__init__``)."""
    found = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(SRC).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found[name] = path
    return found


def _imports(name: str, path: Path) -> Iterator[str]:
    """The shipyard modules ``name`` imports, from any statement in the file (top level or in a function)."""
    modules = _modules()
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                stem = ".".join([*base, node.module] if node.module else base)
            else:
                stem = node.module or ""
            targets = [f"{stem}.{alias.name}" if f"{stem}.{alias.name}" in modules else stem for alias in node.names]
        else:
            continue
        for target in targets:
            while target and target not in modules:  # `import shipyard.store.db as db` names a module; a
                target = target.rpartition(".")[0]  # name imported from a module stands for that module
            if target.startswith("shipyard") and target != name:
                yield target


@cache
def _graph() -> dict[str, set[str]]:
    return {name: set(_imports(name, path)) for name, path in _modules().items()}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in graph.get(node, ()):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def _ignoring_packages_and_facade(graph: dict[str, set[str]]) -> dict[str, set[str]]:
    """The facade (``shipyard``) re-exports everything lazily and package ``__init__`` files re-export their
    modules: edges into them stand for the module they forward to, not for a dependency on the package."""
    packages = {name for name, path in _modules().items() if path.name == "__init__.py"}
    return {name: {target for target in targets if target not in packages}
            for name, targets in graph.items() if name not in packages}


def test_the_graph_sees_function_level_imports() -> None:
    """The walk must count an import inside a function body, or the next test proves nothing."""
    assert "shipyard.cli.runs" in _graph()["shipyard.cli.main"]  # registered by a function, not at the top


def test_no_import_cycle_even_through_function_level_imports() -> None:
    cycles = _cycles(_ignoring_packages_and_facade(_graph()))
    assert cycles == [], "import cycles:\n" + "\n".join(" <-> ".join(cycle) for cycle in cycles)


def test_no_package_imports_another_packages_private_module() -> None:
    doors = []
    for name, targets in _graph().items():
        owner = name.split(".")[1] if name.count(".") else ""
        for target in targets:
            parts = target.split(".")
            private = any(part.startswith("_") and not part.startswith("__") for part in parts[2:])
            if private and parts[1] != owner:
                doors.append(f"{name} -> {target}")
    assert doors == []


def test_only_the_cli_and_the_demo_import_the_facade() -> None:
    """The facade re-exports the library; a library module importing it would import everything above itself."""
    importers = sorted(name for name, targets in _graph().items() if "shipyard" in targets
                       and not name.startswith(("shipyard.cli", "shipyard.demo", "shipyard.__main__")))
    assert importers == []


def test_every_module_is_under_the_size_a_reader_can_hold() -> None:
    large = {name: lines for name, path in _modules().items()
             if (lines := len(path.read_text().splitlines())) >= MAX_LINES}
    assert large == {}, f"split these before they grow further (STYLE.md habit 2): {large}"
