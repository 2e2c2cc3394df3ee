"""UTC time helpers: every time inside Parity is an aware UTC datetime."""

from __future__ import annotations

from datetime import datetime, timezone


def _at(seconds: float) -> datetime:
    """An aware UTC datetime; ValueError (not OverflowError or OSError) for a time it cannot hold."""
    try:
        return datetime.fromtimestamp(seconds, tz=timezone.utc)
    except (OverflowError, OSError, ValueError):
        raise ValueError(f"the time {seconds!r} (epoch seconds) is out of range") from None


def from_epoch(seconds: float | int | None) -> datetime | None:
    if seconds is None:
        return None
    return _at(int(seconds))


def from_epoch_ms(millis: float | int | str | None) -> datetime | None:
    if millis is None:
        return None
    return _at(int(millis) / 1000)


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
