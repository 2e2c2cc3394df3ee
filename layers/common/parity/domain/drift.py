"""Drift: when a purchase is due for a check with its store, and what a check found.

Webhooks get lost or arrive late, so every purchase is checked with its store now and then. A
purchase is due when its access should have ended by now (its period or grace end passed, or a
renewal is overdue), and in any case `recheck` after it was last checked (a rolling check of every
purchase).
"""

from __future__ import annotations

import zlib
from datetime import datetime, timedelta
from enum import Enum

from .model import ACCESS_STATES, Purchase, State

DUE_SHARDS = 8  # the due index is spread over this many partitions (writes and the scan's Queries)


class DriftKind(str, Enum):
    STATE = "state_differs"  # the store's state is not the one Parity had
    EXPIRY = "expiry_differs"  # same state, another period or grace end
    OWNER_MISSING = "owner_missing"  # nobody holds the purchase (never claimed): not repairable here
    UNKNOWN = "unknown_at_store"  # the store does not know the purchase
    REFUNDED = "refunded_unnoticed"  # refunded or revoked at the store, no notification said so
    STALE_ACCESS = "stale_access"  # access past its end still shown as granted (no store check possible)


REPAIRABLE = frozenset({DriftKind.STATE, DriftKind.EXPIRY, DriftKind.REFUNDED, DriftKind.STALE_ACCESS})


def due_at(purchase: Purchase, recheck: timedelta) -> datetime:
    """When the drift scan should next look at `purchase`."""
    due = (purchase.checked_at or purchase.event_time) + recheck
    end = purchase.access_ends_at
    if purchase.state in ACCESS_STATES and end is not None and end < due:
        return end
    return due


def due_shard(purchase_id: str) -> int:
    return zlib.crc32(purchase_id.encode()) % DUE_SHARDS


def drift_between(before: Purchase, after: Purchase) -> frozenset[DriftKind]:
    """What a check changed about a purchase (nothing: no drift)."""
    kinds = set()
    if after.state is State.REVOKED and before.state is not State.REVOKED:
        kinds.add(DriftKind.REFUNDED)
    elif after.state is not before.state:
        kinds.add(DriftKind.STATE)
    if after.expires_at != before.expires_at or after.grace_ends_at != before.grace_ends_at:
        kinds.add(DriftKind.EXPIRY)
    if not after.owner_ids:
        kinds.add(DriftKind.OWNER_MISSING)
    return frozenset(kinds)
