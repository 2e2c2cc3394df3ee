"""Stripe events → normalized purchase facts (pure).

How Stripe's states and events map onto Parity's, which API shapes are read, and how users are linked
(by Parity user id only, never by email): docs/stores/stripe.md.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any, NamedTuple

from .model import PaymentRef, PurchaseUpdate, Revocation, Snapshot, State, Store
from .stripe_objects import (  # noqa: F401 - re-exported: the Stripe domain is read as one module
    DEFAULT_GRACE,
    SUBSCRIPTION_STATES,
    _environment,
    _id,
    _user_id,
    subscription_claimant,
    subscription_snapshot,
)
from .timeutil import from_epoch

SUBSCRIPTION_EVENTS = frozenset(
    {
        "customer.subscription.created",
        "customer.subscription.updated",
        "customer.subscription.deleted",
        "customer.subscription.paused",
        "customer.subscription.resumed",
        "customer.subscription.trial_will_end",
        "customer.subscription.pending_update_applied",
        "customer.subscription.pending_update_expired",
    }
)


class StripeFacts(NamedTuple):
    """What one Stripe event says, before Parity knows which stored purchase it concerns.

    `purchase_key` is set when the payload names the purchase (subscription id, or the payment intent of
    a one-time checkout); otherwise `payment_lookup` lists the payment refs (payment intent, invoice,
    charge) under which an earlier event recorded the purchase.
    """

    event_id: str
    event_type: str
    occurred_at: datetime
    purchase_key: str | None = None
    payment_lookup: tuple[str, ...] = ()
    subscription_id: str | None = None
    snapshot: Snapshot | None = None
    paid_through: datetime | None = None
    payment_failed: bool = False
    failed_period_start: datetime | None = None  # invoice.payment_failed: the unpaid period
    failed_period_end: datetime | None = None
    grace_ends_at: datetime | None = None  # ... and the end of the grace it gives
    revocation: Revocation | None = None
    claimant: str | None = None
    customer_ref: str | None = None
    customer_user: str | None = None  # customer.* events: the Parity user id in the customer's metadata
    payment_refs: tuple[str, ...] = ()
    payment_period_end: datetime | None = None
    product_refs: tuple[str, ...] = ()
    checkout_session_id: str | None = None
    warnings: tuple[str, ...] = ()

    @property
    def routing_key(self) -> str:
        """The SQS message group: events of one purchase are processed in order."""
        return self.purchase_key or next(iter(self.payment_lookup), None) or self.customer_ref or self.event_id

    @property
    def concerns_purchase(self) -> bool:
        return bool(self.purchase_key or self.payment_lookup)

    def update_for(self, store_key: str, period_end: datetime | None = None) -> PurchaseUpdate:
        """The facts as an update of the purchase `stripe:<store_key>`."""
        purchase = f"{Store.STRIPE.value}:{store_key}"
        known_period = self.payment_period_end or period_end
        revocation = self.revocation
        if revocation is not None and revocation.covers_until is None and known_period is not None:
            revocation = Revocation(revocation.ref, known_period, revocation.active, revocation.at)
        return PurchaseUpdate(
            store=Store.STRIPE,
            store_key=store_key,
            event_id=self.event_id,
            occurred_at=self.occurred_at,
            snapshot=self.snapshot,
            paid_through=self.paid_through,
            product_refs=self.product_refs,
            payment_failed=self.payment_failed,
            failed_period_start=self.failed_period_start,
            failed_period_end=self.failed_period_end,
            grace_ends_at=self.grace_ends_at,
            revocation=revocation,
            linked_user=self.claimant,
            customer_ref=self.customer_ref,
            payment_refs=tuple(PaymentRef(ref, purchase, known_period) for ref in self.payment_refs),
        )


def normalize(event: Mapping, grace: timedelta = DEFAULT_GRACE) -> StripeFacts:
    """A verified Stripe event → facts. Unknown types give facts that concern no purchase.

    `grace`: how long a failed renewal keeps access (STRIPE_GRACE_SECONDS, passed in by the caller)."""
    event_type = str(event.get("type", ""))
    obj = (event.get("data") or {}).get("object") or {}
    base: dict[str, Any] = {
        "event_id": str(event["id"]), "event_type": event_type, "occurred_at": from_epoch(event["created"])
    }
    handler = _HANDLERS.get(event_type)
    if handler is None and event_type in SUBSCRIPTION_EVENTS:
        handler = _subscription
    if handler is None:
        return StripeFacts(**base)
    return handler(obj, base, grace) if handler in _GRACE_HANDLERS else handler(obj, base)


def _subscription(sub: Mapping, base: dict, grace: timedelta) -> StripeFacts:
    snapshot, warnings = subscription_snapshot(sub, base["occurred_at"], grace)
    customer = sub.get("customer")
    return StripeFacts(
        **base,
        purchase_key=_id(sub),
        subscription_id=_id(sub),
        snapshot=snapshot,
        claimant=subscription_claimant(sub),
        customer_ref=_id(customer),
        warnings=warnings,
    )


def _checkout_completed(session: Mapping, base: dict, grace: timedelta) -> StripeFacts:
    claimant = _user_id(session.get("client_reference_id"), session)
    customer = _id(session.get("customer"))
    mode = session.get("mode")
    if mode == "subscription":
        subscription = session.get("subscription")
        snapshot, warnings = (
            subscription_snapshot(subscription, base["occurred_at"], grace)
            if isinstance(subscription, Mapping) and subscription.get("status")
            else (None, ())
        )
        return StripeFacts(
            **base,
            purchase_key=_id(subscription),
            subscription_id=_id(subscription),
            snapshot=snapshot,
            claimant=claimant,
            customer_ref=customer,
            checkout_session_id=_id(session),
            warnings=warnings,
        )
    if mode != "payment":
        return StripeFacts(**base, customer_ref=customer)
    # A one-time purchase (e.g. lifetime): keyed by its payment intent, which its charges also name.
    payment_intent = _id(session.get("payment_intent"))
    paid = session.get("payment_status") in ("paid", "no_payment_required")
    if base["event_type"] == "checkout.session.async_payment_succeeded":
        paid = True
    refs = _line_item_refs(session)
    state = State.ACTIVE if paid else State.PENDING
    if base["event_type"] == "checkout.session.async_payment_failed":
        state = State.EXPIRED
    snapshot = Snapshot(
        store_state=state,
        expires_at=None,
        as_of=base["occurred_at"],
        product_id=refs[0] if refs else None,
        product_refs=refs,
        raw_state=session.get("payment_status"),
        environment=_environment(session),
    )
    key = payment_intent or _id(session)
    return StripeFacts(
        **base,
        purchase_key=key,
        snapshot=snapshot,
        claimant=claimant,
        customer_ref=customer,
        payment_refs=tuple(ref for ref in (payment_intent,) if ref),
        checkout_session_id=_id(session),
    )


def line_item_refs(items) -> tuple[str, ...]:
    """Price and product ids of Checkout line items (as the API lists them)."""
    refs: list[str] = []
    for item in items or []:
        price = item.get("price") or {}
        refs += [ref for ref in (_id(price), _id(price.get("product"))) if ref]
    return tuple(dict.fromkeys(refs))


def with_products(facts: StripeFacts, refs: tuple[str, ...]) -> StripeFacts:
    """One-time checkout facts completed with the products the API listed for the session."""
    if facts.snapshot is None or not refs:
        return facts
    return facts._replace(snapshot=replace(facts.snapshot, product_id=refs[0], product_refs=refs))


def _line_item_refs(session: Mapping) -> tuple[str, ...]:
    refs = list(line_item_refs((session.get("line_items") or {}).get("data")))
    metadata = session.get("metadata") or {}
    refs += [metadata[key] for key in ("price_id", "product_id") if isinstance(metadata.get(key), str)]
    return tuple(dict.fromkeys(refs))


def _invoice_subscription(invoice: Mapping) -> tuple[str | None, Mapping]:
    details = ((invoice.get("parent") or {}).get("subscription_details")) or invoice.get("subscription_details") or {}
    return _id(details.get("subscription")) or _id(invoice.get("subscription")), details


def _invoice_payment_refs(invoice: Mapping) -> tuple[str, ...]:
    refs = [_id(invoice), _id(invoice.get("payment_intent")), _id(invoice.get("charge"))]
    for payment in ((invoice.get("payments") or {}).get("data")) or []:
        inner = payment.get("payment") or {}
        refs += [_id(inner.get("payment_intent")), _id(inner.get("charge"))]
    return tuple(dict.fromkeys(ref for ref in refs if ref))


def _invoice_period_end(invoice: Mapping) -> datetime | None:
    periods = [(line.get("period") or {}).get("end") for line in ((invoice.get("lines") or {}).get("data") or [])]
    ends = [end for end in periods if end]
    return from_epoch(max(ends)) if ends else from_epoch(invoice.get("period_end"))


def _invoice_product_refs(invoice: Mapping) -> tuple[str, ...]:
    """Basil: `lines[].pricing.price_details`; older APIs: `lines[].price` (or `plan`)."""
    refs: list[str | None] = []
    for line in (invoice.get("lines") or {}).get("data") or []:
        details = (line.get("pricing") or {}).get("price_details") or {}
        price = line.get("price") or line.get("plan") or {}
        refs += [_id(details.get("price")), _id(details.get("product")), _id(price), _id(price.get("product"))]
    return tuple(dict.fromkeys(ref for ref in refs if ref))


def _invoice_paid(invoice: Mapping, base: dict) -> StripeFacts:
    subscription, details = _invoice_subscription(invoice)
    if subscription is None:
        return StripeFacts(**base, customer_ref=_id(invoice.get("customer")))
    period_end = _invoice_period_end(invoice)
    # A $0 invoice (a trial's) pays for nothing: as `paid_through` it would turn "trialing" into "active"
    # when it arrives before the subscription snapshot of the same second.
    paid = invoice.get("amount_paid") != 0
    return StripeFacts(
        **base,
        purchase_key=subscription,
        subscription_id=subscription,
        paid_through=period_end if paid else None,
        product_refs=_invoice_product_refs(invoice),
        claimant=_user_id(details),
        customer_ref=_id(invoice.get("customer")),
        payment_refs=_invoice_payment_refs(invoice),
        payment_period_end=period_end,
    )


def _invoice_period_start(invoice: Mapping) -> datetime | None:
    periods = [(line.get("period") or {}).get("start") for line in ((invoice.get("lines") or {}).get("data") or [])]
    starts = [start for start in periods if start]
    return from_epoch(max(starts)) if starts else None


def _invoice_failed(invoice: Mapping, base: dict, grace: timedelta) -> StripeFacts:
    subscription, details = _invoice_subscription(invoice)
    if subscription is None:
        return StripeFacts(**base, customer_ref=_id(invoice.get("customer")))
    unpaid_from = _invoice_period_start(invoice)
    return StripeFacts(
        **base,
        purchase_key=subscription,
        subscription_id=subscription,
        payment_failed=True,
        failed_period_start=unpaid_from,
        failed_period_end=_invoice_period_end(invoice),
        grace_ends_at=unpaid_from + grace if unpaid_from is not None else None,
        claimant=_user_id(details),
        customer_ref=_id(invoice.get("customer")),
    )


def _invoice_payment_paid(invoice_payment: Mapping, base: dict) -> StripeFacts:
    """Basil: links a payment intent / charge to its invoice, so later refunds find the purchase."""
    payment = invoice_payment.get("payment") or {}
    refs = tuple(ref for ref in (_id(payment.get("payment_intent")), _id(payment.get("charge"))) if ref)
    invoice = _id(invoice_payment.get("invoice"))
    return StripeFacts(**base, payment_lookup=(invoice,) if invoice else (), payment_refs=refs)


def _charge_lookup(charge: Mapping) -> tuple[str, ...]:
    refs = (_id(charge.get("payment_intent")), _id(charge.get("invoice")), _id(charge))
    return tuple(dict.fromkeys(ref for ref in refs if ref))


def _charge_refunded(charge: Mapping, base: dict) -> StripeFacts:
    fully = bool(charge.get("refunded")) or (
        charge.get("amount") is not None and charge.get("amount_refunded", 0) >= charge["amount"] > 0
    )
    revocation = Revocation(f"refund:{_id(charge)}", None, True, base["occurred_at"]) if fully else None
    return StripeFacts(
        **base,
        payment_lookup=_charge_lookup(charge),
        revocation=revocation,
        customer_ref=_id(charge.get("customer")),
    )


_DISPUTE_REVOKES = {"lost": True, "won": False, "warning_closed": False}


def _dispute(dispute: Mapping, base: dict) -> StripeFacts:
    if base["event_type"] == "charge.dispute.created":
        active = True
    elif base["event_type"] == "charge.dispute.funds_reinstated":
        active = False
    else:
        active = _DISPUTE_REVOKES.get(str(dispute.get("status")), True)
    lookup = tuple(
        dict.fromkeys(ref for ref in (_id(dispute.get("payment_intent")), _id(dispute.get("charge"))) if ref)
    )
    return StripeFacts(
        **base,
        payment_lookup=lookup,
        revocation=Revocation(f"dispute:{_id(dispute)}", None, active, base["occurred_at"]),
    )


def _customer(customer: Mapping, base: dict) -> StripeFacts:
    # Only the Parity user id in metadata links a customer; the email is deliberately ignored.
    return StripeFacts(**base, customer_ref=_id(customer), customer_user=_user_id(customer))


_HANDLERS: dict[str, Callable[..., StripeFacts]] = {
    "checkout.session.completed": _checkout_completed,
    "checkout.session.async_payment_succeeded": _checkout_completed,
    "checkout.session.async_payment_failed": _checkout_completed,
    "invoice.paid": _invoice_paid,
    "invoice.payment_succeeded": _invoice_paid,
    "invoice.payment_failed": _invoice_failed,
    "invoice_payment.paid": _invoice_payment_paid,
    "charge.refunded": _charge_refunded,
    "charge.dispute.created": _dispute,
    "charge.dispute.closed": _dispute,
    "charge.dispute.funds_reinstated": _dispute,
    "customer.created": _customer,
    "customer.updated": _customer,
}
_GRACE_HANDLERS = frozenset({_subscription, _checkout_completed, _invoice_failed})
