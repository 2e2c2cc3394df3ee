"""A decoded DeveloperNotification → what it concerns and what to fetch (pure, never raises)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from ..readers import enum, integer, millis, object_or_empty, text
from .vocabulary import (
    NOTIFICATION_KINDS,
    NOTIFICATION_TYPES,
    ONE_TIME_PRODUCT,
    PRODUCT_TYPE_SUBSCRIPTION,
    PRODUCTS,
    REFUND_TYPES,
    SUBSCRIPTION,
    SUBSCRIPTIONS_V2,
    TEST,
    VOIDED_PRODUCT_TYPES,
    VOIDED_PURCHASE,
)

PURCHASE_KINDS = (SUBSCRIPTION, ONE_TIME_PRODUCT, VOIDED_PURCHASE)


@dataclass(frozen=True)
class PlayNotification:
    """One decoded DeveloperNotification: what it is about, before anything is fetched.

    `kind` is SUBSCRIPTION, ONE_TIME_PRODUCT, VOIDED_PURCHASE, TEST, or the raw field name of a kind
    Parity does not know (e.g. `pendingRefundReviewNotification`), or "" when none is present.
    `notification_type` is Google's raw integer (known or not); `type_name` its name when known.
    """

    kind: str
    notification_type: int | None = None
    type_name: str | None = None
    purchase_token: str | None = None
    product_id: str | None = None  # oneTimeProductNotification.sku (subscriptions: read the resource)
    event_time: datetime | None = None
    package_name: str | None = None
    version: str | None = None
    test: bool = False  # a testNotification sent from the Play Console
    order_id: str | None = None  # voided purchases
    product_type: int | None = None  # voided purchases, raw
    refund_type: int | None = None  # voided purchases, raw
    payload: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)  # the kind's object
    warnings: tuple[str, ...] = ()

    @property
    def concerns_purchase(self) -> bool:
        return self.kind in PURCHASE_KINDS and bool(self.purchase_token)

    @property
    def fetch(self) -> str | None:
        """What the service asks the Play Developer API before normalizing: the state is the resource's.

        A voided subscription is re-fetched too (its resource says which period the order paid); a
        voided one-time product needs nothing more than the notification.
        """
        if not self.concerns_purchase:
            return None
        if self.kind == SUBSCRIPTION or (
            self.kind == VOIDED_PURCHASE and self.product_type == PRODUCT_TYPE_SUBSCRIPTION
        ):
            return SUBSCRIPTIONS_V2
        if self.kind == ONE_TIME_PRODUCT:
            return PRODUCTS
        return None


def parse_notification(notification: Mapping[str, Any]) -> PlayNotification:
    """A decoded DeveloperNotification → what it concerns. Never raises; the unknown is kept raw."""
    warnings: list[str] = []
    body = object_or_empty(notification)
    if body is not notification:
        warnings.append(f"DeveloperNotification is not an object ({type(notification).__name__}): concerns nothing")
    kind, inner = _kind(body, warnings)
    if not kind and body is notification:
        warnings.append("DeveloperNotification without a known notification: concerns nothing")
    event_time = millis(body.get("eventTimeMillis"), "eventTimeMillis", warnings)
    if event_time is None and body:
        warnings.append("DeveloperNotification without eventTimeMillis")
    notification_type = type_name = None
    if kind in NOTIFICATION_TYPES:
        notification_type = notification_type_of(inner.get("notificationType"), kind, warnings)
        type_name = NOTIFICATION_TYPES[kind][1].get(notification_type) if notification_type is not None else None
    token = text(inner.get("purchaseToken"))
    if kind in PURCHASE_KINDS and token is None:
        warnings.append(f"{kind} notification without purchaseToken: concerns no purchase")
    product_id = text(inner.get("sku")) if kind == ONE_TIME_PRODUCT else None
    if kind == ONE_TIME_PRODUCT and product_id is None:
        warnings.append("one-time product notification without sku: the product id must come from elsewhere")
    order_id, product_type, refund_type = voided_order(inner, warnings) if kind == VOIDED_PURCHASE else (None,) * 3
    return PlayNotification(
        kind=kind,
        notification_type=notification_type,
        type_name=type_name,
        purchase_token=token,
        product_id=product_id,
        event_time=event_time,
        package_name=text(body.get("packageName")),
        version=text(body.get("version")),
        test=kind == TEST,
        order_id=order_id,
        product_type=product_type,
        refund_type=refund_type,
        payload=dict(inner),
        warnings=tuple(warnings),
    )


def _kind(body: Mapping[str, Any], warnings: list[str]) -> tuple[str, Mapping[str, Any]]:
    """The notification's kind and its object: a known kind first, else an unknown `...Notification` raw."""
    present = [key for key in NOTIFICATION_KINDS if isinstance(body.get(key), Mapping)]
    if len(present) > 1:
        warnings.append(f"several notification kinds {present}: {present[0]} read")
    if present:
        return NOTIFICATION_KINDS[present[0]], body[present[0]]
    others = sorted(
        key
        for key in body
        if isinstance(key, str) and key.endswith("Notification") and key not in NOTIFICATION_KINDS and body.get(key)
    )
    if others:
        warnings.append(f"unknown notification kind {others[0]!r} kept raw: no state change")
        return others[0], object_or_empty(body.get(others[0]))
    return "", {}


def notification_type_of(value: Any, kind: str, warnings: list[str]) -> int | None:
    """The `notificationType` of a subscription or one-time product notification, known or kept raw."""
    label, names = NOTIFICATION_TYPES[kind]
    code = integer(value, f"{label} notificationType", warnings)
    if code is not None and code not in names:
        warnings.append(f"unknown {label} notificationType {code} kept raw (the fetched resource decides)")
    return code


def voided_order(inner: Mapping[str, Any], warnings: list[str]) -> tuple[str | None, int | None, int | None]:
    """A voided purchase's order id, product type and refund type (the types raw, known or not)."""
    return (
        text(inner.get("orderId")),
        enum(inner.get("productType"), VOIDED_PRODUCT_TYPES, "voided productType", warnings),
        enum(inner.get("refundType"), REFUND_TYPES, "voided refundType", warnings),
    )
