"""App Store test payloads: decoded notifications, transactions and renewal info, shaped like Apple's.

These are what the webhook hands the normalizer once every JWS is verified: the decoded
`responseBodyV2DecodedPayload` and the decoded `JWSTransactionDecodedPayload` /
`JWSRenewalInfoDecodedPayload` of its `data.signedTransactionInfo` / `data.signedRenewalInfo`.
Field names and enum values follow Apple's App Store Server API / Notifications V2 documentation.
Signing them is the verification tests' business, not this module's.

Times are UNIX milliseconds, as Apple sends them; `at(days)` is `T0` plus that many days.
"""

from __future__ import annotations

import itertools
import uuid
from datetime import datetime, timedelta
from typing import Any

from parity.domain.apple import VerifiedNotification
from parity.domain.timeutil import from_epoch_ms
from tests.support.domain import T0

BUNDLE_ID = "com.example.parity"
APP_APPLE_ID = 1234567890
MONTHLY = "com.example.pro.monthly"
YEARLY = "com.example.pro.yearly"
LIFETIME = "com.example.pro.lifetime"
COINS = "com.example.coins.100"
SEASON_PASS = "com.example.season.pass"
TOKEN = "6f1c0c3e-3b7e-4e5b-9a57-7f8a2f0c1d11"
ORIGINAL = "2000000000000001"

DAY_MS = 86_400_000
HOUR_MS = 3_600_000

AUTO_RENEWABLE = "Auto-Renewable Subscription"
NON_CONSUMABLE = "Non-Consumable"
CONSUMABLE = "Consumable"
NON_RENEWING = "Non-Renewing Subscription"

_unset: Any = object()
_uuids = itertools.count(1)


def ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def at(days: float) -> int:
    """`T0` plus `days`, in UNIX milliseconds."""
    return ms(T0 + timedelta(days=days))


def moment(millis: int) -> datetime:
    """Milliseconds back to the aware datetime the domain uses."""
    return from_epoch_ms(millis)


def transaction(
    transaction_id: str = "2000000000000002",
    *,
    original_transaction_id: str = ORIGINAL,
    product_id: str = MONTHLY,
    product_type: str = AUTO_RENEWABLE,
    purchase: int | None = None,
    expires: int | None = _unset,
    signed: int | None = None,
    token: str | None = TOKEN,
    ownership: str = "PURCHASED",
    environment: str = "Sandbox",
    offer_type: int | None = None,
    offer_discount_type: str | None = None,
    price: int = 9990,
    revoked: int | None = None,
    revocation_reason: int | None = None,
    reason: str | None = None,
    **extra: Any,
) -> dict:
    """A decoded signed transaction. An auto-renewable one runs 30 days from its purchase unless told.

    `revoked`: the revocationDate (a refund or a family-sharing revocation).
    """
    bought = at(0) if purchase is None else purchase
    if expires is _unset:
        expires = bought + 30 * DAY_MS if product_type == AUTO_RENEWABLE else None
    body: dict[str, Any] = {
        "transactionId": transaction_id,
        "originalTransactionId": original_transaction_id,
        "webOrderLineItemId": f"{transaction_id}-line" if product_type == AUTO_RENEWABLE else None,
        "bundleId": BUNDLE_ID,
        "productId": product_id,
        "subscriptionGroupIdentifier": "21000001" if product_type == AUTO_RENEWABLE else None,
        "purchaseDate": bought,
        "originalPurchaseDate": bought,
        "expiresDate": expires,
        "quantity": 1,
        "type": product_type,
        "appAccountToken": token,
        "inAppOwnershipType": ownership,
        "signedDate": bought if signed is None else signed,
        "environment": environment,
        "transactionReason": reason or "PURCHASE",
        "storefront": "USA",
        "storefrontId": "143441",
        "price": price,
        "currency": "USD",
        "appTransactionId": "704341234567890123",
    }
    if offer_type is not None:
        body["offerType"] = offer_type
        body["offerIdentifier"] = "intro.trial" if offer_type == 1 else "promo.1"
    if offer_discount_type is not None:
        body["offerDiscountType"] = offer_discount_type
        body["offerPeriod"] = "P1W"
    if revoked is not None:
        body["revocationDate"] = revoked
        body["revocationReason"] = 0 if revocation_reason is None else revocation_reason
    body.update(extra)
    return {key: value for key, value in body.items() if value is not None}


def free_trial(transaction_id: str = "2000000000000002", *, purchase: int | None = None, **fields: Any) -> dict:
    """The first transaction of a subscription started with a one-week free-trial introductory offer."""
    bought = at(0) if purchase is None else purchase
    fields.setdefault("expires", bought + 7 * DAY_MS)
    return transaction(
        transaction_id, purchase=bought, offer_type=1, offer_discount_type="FREE_TRIAL", price=0, **fields
    )


def renewal(
    *,
    original_transaction_id: str = ORIGINAL,
    product_id: str = MONTHLY,
    auto_renew_product_id: str | None = None,
    auto_renew: int | None = 1,
    retrying: bool = False,
    grace_expires: int | None = None,
    expiration_intent: int | None = None,
    signed: int | None = None,
    renewal_date: int | None = None,
    environment: str = "Sandbox",
    **extra: Any,
) -> dict:
    """Decoded renewal info: auto-renew on, not in billing retry, no grace, unless told."""
    body: dict[str, Any] = {
        "originalTransactionId": original_transaction_id,
        "productId": product_id,
        "autoRenewProductId": auto_renew_product_id or product_id,
        "autoRenewStatus": auto_renew,
        "isInBillingRetryPeriod": retrying,
        "gracePeriodExpiresDate": grace_expires,
        "expirationIntent": expiration_intent,
        "signedDate": at(0) if signed is None else signed,
        "environment": environment,
        "recentSubscriptionStartDate": at(0),
        "renewalDate": renewal_date,
        "renewalPrice": 9990,
        "currency": "USD",
        "appTransactionId": "704341234567890123",
    }
    body.update(extra)
    return {key: value for key, value in body.items() if value is not None}


def notification(
    notification_type: str,
    subtype: str | None = None,
    *,
    transaction: dict | None = None,  # the decoded transaction (shadows the builder on purpose)
    renewal: dict | None = None,
    signed: int | None = None,
    notification_uuid: str | None = None,
    environment: str = "Sandbox",
    status: int | None = None,
    **data_extra: Any,
) -> VerifiedNotification:
    """A verified V2 notification whose `data` carries the given decoded transaction and renewal info.

    `signed` defaults to the transaction's signedDate; `status` is `data.status`.
    """
    when = signed if signed is not None else (transaction or {}).get("signedDate", at(0))
    data: dict[str, Any] = {
        "appAppleId": APP_APPLE_ID,
        "bundleId": BUNDLE_ID,
        "bundleVersion": "1.0",
        "environment": environment,
    }
    if transaction is not None:
        data["signedTransactionInfo"] = "<verified JWS: see `transaction`>"
    if renewal is not None:
        data["signedRenewalInfo"] = "<verified JWS: see `renewal`>"
    if status is not None:
        data["status"] = status
    data.update(data_extra)
    payload: dict[str, Any] = {
        "notificationType": notification_type,
        "notificationUUID": notification_uuid or str(uuid.UUID(int=next(_uuids))),
        "data": data,
        "version": "2.0",
        "signedDate": when,
    }
    if subtype is not None:
        payload["subtype"] = subtype
    return VerifiedNotification(payload, transaction, renewal)


def summary_notification(signed: int | None = None) -> VerifiedNotification:
    """RENEWAL_EXTENSION/SUMMARY: the outcome of a mass renewal-date extension, no transaction."""
    payload = {
        "notificationType": "RENEWAL_EXTENSION",
        "subtype": "SUMMARY",
        "notificationUUID": str(uuid.UUID(int=next(_uuids))),
        "version": "2.0",
        "signedDate": at(0) if signed is None else signed,
        "summary": {
            "environment": "Sandbox",
            "appAppleId": APP_APPLE_ID,
            "bundleId": BUNDLE_ID,
            "productId": MONTHLY,
            "requestIdentifier": "efb27071-45a4-4aca-9854-2a1e9146f265",
            "storefrontCountryCodes": ["USA", "CAN"],
            "succeededCount": 5,
            "failedCount": 2,
        },
    }
    return VerifiedNotification(payload)


def external_purchase_token_notification(subtype: str = "UNREPORTED") -> VerifiedNotification:
    payload = {
        "notificationType": "EXTERNAL_PURCHASE_TOKEN",
        "subtype": subtype,
        "notificationUUID": str(uuid.UUID(int=next(_uuids))),
        "version": "2.0",
        "signedDate": at(0),
        "externalPurchaseToken": {
            "externalPurchaseId": "b2158121-7af9-49d4-9561-1f588205523e",
            "tokenCreationDate": at(0),
            "appAppleId": APP_APPLE_ID,
            "bundleId": BUNDLE_ID,
        },
    }
    return VerifiedNotification(payload)


def rescind_consent_notification() -> VerifiedNotification:
    """RESCIND_CONSENT: a parent withdrew consent; it carries `appData`, no In-App Purchase."""
    payload = {
        "notificationType": "RESCIND_CONSENT",
        "notificationUUID": str(uuid.UUID(int=next(_uuids))),
        "version": "2.0",
        "signedDate": at(0),
        "appData": {
            "appAppleId": APP_APPLE_ID,
            "bundleId": BUNDLE_ID,
            "environment": "Sandbox",
            "signedAppTransactionInfo": "<verified JWS>",
        },
    }
    return VerifiedNotification(payload)


def test_notification() -> VerifiedNotification:
    """TEST: what Request a Test Notification sends (data without signed transaction or renewal info)."""
    return notification("TEST", signed=at(0))


test_notification.__test__ = False  # a builder, not a pytest test
