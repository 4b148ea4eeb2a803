"""The generator stays readable: no function over 80 lines, no module over 450 (a page each, a file a concern)."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "generator" / "clearml_runai_gen"
MAX_FUNCTION_LINES = 80
MAX_MODULE_LINES = 450


def modules() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def test_the_package_is_where_the_test_looks() -> None:
    assert (PACKAGE / "cli.py").is_file() and len(modules()) > 20


def test_no_function_of_the_generator_is_longer_than_a_page() -> None:
    long = []
    for path in modules():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                lines = (node.end_lineno or node.lineno) - node.lineno + 1
                if lines > MAX_FUNCTION_LINES:
                    long.append(f"{path.relative_to(PACKAGE)}:{node.lineno} {node.name} ({lines} lines)")
    assert not long, f"split these into functions of at most {MAX_FUNCTION_LINES} lines: {long}"


def test_no_module_of_the_generator_holds_more_than_one_concern() -> None:
    big = [
        f"{p.relative_to(PACKAGE)} ({n} lines)"
        for p in modules()
        if (n := len(p.read_text().splitlines())) > MAX_MODULE_LINES
    ]
    assert not big, f"split these modules (at most {MAX_MODULE_LINES} lines): {big}"
