"""Named-tuple records take plain defaults: a dataclasses `field(...)` there would be the default itself."""

from __future__ import annotations

import dataclasses
import importlib
import pkgutil

import parity


def named_tuples():
    for info in pkgutil.walk_packages(parity.__path__, "parity."):
        if info.name.startswith("parity.openapi"):
            continue  # doc-time only (pydantic)
        module = importlib.import_module(info.name)
        for value in vars(module).values():
            if isinstance(value, type) and issubclass(value, tuple) and hasattr(value, "_field_defaults"):
                if value.__module__ == module.__name__:
                    yield value


def test_no_named_tuple_defaults_to_a_dataclass_field():
    found = list(named_tuples())
    assert len(found) > 20
    wrong = [f"{cls.__module__}.{cls.__name__}.{name}" for cls in found for name, default in cls._field_defaults.items() if isinstance(default, dataclasses.Field)]
    assert wrong == []
