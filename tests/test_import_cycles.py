"""No import circle runs through the targets or the value rule book: every import counts,
also one under ``if TYPE_CHECKING:`` or inside a function (issue 9: ``targets/sql`` and
``targets/staging``, ``structured`` and ``types`` imported each other)."""

from __future__ import annotations

import ast
from pathlib import Path

import syncline

PACKAGE = Path(syncline.__file__).parent
#: modules no circle may pass through
KEPT_APART = ("syncline.targets", "syncline.types", "syncline.spec", "syncline.numeric",
              "syncline.temporal", "syncline.text", "syncline.structured",
              "syncline.inference", "syncline.locks", "syncline.rejects", "syncline.columns")


def _graph() -> dict[str, set[str]]:
    """module -> the package's modules it imports (the package itself left out: importing
    any submodule runs it)."""
    modules: dict[str, Path] = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        if name != "syncline":
            modules[name] = path
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                imported = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                imported = [node.module, *(f"{node.module}.{a.name}" for a in node.names)]
            else:
                continue
            graph[name] |= {m for m in imported if m in modules and m != name}
    return graph


def _circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(module: str) -> None:
        index[module] = low[module] = len(index)
        stack.append(module)
        for other in sorted(graph[module]):
            if other not in index:
                visit(other)
                low[module] = min(low[module], low[other])
            elif other in stack:
                low[module] = min(low[module], index[other])
        if low[module] == index[module]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == module:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for module in sorted(graph):
        if module not in index:
            visit(module)
    return found


def test_no_import_circle_through_the_targets_or_the_rule_book() -> None:
    circles = [c for c in _circles(_graph())
               if any(m == kept or m.startswith(kept + ".") for m in c for kept in KEPT_APART)]
    assert not circles, circles


def test_a_circle_is_found() -> None:
    assert _circles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
