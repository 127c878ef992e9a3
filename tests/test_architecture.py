"""The layering of the three packages, checked on the source so it cannot quietly erode.

evals    (define)   imports neither runners nor reports; only evals.cli may, inside functions
runners  (execute)  imports evals, never reports
reports  (analyse)  imports evals, never runners
"""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("evals", "runners", "reports")
FORBIDDEN = {"evals": {"runners", "reports"}, "runners": {"reports"}, "reports": {"runners"}}


def _modules() -> list[Path]:
    return sorted(p for pkg in PACKAGES for p in (ROOT / pkg).rglob("*.py"))


def _imports(tree: ast.AST) -> list[tuple[str, int, bool]]:
    """(top-level package imported, line, imported inside a function)."""
    found: list[tuple[str, int, bool]] = []

    def visit(node: ast.AST, in_function: bool) -> None:
        for child in ast.iter_child_nodes(node):
            nested = in_function or isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef)
            if isinstance(child, ast.Import):
                found.extend((a.name.split(".")[0], child.lineno, in_function) for a in child.names)
            elif isinstance(child, ast.ImportFrom) and child.module and child.level == 0:
                found.append((child.module.split(".")[0], child.lineno, in_function))
            visit(child, nested)

    visit(tree, False)
    return found


@pytest.mark.parametrize("path", _modules(), ids=lambda p: str(p.relative_to(ROOT)))
def test_imports_point_one_way(path: Path) -> None:
    rel = path.relative_to(ROOT)
    package = rel.parts[0]
    in_cli = rel.parts[:2] == ("evals", "cli")
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    for imported, line, in_function in _imports(tree):
        if imported not in FORBIDDEN[package]:
            continue
        if in_cli and in_function:
            continue  # the CLI is the top floor: it may reach up lazily, inside a command
        pytest.fail(f"{rel}:{line} imports {imported!r}, against the layering of {package!r}")


@pytest.mark.parametrize("package", PACKAGES)
def test_public_names_are_sorted_and_importable(package: str) -> None:
    module = importlib.import_module(package)
    names = getattr(module, "__all__", [])
    assert list(names) == sorted(names), f"{package}.__all__ is not sorted"
    for name in names:
        assert hasattr(module, name), f"{package}.__all__ names {name!r}, which it does not define"
