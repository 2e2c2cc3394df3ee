"""Drift: when a purchase is due for a check with its store, and what a check found.

Webhooks get lost or arrive late, so every purchase is checked with its store now and then. A
purchase is *due* (the scan's first pass) when its access should have ended by now (its period or
grace end passed, or a renewal is overdue) or users' projections are still to be written; every
purchase is in any case *rechecked* (the rolling slice, the second pass) a while after its last check:
`recheck` while it grants access or may come back, and less and less often once its access ended
(the interval grows with the time since it ended: 7, 14, 28, ... days, at most `MAX_EXPIRED_RECHECK`).

A daily budget of store checks (the Play Developer API's quota) is spent on the due pass first, then
on the rolling slice, oldest first; what does not fit waits for the next night, still due.
"""

from __future__ import annotations

import math
import zlib
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import Enum

from .errors import StaleEventError
from .model import ACCESS_STATES, Purchase, PurchaseUpdate, State, Store
from .purchases import apply_update

# The due index is spread over this many partitions (writes, and one scan invocation per shard). Raising
# it keeps every purchase findable: the scan reads every shard below it, older shards included.
DUE_SHARDS = 32
MAX_EXPIRED_RECHECK = timedelta(days=180)  # the longest a purchase whose access ended waits between checks
ENDED_STATES = frozenset({State.EXPIRED, State.REVOKED})  # no access, and none coming back by itself
BUDGETED_STORES = frozenset({Store.PLAY_STORE})  # whose checks are counted against the daily budget


class DriftKind(str, Enum):
    STATE = "state_differs"  # the store's state is not the one Parity had
    EXPIRY = "expiry_differs"  # same state, another period or grace end
    OWNER_MISSING = "owner_missing"  # nobody holds the purchase (never claimed): not repairable here
    UNKNOWN = "unknown_at_store"  # the store does not know the purchase
    REFUNDED = "refunded_unnoticed"  # refunded or revoked at the store, no notification said so
    STALE_ACCESS = "stale_access"  # access past its end still shown as granted (no store check possible)


REPAIRABLE = frozenset({DriftKind.STATE, DriftKind.EXPIRY, DriftKind.REFUNDED, DriftKind.STALE_ACCESS})


@dataclass(frozen=True)
class Due:
    """When the scan should next look at a purchase, and in which pass."""

    at: datetime
    ends: bool  # the first pass: access should have ended by `at` (or projections are pending)


def recheck_interval(purchase: Purchase, recheck: timedelta) -> timedelta:
    """How long after its last check a purchase is rechecked: `recheck`, or, once its access ended
    (expired, revoked), the time since it ended when last looked at (at least `recheck`, at most
    `MAX_EXPIRED_RECHECK`): checks thin out geometrically as a purchase ages."""
    end = purchase.expires_at
    if purchase.state not in ENDED_STATES or end is None:
        return recheck
    since = (purchase.checked_at or purchase.event_time) - end
    return max(recheck, min(since, MAX_EXPIRED_RECHECK))


def due(purchase: Purchase, recheck: timedelta) -> Due:
    """When the drift scan should next look at `purchase`, and whether its access should have ended then."""
    rolling = (purchase.checked_at or purchase.event_time) + recheck_interval(purchase, recheck)
    if purchase.pending_users:  # a write that stopped between its batches: completed by the next scan
        return Due(min(rolling, purchase.event_time), ends=True)
    end = purchase.access_ends_at
    if purchase.state in ACCESS_STATES and end is not None and end < rolling:
        return Due(end, ends=True)
    return Due(rolling, ends=False)


def due_at(purchase: Purchase, recheck: timedelta) -> datetime:
    """When the drift scan should next look at `purchase`."""
    return due(purchase, recheck).at


def due_shard(purchase_id: str) -> int:
    return zlib.crc32(purchase_id.encode()) % DUE_SHARDS


def budgeted(purchase_id: str) -> bool:
    """Whether checking the purchase spends the daily budget (its store's API has a daily quota)."""
    return purchase_id.split(":", 1)[0] in {store.value for store in BUDGETED_STORES}


def shard_budget(per_day: int, shards: int = DUE_SHARDS) -> int:
    """Each shard's share of the daily budget (purchases are spread evenly over the shards)."""
    return math.ceil(per_day / shards) if per_day > 0 else 0


def agrees(stored: Purchase, update: PurchaseUpdate) -> bool:
    """Whether the store's truth (`update`, read by a check) leaves the purchase as stored, its store time
    aside: then nothing is written but the check itself. Conservative: an update that could claim,
    link, credit or record anything beyond the purchase's own fields does not agree (it takes the
    processor's path)."""
    if stored.pending_users or update.claimant or update.app_account_token or update.revocation is not None:
        return False
    if update.linked_user is not None and update.linked_user not in stored.owner_ids:
        return False
    if update.customer_ref is not None and not stored.owner_ids:
        return False
    if update.delivery is not None and stored.credited_to is None:
        return False
    if any(ref.ref != stored.store_key for ref in update.payment_refs):
        return False
    try:
        truth = apply_update(stored, update)
    except StaleEventError:
        return True  # the store says nothing newer than what is stored
    return replace(truth, event_time=stored.event_time, snapshot_at=stored.snapshot_at) == stored


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
