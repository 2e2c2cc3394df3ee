"""The records the event log exchanges: a stored event, what appending found, what operators see of an
event and of its processing. Apart from `records` so a webhook's intake loads only these."""

from __future__ import annotations

from datetime import datetime
from typing import NamedTuple


class StoredEvent(NamedTuple):
    """One verified store event as the event log keeps it (the raw body, byte for byte)."""

    source: str
    event_id: str
    event_type: str
    routing_key: str
    received_at: datetime
    body: bytes


class AppendResult(NamedTuple):
    """What appending an event to the log found."""

    stored: bool  # False: the event was there already
    processed: bool  # the stored event was already processed (nothing left to do)


class EventSummary(NamedTuple):
    """A stored event as operators see it (the body stays in the log)."""

    source: str
    event_id: str
    event_type: str
    received_at: datetime | None
    processed_at: datetime | None
    outcome: str | None
    purchase_id: str | None


class EventFailures(NamedTuple):
    """What the event log says of one event's processing: done or not, and the last failure the event
    processor recorded on it (SQS keeps no reason; `parity dlq show` reads it back)."""

    event_type: str | None
    processed_at: datetime | None
    outcome: str | None
    last_error: str | None
    last_error_at: datetime | None
    failures: int | None
