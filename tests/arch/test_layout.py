"""The shape of the house: the import graph of ``src/liveinsight`` has no cycle (counting
function-local imports; only ``if TYPE_CHECKING:`` blocks are left out), ``app.py`` alone
imports ``api/``, and the composition root's fields are all typed."""

from __future__ import annotations

import ast
import dataclasses
import typing
from pathlib import Path

from liveinsight import services

ROOT = Path(services.__file__).resolve().parent


def _modules() -> dict[str, Path]:
    out = {}
    for path in ROOT.rglob("*.py"):
        parts = path.relative_to(ROOT.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        out[name] = path
    return out


def _imports(path: Path, known: set[str]) -> set[str]:
    """Every liveinsight module ``path`` imports, anywhere but under TYPE_CHECKING."""
    tree = ast.parse(path.read_text())
    skipped: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skipped.update(id(sub) for sub in ast.walk(node))
    found: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module, *(f"{node.module}.{a.name}" for a in node.names)]
        for name in names:
            while name not in known and "." in name:
                name = name.rsplit(".", 1)[0]
            if name in known and name.startswith("liveinsight"):
                found.add(name)
    return found


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    known = set(modules)
    return {name: _imports(path, known) - {name} for name, path in modules.items()}


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}  # 1 on the stack, 2 done
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return [*stack[stack.index(nxt):], nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return None


def test_the_import_graph_has_no_cycle() -> None:
    graph = _graph()
    assert len(graph) > 50
    cycle = _cycle(graph)
    assert cycle is None, " -> ".join(cycle or [])


def test_only_app_imports_the_http_layer() -> None:
    importers = {name for name, deps in _graph().items()
                 if not name.startswith("liveinsight.api") and any(
                     d == "liveinsight.api" or d.startswith("liveinsight.api.") for d in deps)}
    assert importers == {"liveinsight.app"}


def test_the_composition_root_is_frozen_and_fully_typed() -> None:
    hints = typing.get_type_hints(services.Services)
    fields = dataclasses.fields(services.Services)
    assert services.Services.__dataclass_params__.frozen  # type: ignore[attr-defined]
    assert len(fields) > 20
    untyped = [f.name for f in fields if hints[f.name] is typing.Any
               or "Any" in str(hints[f.name]) or "dict[str" in str(hints[f.name])]
    assert untyped == []
