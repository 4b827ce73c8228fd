"""The package's import graph: no circles, and no arrow from a lower part to a higher one.

Read from the source with ``ast`` (function-level imports included), so a lazy import cannot hide a cycle.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "pytest_replyrace"
WINGS = ("provider", "gateway", "transports", "reports")
# Top-level modules that only the plugin's own layer may import: a wing (or the driver) never does.
UPPER = {"plugin", "settings", "markers"}
BASE = {"errors", "units", "tokens", "records", "version", "loopback", "clock"}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(path: Path) -> set[str]:
    """Every module of the package that ``path`` imports, as a dotted name under the package."""
    name = _module_name(path)
    package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if not isinstance(node, ast.ImportFrom):
            continue
        if node.level:
            base = package[: len(package) - (node.level - 1)]
        elif node.module and node.module.startswith("pytest_replyrace"):
            base, node.module = [], node.module.removeprefix("pytest_replyrace").lstrip(".") or None
        else:
            continue
        target = [*base, *(node.module.split(".") if node.module else [])]
        for alias in node.names:
            candidate = ".".join([*target, alias.name])
            found.add(candidate if candidate in GRAPH_NAMES else ".".join(target))
    return {m for m in found if m and m != name}


GRAPH_NAMES = {_module_name(p) for p in PACKAGE.rglob("*.py")}
GRAPH = {_module_name(p): _imports(p) for p in PACKAGE.rglob("*.py")}


def test_every_wing_is_a_package_with_modules() -> None:
    for wing in WINGS:
        assert (PACKAGE / wing / "__init__.py").is_file(), wing
        assert len(list((PACKAGE / wing).glob("*.py"))) >= 3, wing


def test_no_import_cycles() -> None:
    # Wing packages' __init__ modules import nothing, so edges into them carry no weight; a cycle is a real one.
    state: dict[str, int] = {}
    path: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(GRAPH.get(node, ())):
            if state.get(nxt) == 1:
                pytest.fail("import cycle: " + " -> ".join([*path[path.index(nxt) :], nxt]))
            if nxt not in state:
                visit(nxt)
        path.pop()
        state[node] = 2

    for node in sorted(GRAPH):
        if node not in state:
            visit(node)


@pytest.mark.parametrize("module", sorted(m for m in GRAPH if m not in ("", "plugin")))
def test_nothing_but_the_plugin_layer_points_upward(module: str) -> None:
    imported = GRAPH[module]
    assert "plugin" in GRAPH and "plugin" not in imported, f"{module} imports plugin"
    if module.split(".")[0] in WINGS or module in BASE or module in ("driver", "verdict", "window"):
        upward = sorted(imported & UPPER)
        assert not upward, f"{module} imports {upward}"
    if module in BASE:
        assert not {m for m in imported if m.split(".")[0] in WINGS}, f"base module {module} imports a wing"


def test_the_graph_is_read() -> None:
    # The checks above are only as good as the reading: a known edge of each kind must be in it.
    assert "gateway.readiness" in GRAPH["gateway.launcher"]
    assert "loopback" in GRAPH["provider.server"]
    assert "transports.base" in GRAPH["transports.http"]
    assert "verdict" in GRAPH["driver"]


def test_no_function_over_60_lines_and_no_class_over_300() -> None:
    # Small pieces a reader can hold: the limits the core's furniture was cut to.
    too_long = []
    for path in sorted(PACKAGE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            limit = 300 if isinstance(node, ast.ClassDef) else 60
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                length = (node.end_lineno or node.lineno) - node.lineno + 1
                if length > limit:
                    too_long.append(f"{path.relative_to(PACKAGE)}:{node.lineno} {node.name} ({length} lines)")
    assert too_long == []
