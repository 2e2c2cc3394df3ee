"""Google Play's own names and codes, and how its states map onto Parity's (docs/stores/play_store.md)."""

from __future__ import annotations

from collections.abc import Mapping

from ..model import State

SUBSCRIPTION = "subscription"
ONE_TIME_PRODUCT = "one_time_product"
VOIDED_PURCHASE = "voided_purchase"
TEST = "test"

# DeveloperNotification field → kind. Exactly one is present; any other `...Notification` is kept raw.
NOTIFICATION_KINDS: Mapping[str, str] = {
    "subscriptionNotification": SUBSCRIPTION,
    "oneTimeProductNotification": ONE_TIME_PRODUCT,
    "voidedPurchaseNotification": VOIDED_PURCHASE,
    "testNotification": TEST,
}

SUBSCRIPTION_NOTIFICATION_TYPES: Mapping[int, str] = {
    1: "SUBSCRIPTION_RECOVERED",
    2: "SUBSCRIPTION_RENEWED",
    3: "SUBSCRIPTION_CANCELED",
    4: "SUBSCRIPTION_PURCHASED",
    5: "SUBSCRIPTION_ON_HOLD",
    6: "SUBSCRIPTION_IN_GRACE_PERIOD",
    7: "SUBSCRIPTION_RESTARTED",
    8: "SUBSCRIPTION_PRICE_CHANGE_CONFIRMED",  # deprecated by Google, still documented
    9: "SUBSCRIPTION_DEFERRED",
    10: "SUBSCRIPTION_PAUSED",
    11: "SUBSCRIPTION_PAUSE_SCHEDULE_CHANGED",
    12: "SUBSCRIPTION_REVOKED",
    13: "SUBSCRIPTION_EXPIRED",
    17: "SUBSCRIPTION_ITEMS_CHANGED",
    18: "SUBSCRIPTION_CANCELLATION_SCHEDULED",
    19: "SUBSCRIPTION_PRICE_CHANGE_UPDATED",
    20: "SUBSCRIPTION_PENDING_PURCHASE_CANCELED",
    22: "SUBSCRIPTION_PRICE_STEP_UP_CONSENT_UPDATED",
}
SUBSCRIPTION_REVOKED = 12

ONE_TIME_NOTIFICATION_TYPES: Mapping[int, str] = {1: "ONE_TIME_PRODUCT_PURCHASED", 2: "ONE_TIME_PRODUCT_CANCELED"}

# kind → (its name in warnings, its notificationType names)
NOTIFICATION_TYPES: Mapping[str, tuple[str, Mapping[int, str]]] = {
    SUBSCRIPTION: ("subscription", SUBSCRIPTION_NOTIFICATION_TYPES),
    ONE_TIME_PRODUCT: ("one-time product", ONE_TIME_NOTIFICATION_TYPES),
}

PRODUCT_TYPE_SUBSCRIPTION = 1
PRODUCT_TYPE_ONE_TIME = 2
VOIDED_PRODUCT_TYPES: Mapping[int, str] = {1: "PRODUCT_TYPE_SUBSCRIPTION", 2: "PRODUCT_TYPE_ONE_TIME"}
REFUND_TYPE_FULL = 1
REFUND_TYPE_PARTIAL = 2
REFUND_TYPES: Mapping[int, str] = {1: "REFUND_TYPE_FULL_REFUND", 2: "REFUND_TYPE_QUANTITY_BASED_PARTIAL_REFUND"}
VOIDED_SOURCES: Mapping[int, str] = {0: "USER", 1: "DEVELOPER", 2: "GOOGLE"}
VOIDED_REASONS: Mapping[int, str] = {
    0: "OTHER",
    1: "REMORSE",
    2: "NOT_RECEIVED",
    3: "DEFECTIVE",
    4: "ACCIDENTAL_PURCHASE",
    5: "FRAUD",
    6: "FRIENDLY_FRAUD",
    7: "CHARGEBACK",
    8: "UNACKNOWLEDGED_PURCHASE",
}

PENDING = "SUBSCRIPTION_STATE_PENDING"
ACTIVE = "SUBSCRIPTION_STATE_ACTIVE"
PAUSED = "SUBSCRIPTION_STATE_PAUSED"
IN_GRACE_PERIOD = "SUBSCRIPTION_STATE_IN_GRACE_PERIOD"
ON_HOLD = "SUBSCRIPTION_STATE_ON_HOLD"
CANCELED = "SUBSCRIPTION_STATE_CANCELED"
EXPIRED = "SUBSCRIPTION_STATE_EXPIRED"
PENDING_PURCHASE_CANCELED = "SUBSCRIPTION_STATE_PENDING_PURCHASE_CANCELED"
UNSPECIFIED = "SUBSCRIPTION_STATE_UNSPECIFIED"

SUBSCRIPTION_STATES: Mapping[str, State] = {
    PENDING: State.PENDING,
    ACTIVE: State.ACTIVE,
    PAUSED: State.PAUSED,
    IN_GRACE_PERIOD: State.GRACE_PERIOD,
    ON_HOLD: State.ON_HOLD,
    CANCELED: State.ACTIVE,  # until expiryTime, not renewing
    EXPIRED: State.EXPIRED,
    PENDING_PURCHASE_CANCELED: State.EXPIRED,
}
# Google keeps renewing (or retrying) in these; the others will not renew whatever the plan says.
RENEWING_STATES = frozenset({PENDING, ACTIVE, PAUSED, IN_GRACE_PERIOD, ON_HOLD})
# Paid and not ended: Google expects an acknowledgement.
PAID_STATES = frozenset({ACTIVE, PAUSED, IN_GRACE_PERIOD, ON_HOLD, CANCELED})
PENDING_STATES = frozenset({PENDING, PENDING_PURCHASE_CANCELED})

ACK_PENDING = "ACKNOWLEDGEMENT_STATE_PENDING"
ACK_DONE = "ACKNOWLEDGEMENT_STATE_ACKNOWLEDGED"
ACKNOWLEDGEMENT_STATES = frozenset({ACK_PENDING, ACK_DONE, "ACKNOWLEDGEMENT_STATE_UNSPECIFIED"})
# ProductPurchase (products.get) acknowledgementState → its SubscriptionPurchaseV2 name.
PRODUCT_ACKNOWLEDGEMENT_STATES: Mapping[int, str] = {0: ACK_PENDING, 1: ACK_DONE}

# canceledStateContext field → who canceled.
CANCELLATION_CONTEXTS: Mapping[str, str] = {
    "userInitiatedCancellation": "user",
    "systemInitiatedCancellation": "system",
    "developerInitiatedCancellation": "developer",
    "replacementCancellation": "replacement",
}
# lineItems[].offerPhase field → phase.
OFFER_PHASES: Mapping[str, str] = {
    "freeTrial": "free_trial",
    "introductoryPrice": "introductory",
    "basePrice": "base",
    "prorationPeriod": "proration",
}

# ProductPurchase (products.get) purchaseState → (state, raw name); ProductPurchaseV2 names.
PRODUCT_PURCHASE_STATES: Mapping[int, tuple[State, str]] = {
    0: (State.ACTIVE, "PURCHASED"),
    1: (State.EXPIRED, "CANCELED"),
    2: (State.PENDING, "PENDING"),
}
PRODUCT_PURCHASE_STATES_V2: Mapping[str, State] = {
    "PURCHASED": State.ACTIVE,
    "CANCELLED": State.EXPIRED,
    "PENDING": State.PENDING,
}
PURCHASE_TYPES: Mapping[int, str] = {0: "TEST", 1: "PROMO", 2: "REWARDED"}

SUBSCRIPTIONS_V2 = "subscriptionsv2"  # what to fetch: purchases.subscriptionsv2.get
PRODUCTS = "products"  # purchases.products.get (needs the product id)
