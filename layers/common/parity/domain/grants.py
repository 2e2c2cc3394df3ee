"""Manual grants: access an operator gives by hand (promotion, an App Review demo account, goodwill).

A grant is a purchase of the `manual` store, held by one user as a manual association, that grants the
entitlements it names (no product: `Catalog.entitlements_of` reads them from its product refs). It is
active until its `expiresAt` (None: until revoked), and revoking it ends it (`revoked`) at once.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from .model import Purchase, State, Store


def manual_grant(grant_id: str, entitlement: str, user_id: str, expires_at: datetime | None, now: datetime) -> Purchase:
    """The purchase `manual:<grant_id>` granting `entitlement` to `user_id` from `now` until `expires_at`."""
    return Purchase(
        store=Store.MANUAL,
        store_key=grant_id,
        product_id=None,
        product_refs=(entitlement,),
        store_state=State.ACTIVE,
        expires_at=expires_at,
        event_time=now,
        will_renew=False,
        owner_ids=(user_id,),
        manual_owner=True,
    )


def end_grant(grant: Purchase, now: datetime) -> Purchase:
    """The grant revoked at `now` (its access ends; the record stays, as every purchase's does)."""
    return replace(grant, store_state=State.REVOKED, event_time=max(now, grant.event_time))


def is_grant(purchase: Purchase) -> bool:
    return purchase.store is Store.MANUAL
