"""Adapters built at their first use: what only some requests of a function need (the App Store
verifier, a queue written to only when something fails, a store's SDK) is not paid for at cold start.

`at_first_use(build)` stands for the adapter `build()` returns: the first attribute read builds it (once
per container; the services see a port like any other). The settings behind it are checked when the
stand-in is made, in `bootstrap`, so that a bad configuration still fails the cold start.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, TypeVar, cast

T = TypeVar("T")

# One lock for every build: the local stack runs handlers in threads, and boto3's default session does
# not make clients safely from two threads at once. Reentrant: a build may use another stand-in.
_BUILDING = threading.RLock()
_UNBUILT: Any = object()


class FirstUse:
    """The stand-in: forwards every attribute to the adapter, built by the first read."""

    __slots__ = ("_build", "_value")

    def __init__(self, build: Callable[[], Any]) -> None:
        self._build = build
        self._value = _UNBUILT

    def __getattr__(self, name: str) -> Any:  # only for names the stand-in lacks: the adapter's
        return getattr(self.built(), name)

    def built(self) -> Any:
        """The adapter, built now if it was not yet (a failed build is tried again at the next use)."""
        value = self._value
        if value is _UNBUILT:
            with _BUILDING:
                if self._value is _UNBUILT:
                    self._value = self._build()
                value = self._value
        return value

    @property
    def is_built(self) -> bool:
        return self._value is not _UNBUILT

    def __repr__(self) -> str:
        return f"<{'built' if self.is_built else 'not yet built'}: {self._build!r}>"


def at_first_use(build: Callable[[], T]) -> T:
    """A stand-in for `build()`'s adapter, typed as the adapter: built by its first use, then reused."""
    return cast(T, FirstUse(build))


def is_built(adapter: object) -> bool:
    """False for a stand-in not used yet; True for one used, and for any other object."""
    return not isinstance(adapter, FirstUse) or adapter.is_built
