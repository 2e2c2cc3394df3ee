"""Google Play test payloads, shaped like Google's: DeveloperNotifications (as decoded from a Pub/Sub push),
Play Developer API resources (SubscriptionPurchaseV2, ProductPurchase / ProductPurchaseV2) and
voidedpurchases.list items.

Field names and enum values follow the androidpublisher v3 discovery document shipped with
google-api-python-client and the Real-time developer notifications reference. Times in resources are
RFC 3339 strings with milliseconds (`2026-01-01T00:00:00.000Z`), `eventTimeMillis` and the `...Millis`
fields are int64 strings, as Google sends them. `at(days)` is `T0` plus that many days.
"""

from __future__ import annotations

import base64
import itertools
import json
from datetime import datetime, timedelta, timezone
from typing import Any

from tests.support.domain import T0

PACKAGE = "com.example.parity"
MONTHLY = "pro_monthly"
YEARLY = "pro_yearly"
STORAGE_ADDON = "storage_addon"
LIFETIME = "pro_lifetime"
COINS = "coins_100"
TOKEN = "6f1c0c3e-3b7e-4e5b-9a57-7f8a2f0c1d11"  # the user's appAccountToken, passed as obfuscatedAccountId
PROFILE = "profile-7"
PURCHASE_TOKEN = "opaque-token-sub-1.AO-J1Oy2"
PRODUCT_TOKEN = "opaque-token-inapp-1.AO-J1Oz9"
ORDER = "GPA.3345-1234-5678-90123"

DAY = timedelta(days=1)
HOUR = timedelta(hours=1)
_unset: Any = object()
_message_ids = itertools.count(136969346945)


def at(days: float) -> datetime:
    """`T0` plus `days`."""
    return T0 + timedelta(days=days)


def rfc3339(moment: datetime) -> str:
    """Google's Timestamp JSON: UTC, milliseconds, `Z`."""
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def millis(moment: datetime) -> str:
    """An int64 as Google sends it in JSON: a string."""
    return str(int(moment.timestamp() * 1000))


def renewal_order(index: int | None, order: str = ORDER) -> str:
    """The first order is `GPA.x`; the renewals are `GPA.x..0`, `GPA.x..1`, ..."""
    return order if index is None else f"{order}..{index}"


# --------------------------------------------------------------------------- SubscriptionPurchaseV2


def line_item(
    product_id: str = MONTHLY,
    *,
    expiry: datetime | None = _unset,
    auto_renew: bool | None = True,
    prepaid: bool = False,
    phase: str | None = "basePrice",
    base_plan: str = "monthly",
    offer_id: str | None = None,
    order_id: str | None = ORDER,
    **extra: Any,
) -> dict:
    """One `lineItems[]` entry: auto-renewing, in its base-price phase, expiring at day 30 unless told.

    `phase`: the `offerPhase` field set (`freeTrial`, `introductoryPrice`, `basePrice`,
    `prorationPeriod`), None for an older resource without `offerPhase`.
    """
    item: dict[str, Any] = {
        "productId": product_id,
        "expiryTime": rfc3339(at(30) if expiry is _unset else expiry) if expiry is not None else None,
        "offerDetails": {"basePlanId": base_plan, "offerTags": ["intro"] if offer_id else []},
        "latestSuccessfulOrderId": order_id,
    }
    if offer_id:
        item["offerDetails"]["offerId"] = offer_id
    if prepaid:
        item["prepaidPlan"] = {"allowExtendAfterTime": rfc3339(at(27))}
    elif auto_renew is not None:
        item["autoRenewingPlan"] = {
            "autoRenewEnabled": auto_renew,
            "recurringPrice": {"currencyCode": "USD", "units": "9", "nanos": 990000000},
        }
    if phase is not None:
        item["offerPhase"] = {phase: {}}
    item.update(extra)
    return {key: value for key, value in item.items() if value is not None}


def subscription(
    state: str = "SUBSCRIPTION_STATE_ACTIVE",
    *,
    line_items: list[dict] | None = None,
    expiry: datetime | None = _unset,
    product_id: str = MONTHLY,
    auto_renew: bool | None = _unset,
    phase: str | None = "basePrice",
    order_id: str | None = ORDER,
    test: bool = False,
    account: str | None = TOKEN,
    profile: str | None = None,
    linked: str | None = None,
    ack: str | None = "ACKNOWLEDGEMENT_STATE_ACKNOWLEDGED",
    start: datetime | None = _unset,
    canceled: str | None = None,
    resume_at: datetime | None = None,
    **extra: Any,
) -> dict:
    """A SubscriptionPurchaseV2 as `purchases.subscriptionsv2.get` answers it.

    One monthly line item (expiring at day 30) unless `line_items` says otherwise. `auto_renew`
    defaults to on, off once CANCELED or EXPIRED. `canceled`: the canceledStateContext kind
    (`user`, `system`, `developer`, `replacement`). `resume_at`: the pausedStateContext.
    """
    if auto_renew is _unset:
        auto_renew = state not in (
            "SUBSCRIPTION_STATE_CANCELED",
            "SUBSCRIPTION_STATE_EXPIRED",
            "SUBSCRIPTION_STATE_PENDING_PURCHASE_CANCELED",
        )
    if line_items is None:
        line_items = [line_item(product_id, expiry=expiry, auto_renew=auto_renew, phase=phase, order_id=order_id)]
    body: dict[str, Any] = {
        "kind": "androidpublisher#subscriptionPurchaseV2",
        "regionCode": "US",
        "lineItems": line_items,
        "startTime": rfc3339(at(0) if start is _unset else start) if start is not None else None,
        "subscriptionState": state,
        "acknowledgementState": ack,
        "etag": "etag-1",
    }
    if state == "SUBSCRIPTION_STATE_PENDING":
        body.pop("startTime")  # not set for pending subscriptions
    if account is not None or profile is not None:
        body["externalAccountIdentifiers"] = {
            key: value
            for key, value in (("obfuscatedExternalAccountId", account), ("obfuscatedExternalProfileId", profile))
            if value is not None
        }
    if linked is not None:
        body["linkedPurchaseToken"] = linked
    if test:
        body["testPurchase"] = {}
    if canceled is not None:
        context = {
            "user": "userInitiatedCancellation",
            "system": "systemInitiatedCancellation",
            "developer": "developerInitiatedCancellation",
            "replacement": "replacementCancellation",
        }[canceled]
        detail: dict[str, Any] = {}
        if canceled == "user":
            detail = {
                "cancelSurveyResult": {"reason": "CANCEL_SURVEY_REASON_NOT_ENOUGH_USAGE"},
                "cancelTime": rfc3339(at(10)),
            }
        body["canceledStateContext"] = {context: detail}
    if resume_at is not None:
        body["pausedStateContext"] = {"autoResumeTime": rfc3339(resume_at)}
    body.update(extra)
    return {key: value for key, value in body.items() if value is not None}


# --------------------------------------------------------------------------- ProductPurchase


def product_purchase(
    state: int | None = 0,
    *,
    ack: int | None = 1,
    consumed: int | None = 0,
    account: str | None = TOKEN,
    purchase_type: int | None = None,
    order_id: str | None = "GPA.3399-0000-1111-22222",
    purchased: datetime = _unset,
    product_id: str | None = None,
    quantity: int | None = None,
    refundable: int | None = None,
    **extra: Any,
) -> dict:
    """A ProductPurchase as `purchases.products.get` answers it: purchased (0), acknowledged, not consumed.

    `purchase_type`: 0 test (license tester), 1 promo, 2 rewarded; absent for a normal purchase.
    """
    body: dict[str, Any] = {
        "kind": "androidpublisher#productPurchase",
        "purchaseTimeMillis": millis(at(0) if purchased is _unset else purchased),
        "purchaseState": state,
        "consumptionState": consumed,
        "developerPayload": "",
        "orderId": order_id,
        "acknowledgementState": ack,
        "purchaseType": purchase_type,
        "obfuscatedExternalAccountId": account,
        "regionCode": "US",
        "productId": product_id,
        "quantity": quantity,
        "refundableQuantity": refundable,
    }
    body.update(extra)
    return {key: value for key, value in body.items() if value is not None}


def product_purchase_v2(
    state: str = "PURCHASED",
    *,
    ack: str = "ACKNOWLEDGEMENT_STATE_ACKNOWLEDGED",
    product_id: str = LIFETIME,
    test: bool = False,
    account: str | None = TOKEN,
    quantity: int = 1,
    refundable: int | None = None,
    consumption: str = "CONSUMPTION_STATE_YET_TO_BE_CONSUMED",
) -> dict:
    """A ProductPurchaseV2 as `purchases.productsv2.getproductpurchasev2` answers it."""
    offer: dict[str, Any] = {"purchaseOptionId": "buy", "quantity": quantity, "consumptionState": consumption}
    if refundable is not None:
        offer["refundableQuantity"] = refundable
    body: dict[str, Any] = {
        "kind": "androidpublisher#productPurchaseV2",
        "purchaseStateContext": {"purchaseState": state},
        "acknowledgementState": ack,
        "orderId": "GPA.3399-0000-1111-22222",
        "productLineItem": [{"productId": product_id, "productOfferDetails": offer}],
        "purchaseCompletionTime": rfc3339(at(0)),
        "regionCode": "US",
    }
    if account is not None:
        body["obfuscatedExternalAccountId"] = account
    if test:
        body["testPurchaseContext"] = {"fopType": "TEST"}
    return body


# --------------------------------------------------------------------------- notifications


def developer_notification(event_time: datetime, **kind: Any) -> dict:
    """A decoded DeveloperNotification with one `...Notification` field."""
    return {"version": "1.0", "packageName": PACKAGE, "eventTimeMillis": millis(event_time), **kind}


def subscription_notification(
    notification_type: int, token: str = PURCHASE_TOKEN, event_time: datetime | None = None, **extra: Any
) -> dict:
    inner = {"version": "1.0", "notificationType": notification_type, "purchaseToken": token, **extra}
    return developer_notification(at(0) if event_time is None else event_time, subscriptionNotification=inner)


def one_time_notification(
    notification_type: int = 1,
    token: str = PRODUCT_TOKEN,
    sku: str | None = LIFETIME,
    event_time: datetime | None = None,
) -> dict:
    inner = {"version": "1.0", "notificationType": notification_type, "purchaseToken": token}
    if sku is not None:
        inner["sku"] = sku
    return developer_notification(at(0) if event_time is None else event_time, oneTimeProductNotification=inner)


def voided_notification(
    token: str = PURCHASE_TOKEN,
    order_id: str | None = ORDER,
    product_type: int = 1,
    refund_type: int | None = 1,
    event_time: datetime | None = None,
) -> dict:
    inner: dict[str, Any] = {"purchaseToken": token, "productType": product_type}
    if order_id is not None:
        inner["orderId"] = order_id
    if refund_type is not None:
        inner["refundType"] = refund_type
    return developer_notification(at(0) if event_time is None else event_time, voidedPurchaseNotification=inner)


def test_notification(event_time: datetime | None = None) -> dict:
    return developer_notification(at(0) if event_time is None else event_time, testNotification={"version": "1.0"})


test_notification.__test__ = False  # a builder, not a pytest test


def voided_list_item(
    token: str = PRODUCT_TOKEN,
    order_id: str = "GPA.3399-0000-1111-22222",
    voided_at: datetime | None = None,
    quantity: int | None = None,
    reason: int = 1,
    source: int = 0,
) -> dict:
    """One `voidedPurchases[]` entry of `purchases.voidedpurchases.list` (`voidedQuantity`: a
    quantity-based partial refund, listed with includeQuantityBasedPartialRefund)."""
    item: dict[str, Any] = {
        "kind": "androidpublisher#voidedPurchase",
        "purchaseToken": token,
        "purchaseTimeMillis": millis(at(0)),
        "voidedTimeMillis": millis(at(5) if voided_at is None else voided_at),
        "orderId": order_id,
        "voidedSource": source,
        "voidedReason": reason,
    }
    if quantity is not None:
        item["voidedQuantity"] = quantity
    return item


def push_envelope(notification: dict, message_id: str | None = None) -> dict:
    """The Pub/Sub push body that carries a DeveloperNotification (base64 `message.data`)."""
    data = base64.b64encode(json.dumps(notification).encode()).decode()
    message_id = message_id or str(next(_message_ids))
    return {
        "message": {
            "data": data,
            "messageId": message_id,
            "message_id": message_id,
            "publishTime": "2026-01-01T00:00:00.000Z",
            "attributes": {},
        },
        "subscription": "projects/parity-demo/subscriptions/play-rtdn-push",
    }
