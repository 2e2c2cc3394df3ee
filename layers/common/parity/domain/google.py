"""Google Play (Real-time developer notifications + Play Developer API resources) → purchase facts (pure).

The input is already verified and fetched. The webhook checked the Pub/Sub push token and decoded
`message.data` into a DeveloperNotification; the processor (or the receipts route) then asked the Play
Developer API for the purchase. A notification is only a trigger: every state below is read from the
fetched resource (`purchases.subscriptionsv2.get` → SubscriptionPurchaseV2, `purchases.products.get` →
ProductPurchase), never from the notification type. Nothing here checks a signature or reads the network.

Entry points: `parse_notification` (what a DeveloperNotification is about and what to fetch),
`subscription_facts`, `product_facts`, `voided_facts` (→ `GoogleFacts`), `GoogleFacts.update_for`
(→ `PurchaseUpdate` of `play_store:<store key>`), `chain_key` (which lifecycle a token belongs to).

How Google's facts become Parity's (the README's table):

`expires_at` is the latest `lineItems[].expiryTime` in every row; `will_renew` the line items'
`autoRenewingPlan.autoRenewEnabled` where Google keeps renewing (or retrying), false otherwise.

| `subscriptionState` (SUBSCRIPTION_STATE_…)  | state                                            | will_renew |
| ------------------------------------------- | ------------------------------------------------ | ---------- |
| PENDING                                     | pending                                          | plan       |
| ACTIVE                                      | active; trialing in a free-trial phase           | plan       |
| PAUSED                                      | paused                                           | plan       |
| IN_GRACE_PERIOD                             | grace_period, grace end = expiryTime             | plan       |
| ON_HOLD                                     | on_hold                                          | plan       |
| CANCELED                                    | active (trialing) until expiryTime, then expired | false      |
| EXPIRED                                     | expired                                          | false      |
| PENDING_PURCHASE_CANCELED                   | expired                                          | false      |
| UNSPECIFIED, unknown                        | pending (raw kept, warning)                      | plan       |
| notification SUBSCRIPTION_REVOKED (12)      | revoked: a revocation of the token               |            |
| voidedPurchaseNotification, voided purchase | revoked: a revocation of the order               |            |

| ProductPurchase `purchaseState` | state                      |
| ------------------------------- | -------------------------- |
| 0 purchased                     | active, no end (lifetime)  |
| 1 canceled                      | expired                    |
| 2 pending                       | pending                    |
| other                           | pending, raw kept, warning |

Details:

- Several line items (a base plan with add-ons): `expires_at` is the latest `expiryTime`, `product_refs`
  every item's `productId` (each maps through the catalog), `product_id` the first item's. Renewal
  intent is any item's `autoRenewingPlan.autoRenewEnabled` (prepaid plans never renew). Trialing: every
  item that states its current `offerPhase` is in `freeTrial` (Google sends `"freeTrial": {}`: presence
  counts, not truthiness). `offerDetails.offerTags` are the developer's own labels and are not read.
- Grace: SubscriptionPurchaseV2 carries no grace end. While a subscription is in grace, Play extends the
  line items' `expiryTime` to the end of the grace period (the renewal failed; the extension is the
  grace), so Parity uses the latest `expiryTime` as both `expires_at` and the grace end: access continues
  until then. Were Google to leave `expiryTime` at the failed renewal, access would end there — the
  conservative reading, never a longer one.
- CANCELED means "will not renew": access continues until `expiryTime` (active, or trialing when the
  trial was canceled); a CANCELED resource whose `expiryTime` is already past at `as_of` is expired.
- `testPurchase` (an empty object when present) → environment `sandbox`; ProductPurchase `purchaseType`
  0 (license tester) → `sandbox`; otherwise `production`.
- `externalAccountIdentifiers.obfuscatedExternalAccountId` (ProductPurchase: `obfuscatedExternalAccountId`)
  is the user's appAccountToken (`app_account_token`): the service resolves it to a Parity user, and
  `update_for` puts it on the update as a claim by that user. A resubscription made in the Play
  subscriptions center carries no identifiers of its own; its `outOfAppPurchaseContext` names the
  identifiers of the last expired subscription of the same product on the same Google account, used
  as the claim when the purchase has none (`claim_token`).
- The deprecated `subscriptionId` (of the v1 notification and resource) is never read: products come
  from `lineItems[].productId` only.
- Anything unknown (notification kinds and types, states, malformed times) is kept raw and reported
  in `warnings`; nothing raises.

Ordering (`as_of`). The resource is Google's truth at the moment the API answered, not at the event:
pass the fetch time (the processor's clock when `subscriptionsv2.get` / `products.get` returned; the
receipts route does the same, as the Stripe path does with its re-read subscription). The newest
fetch then wins, whatever order notifications arrive in; duplicates re-fetch the same (or a newer)
truth; and Google's `eventTimeMillis` is never compared with Parity's clock (a receipt fetched a moment
after a purchase could otherwise outrank the cancellation that followed it). The notification's
`eventTimeMillis` is kept as `event_time`. Passing `eventTimeMillis` as `as_of` would converge too
(every fetch happens after its event, so the latest event's fetch carries the final truth), but it
labels newer truth with an older time and mixes two clocks with the receipts path. A void is dated by
its `eventTimeMillis` (a voidedpurchases.list item: `voidedTimeMillis`); its revocation, when computed
from a re-fetched subscription, by that fetch (a later fetch knows the order's period best).

Chains (`linkedPurchaseToken`). An upgrade, downgrade, resubscription (before lapse), or a prepaid
top-up or conversion issues a new token naming the old one. All tokens of a chain are one lifecycle,
keyed by the first token Parity knew (`chain_key`). The service records token → key as it learns
tokens; `supersedes` names the token this one replaced (record it: the old token is superseded). A
token's snapshot describes the lifecycle only while it is the chain's current token:
`describes_lifecycle` is False when Google says a newer token replaced it (`canceledStateContext.
replacementCancellation`) and while it is a pending (or canceled pending) replacement, during which the
old token still holds the lifecycle; `update_for(superseded=True)` drops it when the service knows a
newer token. Claims, products and revocations of every token still apply to the chain.

Acknowledgement. `needs_acknowledgement` is True when Google awaits it (`ACKNOWLEDGEMENT_STATE_PENDING`
/ 0) on a paid purchase (not pending payment, not ended). Google refunds unacknowledged purchases after
three days: the service acknowledges (`purchases.subscriptions.acknowledge` with
`acknowledge_product_id`, or `purchases.products.acknowledge`) whenever a fresh fetch says so, and
retries a failed acknowledgement with the message. Once acknowledged, later fetches say ACKNOWLEDGED:
a duplicate notification asks for nothing (two racing processors may both ask: treat Google's answer
for an already acknowledged purchase as success).

Revocations (idempotent by ref). SUBSCRIPTION_REVOKED → `revoked:<token>`, covering the period the
fetched resource shows (a later period lifts it; a revoked token has none). A voided purchase →
`voided:<orderId>` (`voided:<token>` without an order): a one-time product is revoked for good; a
subscription order revokes the period it paid for — the current period when the order is a line
item's `latestSuccessfulOrderId` (covering that item's `expiryTime`), nothing current when it is an
older renewal (covering up to the void), the current period when the resource does not say. Pass the
subscription re-fetched (`resource`), or the order's period end (`period_end`, e.g. `orders.get`'s
`servicePeriodEndTime`): without either the period is unknown (a warning) and the ordering rule takes
the purchase's current period. A quantity-based partial refund (refundType 2, or a list item with
`voidedQuantity`) does not revoke: the buyer keeps the units not refunded, and Google reports the
refund of the last remaining units as a full refund, which revokes.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from typing import Any

from .model import ACCESS_STATES, PurchaseUpdate, Revocation, Snapshot, State, Store, purchase_id
from .timeutil import from_epoch_ms

# --------------------------------------------------------------------------- Google's vocabulary

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
_RENEWING_STATES = frozenset({PENDING, ACTIVE, PAUSED, IN_GRACE_PERIOD, ON_HOLD})
# Paid and not ended: Google expects an acknowledgement.
_PAID_STATES = frozenset({ACTIVE, PAUSED, IN_GRACE_PERIOD, ON_HOLD, CANCELED})
_PENDING_STATES = frozenset({PENDING, PENDING_PURCHASE_CANCELED})

ACK_PENDING = "ACKNOWLEDGEMENT_STATE_PENDING"
ACK_DONE = "ACKNOWLEDGEMENT_STATE_ACKNOWLEDGED"
ACKNOWLEDGEMENT_STATES = frozenset({ACK_PENDING, ACK_DONE, "ACKNOWLEDGEMENT_STATE_UNSPECIFIED"})

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


# --------------------------------------------------------------------------- the notification


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
        return self.kind in (SUBSCRIPTION, ONE_TIME_PRODUCT, VOIDED_PURCHASE) and bool(self.purchase_token)

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
    body = notification if isinstance(notification, Mapping) else {}
    if body is not notification:
        warnings.append(f"DeveloperNotification is not an object ({type(notification).__name__}): concerns nothing")
    present = [key for key in NOTIFICATION_KINDS if isinstance(body.get(key), Mapping)]
    others = sorted(
        key
        for key in body
        if isinstance(key, str) and key.endswith("Notification") and key not in NOTIFICATION_KINDS and body.get(key)
    )
    if len(present) > 1:
        warnings.append(f"several notification kinds {present}: {present[0]} read")
    if present:
        key = present[0]
        kind = NOTIFICATION_KINDS[key]
        inner: Mapping[str, Any] = body[key]
    elif others:
        key, kind, inner = others[0], others[0], body.get(others[0])
        inner = inner if isinstance(inner, Mapping) else {}
        warnings.append(f"unknown notification kind {key!r} kept raw: no state change")
    else:
        kind, inner = "", {}
        if body is notification:
            warnings.append("DeveloperNotification without a known notification: concerns nothing")

    event_time = _millis(body.get("eventTimeMillis"), "eventTimeMillis", warnings)
    if event_time is None and body:
        warnings.append("DeveloperNotification without eventTimeMillis")
    notification_type = None
    type_name = None
    if kind == SUBSCRIPTION:
        notification_type = _int(inner.get("notificationType"), "subscription notificationType", warnings)
        type_name = SUBSCRIPTION_NOTIFICATION_TYPES.get(notification_type) if notification_type is not None else None
        if notification_type is not None and type_name is None:
            warnings.append(
                f"unknown subscription notificationType {notification_type} kept raw (the fetched resource decides)"
            )
    elif kind == ONE_TIME_PRODUCT:
        notification_type = _int(inner.get("notificationType"), "one-time product notificationType", warnings)
        type_name = ONE_TIME_NOTIFICATION_TYPES.get(notification_type) if notification_type is not None else None
        if notification_type is not None and type_name is None:
            warnings.append(
                f"unknown one-time product notificationType {notification_type} kept raw (the fetched resource decides)"
            )

    token = _text(inner.get("purchaseToken"))
    if kind in (SUBSCRIPTION, ONE_TIME_PRODUCT, VOIDED_PURCHASE) and token is None:
        warnings.append(f"{kind} notification without purchaseToken: concerns no purchase")
    product_id = _text(inner.get("sku")) if kind == ONE_TIME_PRODUCT else None
    if kind == ONE_TIME_PRODUCT and product_id is None:
        warnings.append("one-time product notification without sku: the product id must come from elsewhere")

    order_id = product_type = refund_type = None
    if kind == VOIDED_PURCHASE:
        order_id = _text(inner.get("orderId"))
        product_type = _enum(inner.get("productType"), VOIDED_PRODUCT_TYPES, "voided productType", warnings)
        refund_type = _enum(inner.get("refundType"), REFUND_TYPES, "voided refundType", warnings)

    return PlayNotification(
        kind=kind,
        notification_type=notification_type,
        type_name=type_name,
        purchase_token=token,
        product_id=product_id,
        event_time=event_time,
        package_name=_text(body.get("packageName")),
        version=_text(body.get("version")),
        test=kind == TEST,
        order_id=order_id,
        product_type=product_type,
        refund_type=refund_type,
        payload=dict(inner) if isinstance(inner, Mapping) else {},
        warnings=tuple(warnings),
    )


# --------------------------------------------------------------------------- the facts


@dataclass(frozen=True)
class GoogleFacts:
    """What one fetched resource (or one void) says about one purchase token, before Parity resolves
    its user and its chain.

    `snapshot` is the token's own state as of `occurred_at` (the fetch time); whether it describes the
    lifecycle is `describes_lifecycle`. `app_account_token` is the raw obfuscated account id.
    """

    event_id: str
    kind: str
    occurred_at: datetime
    purchase_token: str | None
    event_time: datetime | None = None
    notification_type: int | None = None
    product_id: str | None = None
    product_refs: tuple[str, ...] = ()
    environment: str = "production"
    app_account_token: str | None = None
    profile_token: str | None = None  # obfuscatedExternalProfileId, exposed only
    expired_purchase_token: str | None = None  # outOfAppPurchaseContext: the last expired token
    expired_app_account_token: str | None = None
    linked_purchase_token: str | None = None
    replaced: bool = False  # canceledStateContext.replacementCancellation: a newer token took over
    raw_state: str | None = None  # subscriptionState / the purchaseState's name, raw
    snapshot: Snapshot | None = None
    revocation: Revocation | None = None
    will_renew: bool | None = None
    free_trial: bool = False
    acknowledgement_state: str | None = None  # raw (a ProductPurchase's 0/1 as its name)
    needs_acknowledgement: bool = False
    acknowledge_product_id: str | None = None  # the product id the acknowledge call needs
    order_id: str | None = None  # latest successful order (subscriptions), the order (one-time, voids)
    start_time: datetime | None = None
    cancel_reason: str | None = None  # user | system | developer | replacement
    auto_resume_at: datetime | None = None  # paused subscriptions
    consumed: bool | None = None
    quantity: int | None = None
    refundable_quantity: int | None = None
    product_type: int | None = None  # voids, raw
    refund_type: int | None = None  # voids, raw (inferred for voidedpurchases.list items)
    voided_quantity: int | None = None
    voided_reason: int | None = None
    voided_source: int | None = None
    warnings: tuple[str, ...] = ()

    @property
    def purchase_key(self) -> str | None:
        return self.purchase_token

    @property
    def purchase_id(self) -> str | None:
        """The purchase id when this token starts its own lifecycle (see `chain_key` for chains)."""
        return purchase_id(Store.PLAY_STORE, self.purchase_token) if self.purchase_token else None

    @property
    def routing_key(self) -> str:
        return self.purchase_token or self.event_id

    @property
    def concerns_purchase(self) -> bool:
        return bool(self.purchase_token)

    @property
    def claim_token(self) -> str | None:
        """The appAccountToken attributing this purchase to a user: its own obfuscated account id, else
        (a resubscription from the Play subscriptions center) the one of the expired subscription."""
        return self.app_account_token or self.expired_app_account_token

    @property
    def describes_lifecycle(self) -> bool:
        """Whether this token's snapshot is its lifecycle's state (see the module's "Chains")."""
        if self.replaced:
            return False
        return not (self.linked_purchase_token and self.raw_state in _PENDING_STATES)

    @property
    def supersedes(self) -> str | None:
        """The older token this one replaced (its `linkedPurchaseToken`, once the replacement is no
        longer pending): the service records it as superseded."""
        if self.kind != SUBSCRIPTION or not self.linked_purchase_token or self.raw_state in _PENDING_STATES:
            return None
        return self.linked_purchase_token

    def chain_key(self, root_of: Callable[[str], str | None]) -> str:
        if not self.purchase_token:
            raise ValueError(f"{self.kind} {self.event_id} concerns no purchase")
        return chain_key(self.purchase_token, self.linked_purchase_token, root_of)

    def update_for(
        self,
        claimant: str | None = None,
        store_key: str | None = None,
        period_end: datetime | None = None,
        superseded: bool = False,
    ) -> PurchaseUpdate:
        """The facts as an update of `play_store:<store_key>` (default: the token itself).

        `claimant`: the Parity user the service resolved (from `claim_token`, or the receipts caller);
        the token travels on the update as `app_account_token` either way. `store_key`: the chain's key
        (`chain_key`). `period_end`: the period a void's order paid for, when the facts do not know it.
        `superseded`: the service knows a newer token of the chain; this token's snapshot is dropped.
        """
        if not self.purchase_token:
            raise ValueError(f"{self.kind} {self.event_id} concerns no purchase")
        snapshot = self.snapshot if self.describes_lifecycle and not superseded else None
        revocation = self.revocation
        if revocation is not None and revocation.covers_until is None and period_end is not None:
            revocation = replace(revocation, covers_until=period_end)
        return PurchaseUpdate(
            store=Store.PLAY_STORE,
            store_key=store_key or self.purchase_token,
            event_id=self.event_id,
            occurred_at=self.occurred_at,
            snapshot=snapshot,
            product_refs=self.product_refs,
            revocation=revocation,
            claimant=claimant,
            app_account_token=self.claim_token,
        )


def chain_key(purchase_token: str, linked_purchase_token: str | None, root_of: Callable[[str], str | None]) -> str:
    """The store key of the lifecycle a token belongs to: the first token of its chain Parity knows.

    `root_of(token)` is the key the service recorded for a token it has seen (None: never seen). A
    token already recorded keeps its key; a new token joins its linked token's lifecycle (the linked
    token itself when Parity never saw it: its own later notifications then find that key); a token
    without a link starts its own. The service records `token → key` (and the linked token's) after
    applying, so that every later notification of either lands on the same purchase.
    """
    known = root_of(purchase_token)
    if known:
        return known
    if linked_purchase_token:
        return root_of(linked_purchase_token) or linked_purchase_token
    return purchase_token


# --------------------------------------------------------------------------- subscriptions


def subscription_facts(
    purchase_token: str,
    resource: Mapping[str, Any],
    as_of: datetime,
    event_id: str,
    notification_type: int | None = None,
    *,
    event_time: datetime | None = None,
) -> GoogleFacts:
    """A SubscriptionPurchaseV2 fetched at `as_of` → facts (see the module's table and "Ordering").

    `notification_type` is the subscriptionNotification's type that triggered the fetch (None: the
    receipts route or a reconciliation); only SUBSCRIPTION_REVOKED adds to the resource (a revocation:
    the resource of a revoked subscription reads like an expired one). `event_time`: its eventTimeMillis.
    """
    warnings: list[str] = []
    res = _mapping(resource, "SubscriptionPurchaseV2", warnings)
    token = _text(purchase_token)
    if token is None:
        warnings.append("subscription without purchase token: concerns no purchase")
    if notification_type is not None:
        notification_type = _int(notification_type, "subscription notificationType", warnings)
        if notification_type is not None and notification_type not in SUBSCRIPTION_NOTIFICATION_TYPES:
            warnings.append(f"unknown subscription notificationType {notification_type} kept raw")

    raw_items = res.get("lineItems")
    if raw_items is not None and not isinstance(raw_items, list):
        warnings.append("lineItems is not a list: ignored")
        raw_items = None
    items = [item for item in raw_items or [] if isinstance(item, Mapping)]
    if len(items) != len(raw_items or []):
        warnings.append("line items that are not objects ignored")
    if res is resource and not items:
        warnings.append("subscription without line items: no product, no expiry")
    products = tuple(dict.fromkeys(p for p in (_text(item.get("productId")) for item in items) if p))
    expiries = [_time(item.get("expiryTime"), "lineItems[].expiryTime", warnings) for item in items]
    known_expiries = [moment for moment in expiries if moment is not None]
    expires_at = max(known_expiries) if known_expiries else None
    phases = [_offer_phase(item, warnings) for item in items]
    stated = [phase for phase in phases if phase is not None]
    free_trial = bool(stated) and all(phase == "free_trial" for phase in stated)
    renewing = any(_auto_renew(item, warnings) for item in items)

    raw_state = _text(res.get("subscriptionState"))
    cancel_reason = _cancel_reason(res.get("canceledStateContext"), warnings)
    linked = _text(res.get("linkedPurchaseToken"))
    environment = "sandbox" if res.get("testPurchase") is not None else "production"
    identifiers = res.get("externalAccountIdentifiers")
    identifiers = identifiers if isinstance(identifiers, Mapping) else {}
    out_of_app = res.get("outOfAppPurchaseContext")
    out_of_app = out_of_app if isinstance(out_of_app, Mapping) else {}
    expired_identifiers = out_of_app.get("expiredExternalAccountIdentifiers")
    expired_identifiers = expired_identifiers if isinstance(expired_identifiers, Mapping) else {}
    ack = _text(res.get("acknowledgementState"))
    if ack is not None and ack not in ACKNOWLEDGEMENT_STATES:
        warnings.append(f"unknown acknowledgementState {ack!r} kept raw (not acknowledged by Parity)")
    paused = res.get("pausedStateContext")
    paused = paused if isinstance(paused, Mapping) else {}

    will_renew = renewing if raw_state in _RENEWING_STATES or raw_state not in SUBSCRIPTION_STATES else False
    snapshot = None
    if raw_state is None:
        if res is resource:
            warnings.append("subscription without subscriptionState: no state change")
    else:
        state = SUBSCRIPTION_STATES.get(raw_state)
        if state is None:
            what = "unspecified" if raw_state == UNSPECIFIED else "unknown"
            warnings.append(f"{what} subscriptionState {raw_state!r} kept raw: read as pending")
            state = State.PENDING
        if raw_state == CANCELED and expires_at is not None and expires_at <= as_of:
            state = State.EXPIRED  # canceled, and its last period is over
        if state is State.ACTIVE and free_trial:
            state = State.TRIALING
        if state in ACCESS_STATES and expires_at is None:
            warnings.append(f"{raw_state} without any lineItems[].expiryTime: cannot tell until when; no state change")
        else:
            snapshot = Snapshot(
                store_state=state,
                expires_at=expires_at,
                as_of=as_of,
                grace_ends_at=expires_at if state is State.GRACE_PERIOD else None,
                will_renew=will_renew,
                product_id=products[0] if products else None,
                product_refs=products,
                raw_state=raw_state,
                environment=environment,
            )

    revocation = None
    if notification_type == SUBSCRIPTION_REVOKED and token is not None:
        # Ordered by the fetch: a later fetch of the revoked token knows its final period best.
        revocation = Revocation(f"revoked:{token}", expires_at, True, as_of)
        if expires_at is None:
            warnings.append("SUBSCRIPTION_REVOKED of a subscription without expiryTime: revokes its current period")

    return GoogleFacts(
        event_id=event_id,
        kind=SUBSCRIPTION,
        occurred_at=as_of,
        purchase_token=token,
        event_time=event_time,
        notification_type=notification_type,
        product_id=products[0] if products else None,
        product_refs=products,
        environment=environment,
        app_account_token=_text(identifiers.get("obfuscatedExternalAccountId")),
        profile_token=_text(identifiers.get("obfuscatedExternalProfileId")),
        expired_purchase_token=_text(out_of_app.get("expiredPurchaseToken")),
        expired_app_account_token=_text(expired_identifiers.get("obfuscatedExternalAccountId")),
        linked_purchase_token=linked,
        replaced=cancel_reason == "replacement",
        raw_state=raw_state,
        snapshot=snapshot,
        revocation=revocation,
        will_renew=will_renew if raw_state is not None else None,
        free_trial=free_trial,
        acknowledgement_state=ack,
        needs_acknowledgement=ack == ACK_PENDING and raw_state in _PAID_STATES,
        acknowledge_product_id=products[0] if products else None,
        order_id=_latest_order(res, items),
        start_time=_time(res.get("startTime"), "startTime", warnings),
        cancel_reason=cancel_reason,
        auto_resume_at=_time(paused.get("autoResumeTime"), "pausedStateContext.autoResumeTime", warnings),
        warnings=tuple(warnings),
    )


def _offer_phase(item: Mapping, warnings: list[str]) -> str | None:
    phase = item.get("offerPhase")
    if phase is None:
        return None
    if not isinstance(phase, Mapping):
        warnings.append("lineItems[].offerPhase is not an object: ignored")
        return None
    for key, name in OFFER_PHASES.items():
        if key in phase and phase[key] is not None:  # `"freeTrial": {}`: presence, not truthiness
            return name
    unknown = sorted(phase)
    if unknown:
        warnings.append(f"unknown offerPhase {unknown} kept raw (not a free trial)")
    return None


def _auto_renew(item: Mapping, warnings: list[str]) -> bool:
    plan = item.get("autoRenewingPlan")
    if not isinstance(plan, Mapping):
        return False  # prepaid (or unsaid): does not renew
    enabled = plan.get("autoRenewEnabled")
    if enabled is not None and not isinstance(enabled, bool):
        warnings.append(f"autoRenewEnabled {enabled!r} is not a boolean: read as off")
    return enabled is True


def _cancel_reason(context: Any, warnings: list[str]) -> str | None:
    if context is None:
        return None
    if not isinstance(context, Mapping):
        warnings.append("canceledStateContext is not an object: ignored")
        return None
    for key, reason in CANCELLATION_CONTEXTS.items():
        if context.get(key) is not None:
            return reason
    if context:
        warnings.append(f"unknown canceledStateContext {sorted(context)} kept raw")
    return None


def _latest_order(res: Mapping, items: list[Mapping]) -> str | None:
    for item in items:
        order = _text(item.get("latestSuccessfulOrderId"))
        if order:
            return order
    return _text(res.get("latestOrderId"))  # older resources (deprecated field)


# --------------------------------------------------------------------------- one-time products


def product_facts(
    purchase_token: str,
    product_id: str | None,
    resource: Mapping[str, Any],
    as_of: datetime,
    event_id: str,
    notification_type: int | None = None,
    *,
    event_time: datetime | None = None,
) -> GoogleFacts:
    """A ProductPurchase (`purchases.products.get`; a ProductPurchaseV2 is read too) fetched at
    `as_of` → facts: purchased → active without end (lifetime), pending → pending, canceled → expired.

    `product_id`: the notification's `sku` or the receipt's product id (the resource may omit it).
    Consumed products stay active: what a product grants is the catalog's business (map consumables to
    no entitlement); `consumed` and the quantities are exposed.
    """
    warnings: list[str] = []
    res = _mapping(resource, "ProductPurchase", warnings)
    token = _text(purchase_token)
    if token is None:
        warnings.append("one-time purchase without purchase token: concerns no purchase")
    if notification_type is not None:
        notification_type = _int(notification_type, "one-time product notificationType", warnings)
        if notification_type is not None and notification_type not in ONE_TIME_NOTIFICATION_TYPES:
            warnings.append(f"unknown one-time product notificationType {notification_type} kept raw")

    if "purchaseStateContext" in res or "productLineItem" in res:
        read = _product_v2(res, warnings)
    else:
        read = _product_v1(res, warnings)
    state, raw_state, ack, ack_pending, test, products, consumed, quantity, refundable = read
    products = tuple(dict.fromkeys(p for p in (_text(product_id), *products) if p))
    environment = "sandbox" if test else "production"

    snapshot = None
    if state is not None:
        snapshot = Snapshot(
            store_state=state,
            expires_at=None,
            as_of=as_of,
            will_renew=False,
            product_id=products[0] if products else None,
            product_refs=products,
            raw_state=raw_state,
            environment=environment,
        )
    elif res is resource:
        warnings.append("one-time purchase without purchaseState: no state change")
    if not products:
        warnings.append("one-time purchase without product id: the catalog cannot map it")

    return GoogleFacts(
        event_id=event_id,
        kind=ONE_TIME_PRODUCT,
        occurred_at=as_of,
        purchase_token=token,
        event_time=event_time,
        notification_type=notification_type,
        product_id=products[0] if products else None,
        product_refs=products,
        environment=environment,
        app_account_token=_text(res.get("obfuscatedExternalAccountId")),
        profile_token=_text(res.get("obfuscatedExternalProfileId")),
        raw_state=raw_state,
        snapshot=snapshot,
        will_renew=False,
        acknowledgement_state=ack,
        needs_acknowledgement=ack_pending and state is State.ACTIVE,
        acknowledge_product_id=products[0] if products else None,
        order_id=_text(res.get("orderId")),
        start_time=_millis(res.get("purchaseTimeMillis"), "purchaseTimeMillis", warnings)
        or _time(res.get("purchaseCompletionTime"), "purchaseCompletionTime", warnings),
        consumed=consumed,
        quantity=quantity,
        refundable_quantity=refundable,
        warnings=tuple(warnings),
    )


def _product_v1(res: Mapping, warnings: list[str]):
    raw = res.get("purchaseState")
    code = _int(raw, "purchaseState", warnings) if raw is not None else None
    state = raw_state = None
    if code is not None:
        state, raw_state = PRODUCT_PURCHASE_STATES.get(code, (None, None))
        if state is None:
            warnings.append(f"unknown purchaseState {code} kept raw: read as pending")
            state, raw_state = State.PENDING, f"purchaseState={code}"
    ack_code = _int(res.get("acknowledgementState"), "acknowledgementState", warnings)
    ack = {0: ACK_PENDING, 1: ACK_DONE}.get(ack_code) if ack_code is not None else None
    if ack_code is not None and ack is None:
        warnings.append(f"unknown acknowledgementState {ack_code} kept raw (not acknowledged by Parity)")
        ack = f"acknowledgementState={ack_code}"
    consumption = _int(res.get("consumptionState"), "consumptionState", warnings)
    if consumption is not None and consumption not in (0, 1):
        warnings.append(f"unknown consumptionState {consumption} kept raw")
    purchase_type = _enum(res.get("purchaseType"), PURCHASE_TYPES, "purchaseType", warnings)
    products = (_text(res.get("productId")),)
    quantity = _int(res.get("quantity"), "quantity", warnings)
    refundable = _int(res.get("refundableQuantity"), "refundableQuantity", warnings)
    consumed = None if consumption is None else consumption == 1
    return state, raw_state, ack, ack_code == 0, purchase_type == 0, products, consumed, quantity, refundable


def _product_v2(res: Mapping, warnings: list[str]):
    context = res.get("purchaseStateContext")
    raw_state = _text(context.get("purchaseState")) if isinstance(context, Mapping) else None
    state = None
    if raw_state is not None:
        state = PRODUCT_PURCHASE_STATES_V2.get(raw_state)
        if state is None:
            warnings.append(f"unknown purchaseState {raw_state!r} kept raw: read as pending")
            state = State.PENDING
    ack = _text(res.get("acknowledgementState"))
    if ack is not None and ack not in ACKNOWLEDGEMENT_STATES:
        warnings.append(f"unknown acknowledgementState {ack!r} kept raw (not acknowledged by Parity)")
    items = [item for item in res.get("productLineItem") or [] if isinstance(item, Mapping)]
    offers = [item.get("productOfferDetails") for item in items]
    offers = [offer for offer in offers if isinstance(offer, Mapping)]
    consumption = [_text(offer.get("consumptionState")) for offer in offers]
    consumed = None
    if any(consumption):
        consumed = all(value == "CONSUMPTION_STATE_CONSUMED" for value in consumption if value)
    quantities = [_int(offer.get("quantity"), "quantity", warnings) for offer in offers]
    refundables = [_int(offer.get("refundableQuantity"), "refundableQuantity", warnings) for offer in offers]
    quantity = sum(q for q in quantities if q is not None) if any(q is not None for q in quantities) else None
    refundable = sum(r for r in refundables if r is not None) if any(r is not None for r in refundables) else None
    products = tuple(_text(item.get("productId")) for item in items)
    test = res.get("testPurchaseContext") is not None
    return state, raw_state, ack, ack == ACK_PENDING, test, products, consumed, quantity, refundable


# --------------------------------------------------------------------------- voided purchases


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
    See the module's "Revocations" for what is revoked.
    """
    warnings: list[str] = []
    body = _mapping(notification, "voided purchase", warnings)
    if isinstance(body.get("voidedPurchaseNotification"), Mapping):
        inner = body["voidedPurchaseNotification"]
        event_time = _millis(body.get("eventTimeMillis"), "eventTimeMillis", warnings)
    else:
        inner = body
        event_time = _millis(inner.get("voidedTimeMillis"), "voidedTimeMillis", warnings)
    token = _text(inner.get("purchaseToken"))
    if token is None:
        warnings.append("voided purchase without purchaseToken: concerns no purchase")
    order_id = _text(inner.get("orderId"))
    product_type = _enum(inner.get("productType"), VOIDED_PRODUCT_TYPES, "voided productType", warnings)
    refund_type = _enum(inner.get("refundType"), REFUND_TYPES, "voided refundType", warnings)
    voided_quantity = _int(inner.get("voidedQuantity"), "voidedQuantity", warnings)
    voided_reason = _enum(inner.get("voidedReason"), VOIDED_REASONS, "voidedReason", warnings)
    voided_source = _enum(inner.get("voidedSource"), VOIDED_SOURCES, "voidedSource", warnings)

    res = resource if isinstance(resource, Mapping) else None
    if resource is not None and res is None:
        warnings.append("the re-fetched purchase is not an object: ignored")
    kind_of_resource = None
    if res is not None:
        kind_of_resource = SUBSCRIPTION if ("subscriptionState" in res or "lineItems" in res) else ONE_TIME_PRODUCT
    if product_type is None and kind_of_resource is not None:
        product_type = PRODUCT_TYPE_SUBSCRIPTION if kind_of_resource == SUBSCRIPTION else PRODUCT_TYPE_ONE_TIME
    elif product_type is not None and kind_of_resource is not None:
        expected = SUBSCRIPTION if product_type == PRODUCT_TYPE_SUBSCRIPTION else ONE_TIME_PRODUCT
        if product_type in VOIDED_PRODUCT_TYPES and expected != kind_of_resource:
            warnings.append(f"productType {product_type} but the re-fetched purchase is a {kind_of_resource}")

    base: GoogleFacts | None = None
    if res is not None and fetched_at is not None and token is not None:
        if kind_of_resource == SUBSCRIPTION:
            base = subscription_facts(token, res, fetched_at, event_id, event_time=event_time)
        else:
            base = product_facts(token, None, res, fetched_at, event_id, event_time=event_time)
        warnings = [*base.warnings, *warnings]

    if refund_type is None:
        partial = voided_quantity is not None
        if partial and res is not None and kind_of_resource == ONE_TIME_PRODUCT:
            # Nothing left to refund: the whole purchase is refunded (the last units of a partial series).
            partial = product_facts(token or "", None, res, as_of, event_id).refundable_quantity != 0
        refund_type = REFUND_TYPE_PARTIAL if partial else REFUND_TYPE_FULL

    revocation = None
    at = fetched_at if (res is not None and fetched_at is not None) else as_of
    if token is None:
        pass
    elif refund_type == REFUND_TYPE_PARTIAL:
        pass  # the buyer keeps the units not refunded; the last ones come as a full refund
    elif refund_type not in REFUND_TYPES:
        warnings.append(f"unknown refundType {refund_type}: not revoked (full refunds revoke)")
    else:
        covers = period_end
        if covers is None and product_type == PRODUCT_TYPE_SUBSCRIPTION:
            if res is not None:
                covers = _voided_period(order_id, res, as_of, warnings)
            else:
                warnings.append("voided subscription without its resource or period: its period is unknown")
        elif covers is None and product_type not in VOIDED_PRODUCT_TYPES:
            warnings.append("voided purchase of unknown product type: revokes its current period")
        revocation = Revocation(f"voided:{order_id or token}", covers, True, at)

    facts = base or GoogleFacts(event_id=event_id, kind=VOIDED_PURCHASE, occurred_at=as_of, purchase_token=token)
    return replace(
        facts,
        kind=VOIDED_PURCHASE,
        occurred_at=as_of,
        event_time=event_time,
        notification_type=None,
        revocation=revocation,
        needs_acknowledgement=False,
        order_id=order_id or facts.order_id,
        product_type=product_type,
        refund_type=refund_type,
        voided_quantity=voided_quantity,
        voided_reason=voided_reason,
        voided_source=voided_source,
        warnings=tuple(warnings),
    )


def _voided_period(order_id: str | None, res: Mapping, voided_at: datetime, warnings: list[str]) -> datetime | None:
    """The end of the period a voided subscription order paid for, as far as the resource tells."""
    items = [item for item in res.get("lineItems") or [] if isinstance(item, Mapping)]
    expiries = [_time(item.get("expiryTime"), "lineItems[].expiryTime", []) for item in items]
    current = max((moment for moment in expiries if moment is not None), default=None)
    latest = [_text(item.get("latestSuccessfulOrderId")) for item in items]
    if order_id is not None:
        for order, expiry in zip(latest, expiries, strict=True):
            if order == order_id and expiry is not None:
                return expiry  # the order paid for this item's current period
        if _text(res.get("latestOrderId")) == order_id:
            return current
        if any(latest) or _text(res.get("latestOrderId")):
            return voided_at  # an older renewal: its period was over before the current one began
    warnings.append("voided subscription order not found in the resource: revokes its current period")
    return current


# --------------------------------------------------------------------------- tolerant readers


def _mapping(value: Any, name: str, warnings: list[str]) -> Mapping[str, Any]:
    if isinstance(value, Mapping):
        return value
    warnings.append(f"{name} is not an object ({type(value).__name__}): nothing read")
    return {}


def _text(value: Any) -> str | None:
    if isinstance(value, str) and value.strip():
        return value.strip()
    return None


def _int(value: Any, name: str, warnings: list[str]) -> int | None:
    """Google's integers arrive as numbers or (int64) strings; anything else is a warning."""
    if value is None:
        return None
    if isinstance(value, bool):
        warnings.append(f"{name} {value!r} is not an integer: ignored")
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value.strip())
    warnings.append(f"{name} {value!r} is not an integer: ignored")
    return None


def _enum(value: Any, known: Mapping[int, str], name: str, warnings: list[str]) -> int | None:
    code = _int(value, name, warnings)
    if code is not None and code not in known:
        warnings.append(f"unknown {name} {code} kept raw")
    return code


def _millis(value: Any, name: str, warnings: list[str]) -> datetime | None:
    """Milliseconds since the epoch, as a number or a string."""
    millis = _int(value, name, warnings)
    if millis is None:
        return None
    try:
        return from_epoch_ms(millis)
    except (OverflowError, OSError, ValueError):
        warnings.append(f"{name} {value!r} is out of range: ignored")
        return None


def _time(value: Any, name: str, warnings: list[str]) -> datetime | None:
    """An RFC 3339 timestamp (`2026-01-31T10:00:00.123456789Z`, any fraction, any offset) in UTC."""
    if value is None:
        return None
    text = _text(value)
    if text is None:
        warnings.append(f"{name} {value!r} is not a timestamp: ignored")
        return None
    normalized = text[:-1] + "+00:00" if text[-1:] in ("Z", "z") else text
    head, dot, rest = normalized.partition(".")
    if dot:  # Python reads at most microseconds: keep six digits of the fraction
        digits = len(rest) - len(rest.lstrip("0123456789"))
        normalized = f"{head}.{rest[: min(digits, 6)]}{rest[digits:]}" if digits else f"{head}{rest}"
    try:
        moment = datetime.fromisoformat(normalized)
    except ValueError:
        warnings.append(f"{name} {value!r} is not an RFC 3339 timestamp: ignored")
        return None
    if moment.tzinfo is None:
        warnings.append(f"{name} {value!r} has no offset: read as UTC")
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc)
