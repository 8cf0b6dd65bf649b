"""The layering rules import-linter cannot see: the runtime builds no API path, and no test module is
imported by another (shared helpers live in tests/support)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
API_PATH = re.compile(r"/apis?/")


def _strings(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(), str(path))
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
        and node.body
        and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }
    return [
        (node.lineno, node.value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings
    ]


def test_the_runtime_builds_no_api_path() -> None:
    offenders = [
        f"{path.relative_to(REPO)}:{line}: {text!r}"
        for path in sorted((REPO / "jobsched" / "runtime").rglob("*.py"))
        for line, text in _strings(path)
        if API_PATH.search(text)
    ]
    assert offenders == [], "API paths belong in jobsched/kube/paths.py"


def test_no_test_module_is_imported_by_another() -> None:
    offenders = []
    for path in sorted((REPO / "tests").rglob("*.py")):
        tree = ast.parse(path.read_text(), str(path))
        for node in ast.walk(tree):
            module = node.module if isinstance(node, ast.ImportFrom) else None
            if module and module.startswith("tests.") and module.rsplit(".", 1)[-1].startswith("test_"):
                offenders.append(f"{path.relative_to(REPO)}: from {module}")
    assert offenders == [], "shared test helpers belong in tests/support"
