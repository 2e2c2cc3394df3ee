"""One composition root: the functions, the local stack and the operator console build their services and
adapters through `parity.bootstrap`, never themselves (read off the sources; nothing is imported)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "layers" / "common" / "parity"
ENTRY_POINTS = ("functions", "local", "parity_cli")
WIRED = ("adapters", "services", "webhooks", "retries.py")  # what bootstrap builds


def _classes(path: Path) -> set[str]:
    return {node.name for node in ast.walk(ast.parse(path.read_text())) if isinstance(node, ast.ClassDef)}


def wired_classes() -> set[str]:
    """Every class of the modules bootstrap wires (adapters, services, verifiers, redelivery)."""
    names: set[str] = set()
    for part in WIRED:
        target = PACKAGE / part
        for path in [target] if target.is_file() else sorted(target.rglob("*.py")):
            names |= _classes(path)
    return names


def entry_point_sources() -> list[Path]:
    return [path for folder in ENTRY_POINTS for path in sorted((ROOT / folder).rglob("*.py"))]


def test_the_wired_classes_are_found():
    assert {"DynamoRepository", "SqsQueue", "EventBridgePublisher", "EventProcessor", "Replayer", "DriftScan"} <= (
        wired_classes()
    )


@pytest.mark.parametrize("path", entry_point_sources(), ids=lambda path: str(path.relative_to(ROOT)))
def test_entry_points_build_through_bootstrap(path):
    wired = wired_classes()
    tree = ast.parse(path.read_text())
    built = sorted(
        {
            name
            for node in ast.walk(tree)
            if isinstance(node, ast.Call)
            for name in [node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", None)]
            if name in wired
        }
    )
    clocks = sorted(node.name for node in ast.walk(tree) if isinstance(node, ast.ClassDef) and "Clock" in node.name)
    assert built == [], f"{path.name} builds {built} itself: use parity.bootstrap"
    assert clocks == [], f"{path.name} defines its own clock {clocks}: use bootstrap.SystemClock"
