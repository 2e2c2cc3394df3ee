"""Applying a normalized store update to a purchase: the ordering rule lives here.

An event older than what is stored never overwrites newer state. Duplicates and reorderings of the
same facts therefore converge on the same purchase, whatever order they arrive in.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timezone

from .errors import StaleEventError
from .model import ACCESS_STATES, Purchase, PurchaseUpdate, Revocation, Snapshot, State

EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)

# When two snapshots carry the same store time (Stripe stamps events to the second), the one further
# along the lifecycle wins, so that "created: incomplete" cannot overwrite "updated: active" sent in
# the same second and delivered late.
_LIFECYCLE_RANK = {
    State.PENDING: 0,
    State.TRIALING: 1,
    State.ACTIVE: 2,
    State.GRACE_PERIOD: 3,
    State.BILLING_RETRY: 3,
    State.PAUSED: 3,
    State.ON_HOLD: 4,
    State.EXPIRED: 5,
    State.REVOKED: 5,
}


def _ended_at_once(state: State, expires_at: datetime | None, as_of: datetime) -> bool:
    """Expired or revoked at (or before) the moment it was said: a cancellation, which nothing said in
    the same second outlives (a later period end in that second is the state before it)."""
    return state in (State.EXPIRED, State.REVOKED) and expires_at is not None and expires_at <= as_of


def _supersedes(snapshot: Snapshot, current: Purchase) -> bool:
    if snapshot.as_of != current.event_time:
        return snapshot.as_of > current.event_time
    ends = _ended_at_once(snapshot.store_state, snapshot.expires_at, snapshot.as_of)
    if ends != _ended_at_once(current.store_state, current.expires_at, current.event_time):
        return ends
    # A failed renewal moves the period end back to the last paid one: the period does not order those.
    failed = {State.GRACE_PERIOD, State.BILLING_RETRY} & {snapshot.store_state, current.store_state}
    if snapshot.expires_at != current.expires_at and not failed:
        return current.expires_at is not None and (
            snapshot.expires_at is None or snapshot.expires_at > current.expires_at
        )
    return _LIFECYCLE_RANK[snapshot.store_state] >= _LIFECYCLE_RANK[current.store_state]


def new_purchase(update: PurchaseUpdate) -> Purchase:
    """The record a purchase starts from before any store state is known: pending, owned by nobody."""
    return Purchase(
        store=update.store,
        store_key=update.store_key,
        product_id=None,
        store_state=State.PENDING,
        expires_at=None,
        event_time=EPOCH,
    )


def apply_update(current: Purchase | None, update: PurchaseUpdate) -> Purchase:
    """The purchase after `update`; raises StaleEventError when the update teaches nothing new.

    Ownership is not decided here (see `ownership.decide_claim`).
    """
    purchase = current or new_purchase(update)
    changed = current is None and bool(update.snapshot or update.paid_through or update.claimant)

    if update.snapshot is not None:
        if _supersedes(update.snapshot, purchase):
            purchase = _apply_snapshot(purchase, update.snapshot)
            changed = True
        elif purchase.snapshot_at is None or update.snapshot.as_of > purchase.snapshot_at:
            # Older than a payment already applied, yet the newest description of the subscription:
            # its state is out of date, its renewal intent and products are not.
            described = _apply_description(purchase, update.snapshot)
            changed = changed or described != purchase
            purchase = described

    if update.paid_through is not None and update.occurred_at >= purchase.event_time:
        paid = _apply_payment(purchase, update.paid_through, update.occurred_at)
        changed = changed or paid != purchase
        purchase = paid

    if update.payment_failed and update.occurred_at >= purchase.event_time and purchase.store_state in ACCESS_STATES:
        purchase = _apply_failed_payment(purchase, update)
        changed = True

    if update.revocation is not None:
        revoked = _apply_revocation(purchase, update.revocation)
        changed = changed or revoked != purchase
        purchase = revoked

    if update.product_refs and not purchase.product_refs:
        purchase = replace(purchase, product_id=update.product_refs[0], product_refs=update.product_refs)
        changed = True

    if update.customer_ref and purchase.customer_ref is None:
        purchase = replace(purchase, customer_ref=update.customer_ref)
        changed = True

    # What kind of purchase it is never changes: once said, it stays (an older event may omit it).
    if update.family_shared and not purchase.family_shared:
        purchase = replace(purchase, family_shared=True)
        changed = True
    if update.consumable and not purchase.consumable:
        purchase = replace(purchase, consumable=True)
        changed = True

    identified = _apply_identity(purchase, update)
    if identified != purchase:
        # A record stored before its store data named these (older purchases) learns them now.
        changed = changed or current is not None
        purchase = identified

    if not changed and update.claimant is None:
        raise StaleEventError(f"event {update.event_id} is older than the stored state of {purchase.purchase_id}")
    return purchase


def _apply_identity(purchase: Purchase, update: PurchaseUpdate) -> Purchase:
    """The lifecycle's environment and app, when the update's store data names them: they do not
    change over a lifecycle, so any event that says them is right, whatever its time."""
    environment = update.environment or purchase.environment
    app = update.app or purchase.app
    if (environment, app) == (purchase.environment, purchase.app):
        return purchase
    return replace(purchase, environment=environment, app=app)


def _apply_snapshot(purchase: Purchase, snapshot: Snapshot) -> Purchase:
    state, expires_at, paid = snapshot.store_state, snapshot.expires_at, purchase.expires_at
    if snapshot.unpaid_from is not None and paid is not None and paid <= snapshot.unpaid_from:
        expires_at = paid  # the period began unpaid (collection paused): access ends with the paid one
        if snapshot.lapses_to is not None and state in ACCESS_STATES and paid <= snapshot.as_of:
            state = snapshot.lapses_to
    return replace(
        _apply_description(purchase, snapshot),
        store_state=state,
        expires_at=expires_at,
        grace_ends_at=snapshot.grace_ends_at,
        lapses_to=snapshot.lapses_to,
        event_time=snapshot.as_of,
    )


def _apply_description(purchase: Purchase, snapshot: Snapshot) -> Purchase:
    """What a snapshot says besides the state: renewal intent, products, raw status, environment."""
    return replace(
        purchase,
        will_renew=purchase.will_renew if snapshot.will_renew is None else snapshot.will_renew,
        product_id=snapshot.product_id or purchase.product_id,
        product_refs=snapshot.product_refs or purchase.product_refs,
        raw_state=snapshot.raw_state,
        environment=snapshot.environment,
        snapshot_at=snapshot.as_of,
    )


def _apply_payment(purchase: Purchase, paid_through: datetime, occurred_at: datetime) -> Purchase:
    """A paid invoice: the purchase is paid up to `paid_through`; an older invoice never shortens it."""
    if purchase.expires_at is None and purchase.store_state is not State.PENDING:
        return purchase  # one-time purchases are not paid by invoices
    if occurred_at == purchase.event_time and _ended_at_once(purchase.store_state, purchase.expires_at, occurred_at):
        return purchase  # canceled in the same second: the invoice was paid before the cancellation
    if purchase.expires_at is not None:
        if paid_through < purchase.expires_at:
            return purchase
        if paid_through == purchase.expires_at and purchase.store_state in ACCESS_STATES:
            # The period was known already (a snapshot told it first); the invoice still confirms it
            # as of its own time, as it would have had it come first: the order of the two must not
            # change what is stored.
            return replace(purchase, event_time=max(purchase.event_time, occurred_at))
    return replace(
        purchase,
        expires_at=paid_through,
        store_state=State.ACTIVE,
        grace_ends_at=None,
        lapses_to=None if purchase.lapses_to is State.BILLING_RETRY else purchase.lapses_to,  # paid: no grace
        event_time=max(purchase.event_time, occurred_at),
    )


def _apply_failed_payment(purchase: Purchase, update: PurchaseUpdate) -> Purchase:
    """A failed payment of the subscription's current period (Stripe advanced to it already, or the
    purchase is in grace for it): paid up to its start, access until the grace end, then billing retry."""
    grace_end, start = update.grace_ends_at, update.failed_period_start
    current = start is not None and purchase.expires_at in (start, update.failed_period_end)
    if current and grace_end is not None and grace_end > update.occurred_at:
        return replace(
            purchase,
            store_state=State.GRACE_PERIOD,
            expires_at=start,
            grace_ends_at=grace_end,
            lapses_to=State.BILLING_RETRY,
            event_time=update.occurred_at,
        )
    return replace(
        purchase, store_state=State.BILLING_RETRY, grace_ends_at=None, lapses_to=None, event_time=update.occurred_at
    )


def _apply_revocation(purchase: Purchase, revocation: Revocation) -> Purchase:
    others = tuple(r for r in purchase.revocations if r.ref != revocation.ref)
    existing = next((r for r in purchase.revocations if r.ref == revocation.ref), None)
    if existing is not None and existing.at > revocation.at:
        return purchase
    if revocation.covers_until is None and purchase.expires_at is not None:
        # A payment of unknown period: the current one.
        revocation = replace(revocation, covers_until=purchase.expires_at)
    if existing == revocation:
        return purchase
    return replace(purchase, revocations=(*others, revocation))
