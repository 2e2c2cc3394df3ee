"""Tolerant readers of store JSON, shared by the App Store and Google Play normalizers (pure).

A store payload may hold anything: a reader returns the value when it has the expected shape and None
otherwise, reporting what it ignored in `warnings`. Nothing here raises on the payload's content.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any

from .timeutil import from_epoch_ms


def mapping(value: Any, name: str, warnings: list[str]) -> Mapping[str, Any]:
    """`value` when it is an object; else `{}`, so that every later read finds nothing."""
    if isinstance(value, Mapping):
        return value
    warnings.append(f"{name} is not an object ({type(value).__name__}): nothing read")
    return {}


def object_or_empty(value: Any) -> Mapping[str, Any]:
    """`value` when it is an object, else `{}`: for optional parts whose absence needs no warning."""
    return value if isinstance(value, Mapping) else {}


def first_object(payload: Mapping[str, Any], *keys: str) -> Mapping[str, Any]:
    """The first of `keys` whose value is an object (`{}` when none is)."""
    for key in keys:
        value = payload.get(key)
        if isinstance(value, Mapping):
            return value
    return {}


def text(value: Any) -> str | None:
    """A non-blank string, stripped."""
    if isinstance(value, str) and value.strip():
        return value.strip()
    return None


def text_or_number(value: Any) -> str | None:
    """A non-blank string, or an integer as its decimal text: the App Store sends some ids as numbers.

    Google Play's ids are always strings (proto3 JSON), so its normalizer reads them with `text`.
    """
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return text(value)


def integer(value: Any, name: str, warnings: list[str]) -> int | None:
    """A JSON number, or an int64 sent as a string (proto3 JSON); anything else is a warning."""
    if value is None:
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value.strip())
    warnings.append(f"{name} {value!r} is not an integer: ignored")
    return None


def enum(value: Any, known: Mapping[int, Any], name: str, warnings: list[str]) -> int | None:
    """An integer enum value; one the store has not documented is kept raw and reported."""
    code = integer(value, name, warnings)
    if code is not None and code not in known:
        warnings.append(f"unknown {name} {code} kept raw")
    return code


def millis(value: Any, name: str, warnings: list[str]) -> datetime | None:
    """A time in milliseconds since the epoch (a number, or an int64 string)."""
    count = integer(value, name, warnings)
    if count is None:
        return None
    try:
        return from_epoch_ms(count)
    except (OverflowError, OSError, ValueError):
        warnings.append(f"{name} {value!r} is out of range: ignored")
        return None


def timestamp(value: Any, name: str, warnings: list[str]) -> datetime | None:
    """An RFC 3339 timestamp (`2026-01-31T10:00:00.123456789Z`, any fraction, any offset) in UTC."""
    if value is None:
        return None
    written = text(value)
    if written is None:
        warnings.append(f"{name} {value!r} is not a timestamp: ignored")
        return None
    normalized = written[:-1] + "+00:00" if written[-1:] in ("Z", "z") else written
    head, dot, rest = normalized.partition(".")
    if dot:  # Python reads at most microseconds: keep six digits of the fraction
        digits = len(rest) - len(rest.lstrip("0123456789"))
        normalized = f"{head}.{rest[: min(digits, 6)]}{rest[digits:]}" if digits else f"{head}{rest}"
    try:
        moment = datetime.fromisoformat(normalized)
    except ValueError:
        warnings.append(f"{name} {value!r} is not an RFC 3339 timestamp: ignored")
        return None
    if moment.tzinfo is None:
        warnings.append(f"{name} {value!r} has no offset: read as UTC")
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc)
