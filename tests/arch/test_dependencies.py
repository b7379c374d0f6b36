"""Every library ``src/liveinsight`` imports (anywhere: lazy imports and ``TYPE_CHECKING``
blocks too) is one the project declares in pyproject.toml, as a dependency or in an extra —
not one that happens to be installed because a declared one needs it today."""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from importlib import metadata
from pathlib import Path

from liveinsight import services

ROOT = Path(services.__file__).resolve().parent
PYPROJECT = Path(__file__).resolve().parents[2] / "pyproject.toml"


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _declared() -> set[str]:
    """The distributions pyproject.toml names (the file, not what is installed from it)."""
    project = tomllib.loads(PYPROJECT.read_text())["project"]
    requirements = [*project["dependencies"],
                    *(r for extra in project["optional-dependencies"].values() for r in extra)]
    return {_canonical(re.split(r"[\s\[<>=!~;]", req, maxsplit=1)[0]) for req in requirements}


def _imported() -> dict[str, set[str]]:
    """Top-level module → the files importing it, outside the standard library."""
    found: dict[str, set[str]] = {}
    for path in ROOT.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                top = name.split(".")[0]
                if top != "liveinsight" and top not in sys.stdlib_module_names:
                    found.setdefault(top, set()).add(str(path.relative_to(ROOT.parent)))
    return found


def test_every_imported_library_is_declared() -> None:
    declared = _declared()
    providers = metadata.packages_distributions()
    undeclared = {module: sorted(files) for module, files in _imported().items()
                  if not {_canonical(d) for d in providers.get(module, [])} & declared}
    assert not undeclared, f"imported but not declared in pyproject.toml: {undeclared}"


def test_the_check_sees_the_imports_and_the_requirements() -> None:
    assert {"fastapi", "chdb", "urllib3", "mangum"} <= _declared()  # mangum: an extra's
    imported = _imported()
    assert {"fastapi", "chdb", "clickhouse_connect", "urllib3"} <= set(imported)
    assert "json" not in imported and "liveinsight" not in imported
