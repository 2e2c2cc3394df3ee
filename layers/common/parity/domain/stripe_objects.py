"""Stripe objects read the same way by every event and API read (pure): references, user links, and a
subscription as a snapshot of its purchase.

How Stripe's states map onto Parity's: docs/stores/stripe.md.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from . import limits
from .model import Snapshot, State
from .timeutil import from_epoch

SUBSCRIPTION_STATES: Mapping[str, State] = {
    "trialing": State.TRIALING,
    "active": State.ACTIVE,
    "past_due": State.GRACE_PERIOD,  # renewal failed, Stripe is retrying: access until the grace end
    "unpaid": State.ON_HOLD,  # retries exhausted, subscription left open: no access until paid
    "canceled": State.EXPIRED,
    "incomplete": State.PENDING,  # first payment not done yet
    "incomplete_expired": State.EXPIRED,
    "paused": State.PAUSED,  # trial ended without a payment method
}

DEFAULT_GRACE = timedelta(seconds=259200)  # STRIPE_GRACE_SECONDS' default: 3 days

def _id(value) -> str | None:
    """A Stripe reference is either an id or the expanded object."""
    if isinstance(value, Mapping):
        value = value.get("id")
    # An id beyond the input limits (it would become a key) is no reference: the event names nothing.
    return value if limits.is_key_id(value) else None


def _user_id(*sources) -> str | None:
    for source in sources:
        if isinstance(source, str) and source.strip():
            return _valid_user(source.strip())
        if isinstance(source, Mapping):
            metadata = source.get("metadata")
            if isinstance(metadata, Mapping) and isinstance(metadata.get("user_id"), str) and metadata["user_id"]:
                return _valid_user(metadata["user_id"])
    return None


def _valid_user(user_id: str) -> str | None:
    """A link that is not a valid user id links no one (it could never be a JWT's `sub`)."""
    return user_id if limits.is_user_id(user_id) else None


def _environment(obj: Mapping) -> str:
    return "production" if obj.get("livemode") else "sandbox"


def subscription_snapshot(
    subscription: Mapping, as_of: datetime, grace: timedelta = DEFAULT_GRACE
) -> tuple[Snapshot, tuple[str, ...]]:
    """A subscription object → snapshot (and warnings for values Parity does not know).

    `past_due` (a renewal failed): the period has already advanced to the unpaid one, so access was paid
    up to its start; it lasts until that start + `grace` (`grace_period`), then `billing_retry`.
    `pause_collection` set (portal or API): the status stays `active`, periods advance but nothing is
    collected: no renewal, and `paused` once the paid period ended (`Snapshot.unpaid_from`).
    """
    warnings: list[str] = []
    raw: Any = subscription.get("status")  # Stripe's value, whatever its type
    state = SUBSCRIPTION_STATES.get(raw)
    if state is None:
        warnings.append(f"unknown subscription status {raw!r}")
        state = State.PENDING
    items = (subscription.get("items") or {}).get("data") or []
    period_ends = [item.get("current_period_end") for item in items if item.get("current_period_end")]
    expires_at = from_epoch(max(period_ends) if period_ends else subscription.get("current_period_end"))
    if state is State.TRIALING and subscription.get("trial_end"):
        expires_at = from_epoch(subscription["trial_end"])
    ended_at = from_epoch(subscription.get("ended_at"))
    if state is State.EXPIRED and ended_at is not None and (expires_at is None or ended_at < expires_at):
        expires_at = ended_at  # canceled immediately: access ends now, not at the period end
    starts = [item.get("current_period_start") for item in items if item.get("current_period_start")]
    period_start = from_epoch(max(starts) if starts else subscription.get("current_period_start"))
    grace_ends_at = None
    if state is State.GRACE_PERIOD:
        if period_start is not None:  # the unpaid period's start
            expires_at = period_start
            grace_ends_at = period_start + grace
        if grace_ends_at is None or grace_ends_at <= as_of:
            state = State.BILLING_RETRY
    lapses_to = State.BILLING_RETRY if state is State.GRACE_PERIOD else None
    paused = bool(subscription.get("pause_collection")) and state in (State.ACTIVE, State.TRIALING)
    if paused:
        lapses_to = State.PAUSED
        if expires_at is not None and expires_at <= as_of:
            state = State.PAUSED
    refs = _subscription_products(subscription, items)
    will_renew = (
        state in (State.ACTIVE, State.TRIALING, State.GRACE_PERIOD, State.BILLING_RETRY)
        and not paused
        and not subscription.get("cancel_at_period_end")
        and not subscription.get("cancel_at")
    )
    snapshot = Snapshot(
        store_state=state,
        expires_at=expires_at,
        as_of=as_of,
        grace_ends_at=grace_ends_at if state is State.GRACE_PERIOD else None,
        will_renew=will_renew,
        product_id=refs[0] if refs else None,
        product_refs=tuple(dict.fromkeys(refs)),
        raw_state=raw,
        environment=_environment(subscription),
        lapses_to=lapses_to if state in (State.ACTIVE, State.TRIALING, State.GRACE_PERIOD) else None,
        unpaid_from=period_start if paused else None,
    )
    return snapshot, tuple(warnings)


def _subscription_products(subscription: Mapping, items: list) -> list[str]:
    """Price and product ids of the subscription's items (older APIs: its `plan`)."""
    refs: list[str] = []
    for item in items:
        price = item.get("price") or item.get("plan") or {}
        refs += [ref for ref in (_id(price), _id(price.get("product"))) if ref]
    plan = subscription.get("plan")
    if not refs and isinstance(plan, Mapping):
        refs += [ref for ref in (_id(plan), _id(plan.get("product"))) if ref]
    return refs


def subscription_claimant(subscription: Mapping) -> str | None:
    """The Parity user id on the subscription's (or its expanded customer's) metadata."""
    customer = subscription.get("customer")
    # An unexpanded customer is its id ("cus_..."), not a Parity user id: only metadata names a user.
    return _user_id(subscription, customer if isinstance(customer, Mapping) else None)


