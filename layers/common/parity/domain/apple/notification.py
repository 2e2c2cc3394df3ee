"""A verified App Store Server Notification V2 → `AppleFacts` (pure; docs/stores/app_store.md)."""

from __future__ import annotations

import base64
from collections.abc import Mapping
from datetime import datetime
from typing import Any, NamedTuple

from .. import limits
from ..purchases import EPOCH
from ..readers import enum, first_object, millis, text_or_number
from ..timeutil import to_epoch_ms
from .facts import AppleFacts, Event, environment, purchase_facts
from .vocabulary import (
    NO_PURCHASE_TYPES,
    NOTIFICATION_SUBTYPES,
    SNAPSHOT_TYPES,
    SUBSCRIPTION_STATUSES,
    TRANSACTION_TYPES,
)


class VerifiedNotification(NamedTuple):
    """One App Store Server Notification V2, verified and decoded.

    `payload` is the decoded `responseBodyV2DecodedPayload` (`notificationType`, `subtype`,
    `notificationUUID`, `signedDate`, `version`, and `data`, `summary`, `externalPurchaseToken` or
    `appData`); the `signed*` strings left inside `data` are not read. `transaction` and `renewal` are
    the decoded `JWSTransactionDecodedPayload` and `JWSRenewalInfoDecodedPayload` of
    `data.signedTransactionInfo` and `data.signedRenewalInfo`, each verified like the payload.
    """

    payload: Mapping[str, Any]
    transaction: Mapping[str, Any] | None = None
    renewal: Mapping[str, Any] | None = None
    app_transaction: Mapping[str, Any] | None = None

    @property
    def notification_type(self) -> str | None:
        return self.payload.get("notificationType")

    @property
    def subtype(self) -> str | None:
        return self.payload.get("subtype")

    @property
    def notification_uuid(self) -> str | None:
        return self.payload.get("notificationUUID")

    @classmethod
    def from_document(cls, document: Mapping[str, Any]) -> VerifiedNotification:
        """`{"notification": {...}, "transaction": {...} | null, "renewal": {...} | null}` (the stored form)."""
        return cls(
            document.get("notification") or {},
            document.get("transaction"),
            document.get("renewal"),
            document.get("app_transaction"),
        )

    @classmethod
    def from_verified_body(cls, body: bytes) -> VerifiedNotification:
        """A webhook body `{"signedPayload": ...}` that was verified when it was stored, decoded again.

        Only for bodies read back from the event log, which holds verified events only: the signatures
        are not checked here (that is `parity.webhooks.apple.SignedDataVerifier`'s job, at the door).
        """
        payload = _jws_payload(limits.loads(body)["signedPayload"])
        data = found if isinstance(found := payload.get("data"), Mapping) else {}
        app_data = found if isinstance(found := payload.get("appData"), Mapping) else {}
        return cls(
            payload,
            _jws_payload(data["signedTransactionInfo"]) if data.get("signedTransactionInfo") else None,
            _jws_payload(data["signedRenewalInfo"]) if data.get("signedRenewalInfo") else None,
            _jws_payload(app_data["signedAppTransactionInfo"]) if app_data.get("signedAppTransactionInfo") else None,
        )

    def to_document(self) -> dict[str, Any]:
        return {
            "notification": dict(self.payload),
            "transaction": dict(self.transaction) if self.transaction is not None else None,
            "renewal": dict(self.renewal) if self.renewal is not None else None,
            "app_transaction": dict(self.app_transaction) if self.app_transaction is not None else None,
        }


def _jws_payload(jws: str) -> dict[str, Any]:
    """The decoded payload (middle segment) of a compact JWS; no signature check."""
    segment = jws.split(".")[1]
    return limits.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))


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
