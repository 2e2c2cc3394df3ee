"""A verified App Store Server Notification V2, decoded: what the webhook's verifier produces and the
event log keeps (the normalizer, `notification.normalize`, turns it into facts). Apart from the
normalizer so that the webhook loads neither the facts nor the purchase model."""

from __future__ import annotations

import base64
from collections.abc import Mapping
from typing import Any, NamedTuple

from .. import limits


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
