"""The subcommands, one module each. `discover()` is the one place they are registered: every module
of this package that defines `register(parser, add)` (and `HELP`) is a subcommand named after the
module (`replay.py` → `parity replay`, `drift_scan.py` → `parity drift-scan`). See `parity_cli`'s
docstring for a module's contract."""

from __future__ import annotations

import importlib
import pkgutil
from types import ModuleType


def discover() -> list[tuple[str, ModuleType]]:
    """(command name, module) for each subcommand module, by name."""
    found = []
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda info: info.name):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        if callable(getattr(module, "register", None)):
            found.append((info.name.replace("_", "-"), module))
    return found
