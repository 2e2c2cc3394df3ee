"""A voided purchase (refund or chargeback) → `GoogleFacts` with its revocation (pure).

What a void revokes, and when: docs/stores/play_store.md, "Revocations".
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, NamedTuple

from ..model import Revocation
from ..readers import enum, integer, mapping, millis, text, timestamp
from .facts import GoogleFacts
from .notification import voided_order
from .products import product_facts
from .subscriptions import subscription_facts
from .vocabulary import (
    ONE_TIME_PRODUCT,
    PRODUCT_TYPE_ONE_TIME,
    PRODUCT_TYPE_SUBSCRIPTION,
    REFUND_TYPE_FULL,
    REFUND_TYPE_PARTIAL,
    REFUND_TYPES,
    SUBSCRIPTION,
    VOIDED_PRODUCT_TYPES,
    VOIDED_PURCHASE,
    VOIDED_REASONS,
    VOIDED_SOURCES,
)


class Void(NamedTuple):
    """What a voidedPurchaseNotification (or a voidedpurchases.list item) says, raw."""

    purchase_token: str | None
    event_time: datetime | None
    order_id: str | None
    product_type: int | None
    refund_type: int | None
    voided_quantity: int | None
    voided_reason: int | None
    voided_source: int | None


def voided_facts(
    notification: Mapping[str, Any],
    as_of: datetime,
    event_id: str,
    resource: Mapping[str, Any] | None = None,
    fetched_at: datetime | None = None,
    period_end: datetime | None = None,
) -> GoogleFacts:
    """A refund or chargeback → a revocation of the purchase, keyed `voided:<orderId>` (idempotent).

    `notification`: a DeveloperNotification carrying `voidedPurchaseNotification`, that object alone,
    or a `purchases.voidedpurchases.list` item (`voidedTimeMillis`, `voidedQuantity`, no productType).
    `as_of`: the notification's eventTimeMillis (a list item: its voidedTimeMillis). `resource`: the
    purchase re-fetched (a subscription's tells which period the order paid; a one-time product's
    `refundableQuantity` tells a list item's partial refund from a full one); with `fetched_at`, its
    snapshot is carried too. `period_end`: the period the order paid for, when the service knows it.
    """
    warnings: list[str] = []
    void = _read_void(notification, warnings)
    res = resource if isinstance(resource, Mapping) else None
    if resource is not None and res is None:
        warnings.append("the re-fetched purchase is not an object: ignored")
    resource_kind = None
    if res is not None:
        resource_kind = SUBSCRIPTION if ("subscriptionState" in res or "lineItems" in res) else ONE_TIME_PRODUCT
    void = void._replace(product_type=_product_type(void.product_type, resource_kind, warnings))

    base: GoogleFacts | None = None
    if res is not None and fetched_at is not None and void.purchase_token is not None:
        if resource_kind == SUBSCRIPTION:
            base = subscription_facts(void.purchase_token, res, fetched_at, event_id, event_time=void.event_time)
        else:
            base = product_facts(void.purchase_token, None, res, fetched_at, event_id, event_time=void.event_time)
        warnings = [*base.warnings, *warnings]
    if void.refund_type is None:
        partial = void.voided_quantity is not None
        if partial and res is not None and resource_kind == ONE_TIME_PRODUCT:
            # Nothing left to refund: the whole purchase is refunded (the last units of a partial series).
            partial = product_facts(void.purchase_token or "", None, res, as_of, event_id).refundable_quantity != 0
        void = void._replace(refund_type=REFUND_TYPE_PARTIAL if partial else REFUND_TYPE_FULL)

    revoked_at = fetched_at if (res is not None and fetched_at is not None) else as_of
    token = void.purchase_token
    facts = base or GoogleFacts(event_id=event_id, kind=VOIDED_PURCHASE, occurred_at=as_of, purchase_token=token)
    return facts._replace(
        kind=VOIDED_PURCHASE,
        occurred_at=as_of,
        event_time=void.event_time,
        notification_type=None,
        revocation=_revocation(void, res, period_end, as_of, revoked_at, warnings),
        needs_acknowledgement=False,
        order_id=void.order_id or facts.order_id,
        product_type=void.product_type,
        refund_type=void.refund_type,
        voided_quantity=void.voided_quantity,
        voided_reason=void.voided_reason,
        voided_source=void.voided_source,
        warnings=tuple(warnings),
    )


def _read_void(notification: Mapping[str, Any], warnings: list[str]) -> Void:
    body = mapping(notification, "voided purchase", warnings)
    if isinstance(body.get("voidedPurchaseNotification"), Mapping):
        inner = body["voidedPurchaseNotification"]
        event_time = millis(body.get("eventTimeMillis"), "eventTimeMillis", warnings)
    else:
        inner = body
        event_time = millis(inner.get("voidedTimeMillis"), "voidedTimeMillis", warnings)
    token = text(inner.get("purchaseToken"))
    if token is None:
        warnings.append("voided purchase without purchaseToken: concerns no purchase")
    order_id, product_type, refund_type = voided_order(inner, warnings)
    return Void(
        purchase_token=token,
        event_time=event_time,
        order_id=order_id,
        product_type=product_type,
        refund_type=refund_type,
        voided_quantity=integer(inner.get("voidedQuantity"), "voidedQuantity", warnings),
        voided_reason=enum(inner.get("voidedReason"), VOIDED_REASONS, "voidedReason", warnings),
        voided_source=enum(inner.get("voidedSource"), VOIDED_SOURCES, "voidedSource", warnings),
    )


def _product_type(product_type: int | None, resource_kind: str | None, warnings: list[str]) -> int | None:
    """The void's product type; a list item states none, and the re-fetched purchase then tells it."""
    if resource_kind is None:
        return product_type
    if product_type is None:
        return PRODUCT_TYPE_SUBSCRIPTION if resource_kind == SUBSCRIPTION else PRODUCT_TYPE_ONE_TIME
    expected = SUBSCRIPTION if product_type == PRODUCT_TYPE_SUBSCRIPTION else ONE_TIME_PRODUCT
    if product_type in VOIDED_PRODUCT_TYPES and expected != resource_kind:
        warnings.append(f"productType {product_type} but the re-fetched purchase is a {resource_kind}")
    return product_type


def _revocation(
    void: Void,
    res: Mapping[str, Any] | None,
    period_end: datetime | None,
    as_of: datetime,
    revoked_at: datetime,
    warnings: list[str],
) -> Revocation | None:
    """A full refund revokes the period the order paid for; a partial one revokes nothing."""
    if void.purchase_token is None:
        return None
    if void.refund_type == REFUND_TYPE_PARTIAL:
        return None  # the buyer keeps the units not refunded; the last ones come as a full refund
    if void.refund_type not in REFUND_TYPES:
        warnings.append(f"unknown refundType {void.refund_type}: not revoked (full refunds revoke)")
        return None
    covers = period_end
    if covers is None and void.product_type == PRODUCT_TYPE_SUBSCRIPTION:
        if res is not None:
            covers = _voided_period(void.order_id, res, as_of, warnings)
        else:
            warnings.append("voided subscription without its resource or period: its period is unknown")
    elif covers is None and void.product_type not in VOIDED_PRODUCT_TYPES:
        warnings.append("voided purchase of unknown product type: revokes its current period")
    return Revocation(f"voided:{void.order_id or void.purchase_token}", covers, True, revoked_at)


def _voided_period(order_id: str | None, res: Mapping, voided_at: datetime, warnings: list[str]) -> datetime | None:
    """The end of the period a voided subscription order paid for, as far as the resource tells."""
    items = [item for item in res.get("lineItems") or [] if isinstance(item, Mapping)]
    expiries = [timestamp(item.get("expiryTime"), "lineItems[].expiryTime", []) for item in items]
    current = max((moment for moment in expiries if moment is not None), default=None)
    latest = [text(item.get("latestSuccessfulOrderId")) for item in items]
    if order_id is not None:
        for order, expiry in zip(latest, expiries, strict=True):
            if order == order_id and expiry is not None:
                return expiry  # the order paid for this item's current period
        if text(res.get("latestOrderId")) == order_id:
            return current
        if any(latest) or text(res.get("latestOrderId")):
            return voided_at  # an older renewal: its period was over before the current one began
    warnings.append("voided subscription order not found in the resource: revokes its current period")
    return current
