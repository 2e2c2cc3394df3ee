"""What a module imports, read from its source: for the tests that keep layers apart."""

from __future__ import annotations

import ast


def imported_modules(source: str) -> list[tuple[str, int]]:
    """(module, relative level) of every import statement, wherever it sits (also inside functions and
    under `if TYPE_CHECKING:`)."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [(alias.name, 0) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            found.append((node.module or "", node.level))
    return found
