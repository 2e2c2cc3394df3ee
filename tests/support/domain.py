"""Builders for domain values in tests: readable defaults, override only what the test is about.

Times are whole seconds on a fixed UTC clock (`T0`), so tests never depend on when they run.
"""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta, timezone

from parity.domain.model import Purchase, PurchaseUpdate, Revocation, Snapshot, State, Store

T0 = datetime(2026, 1, 1, tzinfo=timezone.utc)
_event_ids = itertools.count(1)

# The catalog every tier's tests run with (the functions read it from CATALOG_FILE).
TEST_CATALOG = {
    "products": {
        "price_pro_monthly": ["pro"],
        "price_pro_yearly": ["pro"],
        "prod_pro": ["pro"],
        "price_lifetime": ["pro", "lifetime"],
        "price_team": ["team"],
    }
}


def day(n: float) -> datetime:
    """`T0` plus `n` days."""
    return T0 + timedelta(days=n)


def second(n: int) -> datetime:
    """`T0` plus `n` seconds."""
    return T0 + timedelta(seconds=n)


_THIRTY_DAYS = object()


def purchase(
    state: State = State.ACTIVE,
    expires_at: datetime | None = _THIRTY_DAYS,  # type: ignore[assignment]
    *,
    store: Store = Store.STRIPE,
    store_key: str = "sub_1",
    event_time: datetime = T0,
    product_id: str | None = "price_pro_monthly",
    **fields,
) -> Purchase:
    """A stored purchase; active until `T0` + 30 days unless told otherwise (None: never expires).

    Its state came from a snapshot at `event_time` unless `snapshot_at` says otherwise.
    """
    fields.setdefault("snapshot_at", event_time)
    return Purchase(
        store=store,
        store_key=store_key,
        product_id=product_id,
        store_state=state,
        expires_at=day(30) if expires_at is _THIRTY_DAYS else expires_at,
        event_time=event_time,
        **fields,
    )


def lifetime(state: State = State.ACTIVE, **fields) -> Purchase:
    """A one-time purchase (e.g. a Stripe payment-mode checkout): it never expires."""
    fields.setdefault("store_key", "pi_1")
    fields.setdefault("product_id", "price_lifetime")
    return purchase(state, None, **fields)


def update(
    occurred_at: datetime = T0,
    *,
    store_key: str = "sub_1",
    event_id: str | None = None,
    **fields,
) -> PurchaseUpdate:
    return PurchaseUpdate(
        store=Store.STRIPE,
        store_key=store_key,
        event_id=event_id or f"evt_{next(_event_ids)}",
        occurred_at=occurred_at,
        **fields,
    )


def snapshot_update(
    state: State,
    expires_at: datetime | None,
    as_of: datetime,
    **snapshot_fields,
) -> PurchaseUpdate:
    """An update carrying a whole-state snapshot taken at `as_of`."""
    snapshot_fields.setdefault("product_id", "price_pro_monthly")
    return update(as_of, snapshot=Snapshot(state, expires_at, as_of, **snapshot_fields))


def paid_update(paid_through: datetime, occurred_at: datetime) -> PurchaseUpdate:
    """An invoice paid at `occurred_at` for the period ending `paid_through`."""
    return update(occurred_at, paid_through=paid_through)


def revocation_update(ref: str, covers_until: datetime | None, active: bool, at: datetime) -> PurchaseUpdate:
    return update(at, revocation=Revocation(ref, covers_until, active, at))


def app_store_claim(
    user: str | None, t0: int, store_key: str, event_id: str, token: str | None = None, days: int = 30
) -> PurchaseUpdate:
    """A store update for one App Store purchase as of `t0` (epoch seconds), active for `days`, claimed
    by `user` (or by whoever the appAccountToken `token` names)."""
    as_of = datetime.fromtimestamp(t0, tz=timezone.utc)
    return PurchaseUpdate(
        store=Store.APP_STORE,
        store_key=store_key,
        event_id=event_id,
        occurred_at=as_of,
        snapshot=Snapshot(State.ACTIVE, as_of + timedelta(days=days), as_of, product_id="price_pro_monthly"),
        claimant=user,
        app_account_token=token,
    )
