"""A verified App Store Server Notification V2 → `AppleFacts` (pure; docs/stores/app_store.md)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from ..purchases import EPOCH
from ..readers import enum, first_object, millis, text_or_number
from ..timeutil import to_epoch_ms
from .facts import AppleFacts, Event, environment, purchase_facts
from .verified import VerifiedNotification
from .vocabulary import (
    NO_PURCHASE_TYPES,
    NOTIFICATION_SUBTYPES,
    SNAPSHOT_TYPES,
    SUBSCRIPTION_STATUSES,
    TRANSACTION_TYPES,
)


def normalize(notification: VerifiedNotification | Mapping[str, Any]) -> AppleFacts:
    """A verified notification → facts. Never raises on unknown or malformed values: they are warnings.

    Accepts a `VerifiedNotification` or its document form (`to_document`).
    """
    if not isinstance(notification, VerifiedNotification):
        notification = VerifiedNotification.from_document(notification)
    payload = notification.payload if isinstance(notification.payload, Mapping) else {}
    tx = notification.transaction if isinstance(notification.transaction, Mapping) else None
    renewal = notification.renewal if isinstance(notification.renewal, Mapping) else None
    warnings: list[str] = []
    body = first_object(payload, "data", "summary", "appData", "externalPurchaseToken")
    event = _event(payload, body, tx, renewal, warnings)
    status = enum(body.get("status"), SUBSCRIPTION_STATUSES, "status", warnings)
    event_type = event.event_type
    if event_type in NO_PURCHASE_TYPES or (tx is None and renewal is None):
        if event_type not in NO_PURCHASE_TYPES and event_type != "RENEWAL_EXTENSION" and event_type:
            warnings.append(f"{event_type} without a signed transaction concerns no purchase")
        return AppleFacts(**event._asdict(), subscription_status=status, warnings=tuple(warnings))
    if event_type in SNAPSHOT_TYPES:
        scope = "purchase"
    elif event_type in TRANSACTION_TYPES:
        scope = "transaction"
    else:
        scope = "unknown"
    facts = purchase_facts(event, tx, renewal, status, scope, warnings)
    reason = text_or_number(body.get("consumptionRequestReason"))
    return facts._replace(consumption_request_reason=reason) if reason else facts


def _event(
    payload: Mapping[str, Any],
    body: Mapping[str, Any],
    tx: Mapping | None,
    renewal: Mapping | None,
    warnings: list[str],
) -> Event:
    """The notification's type, id, signing time, environment and bundle: what each of its facts shares."""
    event_type = text_or_number(payload.get("notificationType")) or ""
    subtype = text_or_number(payload.get("subtype"))
    if event_type not in NOTIFICATION_SUBTYPES:
        warnings.append(f"unknown notificationType {event_type!r} (subtype {subtype!r}) kept raw; no state change")
    elif subtype not in NOTIFICATION_SUBTYPES[event_type]:
        warnings.append(f"unknown subtype {subtype!r} of {event_type} kept raw")
    signed = _signed_date(payload, tx, renewal, warnings)
    event_id = text_or_number(payload.get("notificationUUID"))
    if event_id is None:
        warnings.append("notification without notificationUUID")
        event_id = f"apple:{event_type}:{to_epoch_ms(signed)}:{text_or_number((tx or {}).get('transactionId'))}"
    return Event(
        event_id=event_id,
        event_type=event_type,
        subtype=subtype,
        occurred_at=signed,
        environment=environment(
            body.get("environment"),
            (tx or {}).get("environment"),
            (renewal or {}).get("environment"),
            warnings=warnings,
        ),
        bundle_id=text_or_number(body.get("bundleId")) or text_or_number((tx or {}).get("bundleId")),
    )


def _signed_date(
    payload: Mapping[str, Any], tx: Mapping | None, renewal: Mapping | None, warnings: list[str]
) -> datetime:
    """The notification's signedDate, which orders it; without one, its signed data's latest."""
    signed = millis(payload.get("signedDate"), "signedDate", warnings)
    if signed is not None:
        return signed
    fallback = [millis(s.get("signedDate"), "signedDate", []) for s in (tx, renewal) if s is not None]
    latest = max((moment for moment in fallback if moment is not None), default=None)
    if latest is None:
        warnings.append("notification without signedDate: ordered before everything")
        return EPOCH
    warnings.append("notification without signedDate: ordered by its signed transaction or renewal info")
    return latest
