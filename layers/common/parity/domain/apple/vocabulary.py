"""The App Store's own names and codes, and how its statuses map onto Parity's (docs/stores/app_store.md)."""

from __future__ import annotations

from collections.abc import Mapping

from ..model import State

# notificationType → the subtypes Apple documents for it (None: no subtype).
NOTIFICATION_SUBTYPES: Mapping[str, frozenset[str | None]] = {
    "SUBSCRIBED": frozenset({"INITIAL_BUY", "RESUBSCRIBE"}),
    "DID_RENEW": frozenset({None, "BILLING_RECOVERY"}),
    "DID_CHANGE_RENEWAL_STATUS": frozenset({"AUTO_RENEW_ENABLED", "AUTO_RENEW_DISABLED"}),
    "DID_CHANGE_RENEWAL_PREF": frozenset({None, "UPGRADE", "DOWNGRADE"}),
    "OFFER_REDEEMED": frozenset({None, "INITIAL_BUY", "RESUBSCRIBE", "UPGRADE", "DOWNGRADE"}),
    "DID_FAIL_TO_RENEW": frozenset({None, "GRACE_PERIOD"}),
    "GRACE_PERIOD_EXPIRED": frozenset({None}),
    "EXPIRED": frozenset({"VOLUNTARY", "BILLING_RETRY", "PRICE_INCREASE", "PRODUCT_NOT_FOR_SALE"}),
    "PRICE_INCREASE": frozenset({"PENDING", "ACCEPTED"}),
    "REFUND": frozenset({None}),
    "REFUND_DECLINED": frozenset({None}),
    "REFUND_REVERSED": frozenset({None}),
    "REVOKE": frozenset({None}),
    "CONSUMPTION_REQUEST": frozenset({None}),
    "RENEWAL_EXTENDED": frozenset({None}),
    "RENEWAL_EXTENSION": frozenset({"SUMMARY", "FAILURE"}),
    "ONE_TIME_CHARGE": frozenset({None}),
    "METADATA_UPDATE": frozenset({None}),
    "MIGRATION": frozenset({None}),
    "PRICE_CHANGE": frozenset({None}),
    "EXTERNAL_PURCHASE_TOKEN": frozenset({"UNREPORTED", "ACTIVE_TOKEN_REMINDER", "CREATED"}),
    "RESCIND_CONSENT": frozenset({None}),
    "TEST": frozenset({None}),
}

# Their transaction is the subscription's latest: a snapshot of the whole purchase.
SNAPSHOT_TYPES = frozenset(
    {
        "SUBSCRIBED",
        "DID_RENEW",
        "DID_CHANGE_RENEWAL_STATUS",
        "DID_CHANGE_RENEWAL_PREF",
        "OFFER_REDEEMED",
        "DID_FAIL_TO_RENEW",
        "GRACE_PERIOD_EXPIRED",
        "EXPIRED",
        "PRICE_INCREASE",
        "RENEWAL_EXTENDED",
        "RENEWAL_EXTENSION",  # FAILURE: the one subscription Apple could not extend (SUMMARY has no data)
        "ONE_TIME_CHARGE",
        "METADATA_UPDATE",  # Advanced Commerce API: the subscription's metadata changed
        "MIGRATION",  # Advanced Commerce API: the subscription migrated to it
        "PRICE_CHANGE",  # Advanced Commerce API: the subscription's price changed
    }
)

# About one transaction, which may be an older one of a subscription.
TRANSACTION_TYPES = frozenset({"REFUND", "REFUND_DECLINED", "REFUND_REVERSED", "REVOKE", "CONSUMPTION_REQUEST"})

# Concern no In-App Purchase: acknowledged, nothing to apply.
NO_PURCHASE_TYPES = frozenset({"TEST", "EXTERNAL_PURCHASE_TOKEN", "RESCIND_CONSENT"})

AUTO_RENEWABLE = "Auto-Renewable Subscription"
NON_CONSUMABLE = "Non-Consumable"
CONSUMABLE = "Consumable"
NON_RENEWING = "Non-Renewing Subscription"
PRODUCT_TYPES = frozenset({AUTO_RENEWABLE, NON_CONSUMABLE, CONSUMABLE, NON_RENEWING})

ENVIRONMENTS: Mapping[str, str] = {
    "Production": "production",
    "Sandbox": "sandbox",
    "Xcode": "xcode",
    "LocalTesting": "local_testing",
}

OWNERSHIP_TYPES = frozenset({"PURCHASED", "FAMILY_SHARED"})
OFFER_TYPES: Mapping[int, str] = {
    1: "INTRODUCTORY_OFFER",
    2: "PROMOTIONAL_OFFER",
    3: "SUBSCRIPTION_OFFER_CODE",
    4: "WIN_BACK_OFFER",
}
OFFER_DISCOUNT_TYPES = frozenset({"FREE_TRIAL", "PAY_AS_YOU_GO", "PAY_UP_FRONT", "ONE_TIME"})
AUTO_RENEW_STATUSES: Mapping[int, bool] = {0: False, 1: True}
REVOCATION_REASONS: Mapping[int, str] = {0: "REFUNDED_FOR_OTHER_REASON", 1: "REFUNDED_DUE_TO_ISSUE"}
EXPIRATION_INTENTS: Mapping[int, str] = {
    1: "CUSTOMER_CANCELLED",
    2: "BILLING_ERROR",
    3: "CUSTOMER_DID_NOT_CONSENT_TO_PRICE_INCREASE",
    4: "PRODUCT_NOT_AVAILABLE",
    5: "OTHER",
}
# `data.status` (and the API's subscription status): the subscription as Apple sees it at signedDate.
SUBSCRIPTION_STATUSES: Mapping[int, State] = {
    1: State.ACTIVE,
    2: State.EXPIRED,
    3: State.BILLING_RETRY,
    4: State.GRACE_PERIOD,
    5: State.REVOKED,
}

RECEIPT = "RECEIPT"  # event_type of facts from the receipts path (no notification)
