"""A package's names resolved on first use (PEP 562): importing the package loads none of its modules,
and each name loads its own module when first read. The domain's store packages use it so that a
webhook, which needs one small module, does not load the normalizers and the purchase model; the ports
and the DynamoDB adapter so that a function loads only the parts it builds."""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping
from importlib import import_module


def on_first_use(package: str, module_of: Mapping[str, str]) -> Callable[[str], object]:
    """The package's `__getattr__`: `module_of` maps each name to the module (relative) it lives in."""

    def __getattr__(name: str) -> object:
        try:
            module = module_of[name]
        except KeyError:
            raise AttributeError(f"module {package!r} has no attribute {name!r}") from None
        value = getattr(import_module(f".{module}", package), name)
        setattr(sys.modules[package], name, value)
        return value

    return __getattr__
