"""UTC time helpers: every time inside Parity is an aware UTC datetime."""

from __future__ import annotations

from datetime import datetime, timezone


def from_epoch(seconds: float | int | None) -> datetime | None:
    if seconds is None:
        return None
    return datetime.fromtimestamp(int(seconds), tz=timezone.utc)


def from_epoch_ms(millis: float | int | str | None) -> datetime | None:
    if millis is None:
        return None
    return datetime.fromtimestamp(int(millis) / 1000, tz=timezone.utc)


def to_epoch_ms(moment: datetime | None) -> int | None:
    return None if moment is None else int(moment.timestamp() * 1000)


def rfc3339(moment: datetime | None) -> str | None:
    """`2026-11-22T10:00:00Z` (whole seconds, UTC), or None."""
    if moment is None:
        return None
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_rfc3339(text: str | None) -> datetime | None:
    if not text:
        return None
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(timezone.utc)
