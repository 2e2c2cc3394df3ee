"""The code stays in pieces one can read at once (issue 13's bounds): no layer module over 450 lines, no
function over 60 in the layer, the console or the local stack, and every Lambda handler under 40."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LAYER = ROOT / "layers" / "common" / "parity"
MAX_MODULE_LINES = 450
MAX_FUNCTION_LINES = 60
MAX_HANDLER_LINES = 40


def _sources(*folders: Path) -> list[Path]:
    return sorted(path for folder in folders for path in folder.rglob("*.py") if "__pycache__" not in path.parts)


def _functions(path: Path) -> list[tuple[str, int]]:
    tree = ast.parse(path.read_text(), filename=str(path))
    return [
        (f"{path.relative_to(ROOT)}:{node.lineno} {node.name}", node.end_lineno - node.lineno + 1)
        for node in ast.walk(tree)
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
    ]


def test_no_layer_module_is_over_450_lines():
    sizes = {str(path.relative_to(ROOT)): len(path.read_text().splitlines()) for path in _sources(LAYER)}
    assert {name: n for name, n in sizes.items() if n > MAX_MODULE_LINES} == {}


@pytest.mark.parametrize("folder", ["layers/common/parity", "parity_cli", "local", "functions"])
def test_no_function_is_over_60_lines(folder):
    long = [(name, n) for path in _sources(ROOT / folder) for name, n in _functions(path) if n > MAX_FUNCTION_LINES]
    assert long == []


def test_every_handler_is_under_40_lines():
    handlers = [(name, n) for path in _sources(ROOT / "functions") for name, n in _functions(path)]
    assert [name for name, _ in handlers if name.endswith(" lambda_handler")], "no handler found"
    assert [(name, n) for name, n in handlers if n >= MAX_HANDLER_LINES] == []
