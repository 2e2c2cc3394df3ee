"""App Store (App Store Server Notifications V2, StoreKit 2 transactions) → normalized purchase facts (pure).

The input is already verified. The webhook checked the notification's JWS (x5c chain up to a trusted
Apple root, Apple's OIDs, bundle id, environment) and the signed transaction and renewal info inside it,
then decoded all three into a `VerifiedNotification`. The receipts path hands `normalize_transaction` a
verified StoreKit 2 transaction, with the renewal info and subscription status from the App Store
Server API when it could ask for them. Nothing here checks a signature or reads the network.

How Apple's facts become Parity's:

- A purchase is keyed by `originalTransactionId` (one per subscription across its renewals, upgrades
  and downgrades; one per non-subscription purchase). `appAccountToken` is exposed, not resolved: the
  service maps the token to the Parity user and passes that user to `AppleFacts.update_for`.
- The snapshot is what the signed transaction and renewal info say about the purchase at the
  notification's `signedDate` (its `as_of`, which orders it against every other snapshot):
  period ended and `gracePeriodExpiresDate` still ahead → grace_period (grace end = that date);
  period ended and `isInBillingRetryPeriod` → billing_retry; period ended otherwise → expired;
  a FREE_TRIAL offer → trialing; else active until `expiresDate`. Where Apple's notification type
  states the outcome it wins over those facts: DID_FAIL_TO_RENEW (GRACE_PERIOD → grace_period, none →
  billing_retry once the paid period ended), GRACE_PERIOD_EXPIRED → billing_retry (the contract),
  EXPIRED → expired.
- Refunds and family-sharing revocations are `Revocation`s keyed by the revoked `transactionId`,
  covering that transaction's period: a later period (a new transaction with a later `expiresDate`)
  lifts them, a late notification about the same transaction does not; REFUND_REVERSED deactivates
  them. Any signed transaction carrying a `revocationDate` says the same thing, so a snapshot never
  carries `revoked` itself (a reversed refund could not undo it).
- Notifications about one transaction (REFUND, REFUND_DECLINED, REFUND_REVERSED, REVOKE,
  CONSUMPTION_REQUEST) may name an older transaction of a subscription: they never carry a snapshot of
  an auto-renewable subscription, only their revocation, products and claim. A non-subscription
  transaction is its whole purchase, so it always can.
- Non-consumables grant without end. Consumables are recorded (a snapshot `expired` at their purchase,
  `grants_entitlements` False) and never grant access. Non-renewing subscriptions grant until
  `expiresDate` when Apple gives one.
- Unknown notification types, subtypes and enum values are kept raw and reported in `warnings`; an
  unknown type changes no state (its claim and revocation facts still apply).
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from . import limits
from .model import PurchaseUpdate, Revocation, Snapshot, State, Store, purchase_id
from .purchases import EPOCH
from .timeutil import from_epoch_ms, to_epoch_ms

# --------------------------------------------------------------------------- Apple's vocabulary

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


# --------------------------------------------------------------------------- input and output


@dataclass(frozen=True)
class VerifiedNotification:
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
        data = payload.get("data") if isinstance(payload.get("data"), Mapping) else {}
        app_data = payload.get("appData") if isinstance(payload.get("appData"), Mapping) else {}
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


@dataclass(frozen=True)
class AppleFacts:
    """What one notification (or one verified transaction) says, before Parity resolves its user.

    `original_transaction_id` names the purchase (`app_store:<originalTransactionId>`); None means the
    notification concerns no purchase (TEST, EXTERNAL_PURCHASE_TOKEN, RESCIND_CONSENT, a
    RENEWAL_EXTENSION summary). `app_account_token` is the raw token; `claim_token` is the one that may
    attribute the purchase (a family member's transaction never claims the purchaser's).
    """

    event_id: str
    event_type: str
    occurred_at: datetime
    subtype: str | None = None
    environment: str | None = None
    bundle_id: str | None = None
    original_transaction_id: str | None = None
    transaction_id: str | None = None
    product_id: str | None = None
    product_type: str | None = None  # Apple's `type`, raw
    app_account_token: str | None = None
    app_transaction_id: str | None = None
    ownership_type: str | None = None  # Apple's `inAppOwnershipType`, raw
    family_shared: bool = False
    grants_entitlements: bool = True  # False for consumables: recorded, never granting access
    quantity: int | None = None
    snapshot: Snapshot | None = None
    revocation: Revocation | None = None
    product_refs: tuple[str, ...] = ()
    auto_renew_product_id: str | None = None
    will_renew: bool | None = None  # Apple's autoRenewStatus (None: not said)
    subscription_status: int | None = None  # `data.status` / the API's status, raw
    expiration_intent: int | None = None
    revocation_reason: int | None = None
    consumption_request_reason: str | None = None
    needs_status: bool = False  # the transaction alone cannot tell the subscription's state: ask the API
    warnings: tuple[str, ...] = field(default=())

    @property
    def purchase_key(self) -> str | None:
        return self.original_transaction_id

    @property
    def concerns_purchase(self) -> bool:
        return bool(self.original_transaction_id)

    @property
    def purchase_id(self) -> str | None:
        return purchase_id(Store.APP_STORE, self.original_transaction_id) if self.original_transaction_id else None

    @property
    def routing_key(self) -> str:
        """The SQS message group: notifications of one purchase are processed in order."""
        return self.original_transaction_id or self.event_id

    @property
    def claim_token(self) -> str | None:
        """The appAccountToken that attributes this purchase to a user, if any.

        Apple does not carry the token on family-shared transactions; should one appear there, it is
        the purchaser's, not the family member's, and must not claim the family member's purchase.
        """
        return None if self.family_shared else self.app_account_token

    def update_for(self, claimant: str | None = None) -> PurchaseUpdate:
        """The facts as an update of `app_store:<originalTransactionId>`; `claimant` is the Parity user
        the service resolved from `claim_token` (or the receipts caller)."""
        if not self.original_transaction_id:
            raise ValueError(f"{self.event_type} {self.event_id} concerns no purchase")
        return PurchaseUpdate(
            store=Store.APP_STORE,
            store_key=self.original_transaction_id,
            event_id=self.event_id,
            occurred_at=self.occurred_at,
            snapshot=self.snapshot,
            product_refs=self.product_refs,
            revocation=self.revocation,
            claimant=claimant,
        )


# --------------------------------------------------------------------------- entry points


def normalize(notification: VerifiedNotification | Mapping[str, Any]) -> AppleFacts:
    """A verified notification → facts. Never raises on unknown or malformed values: they are warnings.

    Accepts a `VerifiedNotification` or its document form (`to_document`).
    """
    notification = _as_verified(notification)
    payload = notification.payload if isinstance(notification.payload, Mapping) else {}
    tx = notification.transaction if isinstance(notification.transaction, Mapping) else None
    renewal = notification.renewal if isinstance(notification.renewal, Mapping) else None
    warnings: list[str] = []

    event_type = _text(payload.get("notificationType")) or ""
    subtype = _text(payload.get("subtype"))
    if event_type not in NOTIFICATION_SUBTYPES:
        warnings.append(f"unknown notificationType {event_type!r} (subtype {subtype!r}) kept raw; no state change")
    elif subtype not in NOTIFICATION_SUBTYPES[event_type]:
        warnings.append(f"unknown subtype {subtype!r} of {event_type} kept raw")

    body = _first_mapping(payload, "data", "summary", "appData", "externalPurchaseToken")
    signed = _moment(payload.get("signedDate"), "signedDate", warnings)
    if signed is None:
        fallback = [_moment(s.get("signedDate"), "signedDate", []) for s in (tx, renewal) if s is not None]
        signed = max((m for m in fallback if m is not None), default=None)
        if signed is None:
            warnings.append("notification without signedDate: ordered before everything")
            signed = EPOCH
        else:
            warnings.append("notification without signedDate: ordered by its signed transaction or renewal info")
    event_id = _text(payload.get("notificationUUID"))
    if event_id is None:
        warnings.append("notification without notificationUUID")
        event_id = f"apple:{event_type}:{to_epoch_ms(signed)}:{_text((tx or {}).get('transactionId'))}"

    environment = _environment(body.get("environment"), (tx or {}).get("environment"),
                               (renewal or {}).get("environment"), warnings=warnings)
    base = {
        "event_id": event_id,
        "event_type": event_type,
        "subtype": subtype,
        "occurred_at": signed,
        "environment": environment,
        "bundle_id": _text(body.get("bundleId")) or _text((tx or {}).get("bundleId")),
    }
    status = _enum_int(body.get("status"), SUBSCRIPTION_STATUSES, "status", warnings)

    if event_type in NO_PURCHASE_TYPES or (tx is None and renewal is None):
        if event_type not in NO_PURCHASE_TYPES and event_type != "RENEWAL_EXTENSION" and event_type:
            warnings.append(f"{event_type} without a signed transaction concerns no purchase")
        return AppleFacts(**base, subscription_status=status, warnings=tuple(warnings))

    if event_type in SNAPSHOT_TYPES:
        scope = "purchase"
    elif event_type in TRANSACTION_TYPES:
        scope = "transaction"
    else:
        scope = "unknown"
    facts = _facts(base, tx, renewal, status, scope, _raw_state(event_type, subtype), warnings)
    reason = _text(body.get("consumptionRequestReason"))
    return replace(facts, consumption_request_reason=reason) if reason else facts


def normalize_transaction(
    transaction: Mapping[str, Any],
    renewal: Mapping[str, Any] | None = None,
    status: int | None = None,
) -> AppleFacts:
    """The receipts path: a verified StoreKit 2 transaction (+ its renewal info and subscription status
    from the App Store Server API, when known) → facts as of the transaction's `signedDate`.

    A lone auto-renewable transaction whose period already ended cannot tell "expired" from "renewed
    since": it carries no snapshot and sets `needs_status` (ask Get All Subscription Statuses).
    """
    warnings: list[str] = []
    tx = transaction if isinstance(transaction, Mapping) else {}
    renewal = renewal if isinstance(renewal, Mapping) else None
    signed = _moment(tx.get("signedDate"), "signedDate", warnings)
    if signed is None:
        warnings.append("transaction without signedDate: ordered before everything")
        signed = EPOCH
    tx_id = _text(tx.get("transactionId"))
    base = {
        "event_id": f"receipt:{tx_id}:{to_epoch_ms(signed)}",
        "event_type": RECEIPT,
        "subtype": None,
        "occurred_at": signed,
        "environment": _environment(tx.get("environment"), (renewal or {}).get("environment"), warnings=warnings),
        "bundle_id": _text(tx.get("bundleId")),
    }
    status = _enum_int(status, SUBSCRIPTION_STATUSES, "status", warnings)
    return _facts(base, tx, renewal, status, "receipt", RECEIPT, warnings)


# --------------------------------------------------------------------------- facts


def _facts(
    base: dict,
    tx: Mapping | None,
    renewal: Mapping | None,
    status: int | None,
    scope: str,
    raw_state: str,
    warnings: list[str],
) -> AppleFacts:
    tx = tx or {}
    renewal_info = renewal or {}
    as_of: datetime = base["occurred_at"]
    original = _text(tx.get("originalTransactionId")) or _text(renewal_info.get("originalTransactionId"))
    if original is None:
        warnings.append(f"{base['event_type']} names no originalTransactionId: concerns no purchase")
        return AppleFacts(**base, subscription_status=status, warnings=tuple(warnings))
    product = _text(tx.get("productId")) or _text(renewal_info.get("productId"))
    ownership = _text(tx.get("inAppOwnershipType"))
    if ownership is not None and ownership not in OWNERSHIP_TYPES:
        warnings.append(f"unknown inAppOwnershipType {ownership!r} kept raw (treated as purchased)")
    kind = _product_type(tx, renewal, warnings)
    auto_renew = _enum_int(renewal_info.get("autoRenewStatus"), AUTO_RENEW_STATUSES, "autoRenewStatus", warnings)
    will_renew = AUTO_RENEW_STATUSES.get(auto_renew) if auto_renew is not None else None
    if will_renew is None and base["event_type"] == "DID_CHANGE_RENEWAL_STATUS":
        will_renew = {"AUTO_RENEW_ENABLED": True, "AUTO_RENEW_DISABLED": False}.get(base["subtype"])
    revocation_reason = _enum_int(tx.get("revocationReason"), REVOCATION_REASONS, "revocationReason", warnings)
    intent = _enum_int(renewal_info.get("expirationIntent"), EXPIRATION_INTENTS, "expirationIntent", warnings)
    _enum_int(tx.get("offerType"), OFFER_TYPES, "offerType", warnings)
    discount = _text(tx.get("offerDiscountType"))
    if discount is not None and discount not in OFFER_DISCOUNT_TYPES:
        warnings.append(f"unknown offerDiscountType {discount!r} kept raw (not a free trial)")

    period_end = _period_end(tx, kind, as_of, warnings)
    snapshot = None
    needs_status = False
    upgraded = tx.get("isUpgraded") is True
    if not tx:
        warnings.append(f"{base['event_type']} without a signed transaction: no state change")
    elif scope == "unknown":
        pass  # warned already: an unknown type changes no state
    elif kind is None:
        pass  # warned already: Parity cannot tell what the purchase grants
    elif kind == AUTO_RENEWABLE and upgraded:
        pass  # superseded by the upgrade's own transaction, which describes the subscription
    elif kind == AUTO_RENEWABLE and scope == "transaction":
        pass  # may be an older transaction than the subscription's current one
    elif kind == AUTO_RENEWABLE and scope == "receipt" and renewal is None and status is None and (
        period_end is None or period_end <= as_of
    ):
        needs_status = True
        warnings.append("a lone transaction whose period ended cannot tell expired from renewed: ask the API")
    else:
        state, grace_end = _state(tx, renewal, status, kind, period_end, as_of, base, warnings)
        snapshot = Snapshot(
            store_state=state,
            expires_at=period_end,
            as_of=as_of,
            grace_ends_at=grace_end,
            # A lone transaction (a receipt without renewal info) does not say whether it renews.
            will_renew=(
                None
                if will_renew is None and renewal is None and state is not State.EXPIRED
                else bool(will_renew) and kind == AUTO_RENEWABLE and state is not State.EXPIRED
            ),
            product_id=product,
            product_refs=(product,) if product else (),
            raw_state=raw_state,
            environment=base["environment"] or "production",
        )
        _check_status(snapshot, status, tx, kind, warnings)

    return AppleFacts(
        **base,
        original_transaction_id=original,
        transaction_id=_text(tx.get("transactionId")),
        product_id=product,
        product_type=_text(tx.get("type")),
        app_account_token=_text(tx.get("appAccountToken")) or _text(renewal_info.get("appAccountToken")),
        app_transaction_id=_text(tx.get("appTransactionId")) or _text(renewal_info.get("appTransactionId")),
        ownership_type=ownership,
        family_shared=ownership == "FAMILY_SHARED",
        grants_entitlements=kind != CONSUMABLE,
        quantity=tx.get("quantity") if isinstance(tx.get("quantity"), int) else None,
        snapshot=snapshot,
        revocation=_revocation(tx, base["event_type"], period_end, as_of, warnings),
        product_refs=(product,) if product else (),
        auto_renew_product_id=_text(renewal_info.get("autoRenewProductId")),
        will_renew=will_renew,
        subscription_status=status,
        expiration_intent=intent,
        revocation_reason=revocation_reason,
        needs_status=needs_status,
        warnings=tuple(warnings),
    )


def _product_type(tx: Mapping, renewal: Mapping | None, warnings: list[str]) -> str | None:
    """Apple's product type; without one, a transaction with an expiry or renewal info is a subscription."""
    raw = _text(tx.get("type"))
    if raw in PRODUCT_TYPES:
        return raw
    inferred = AUTO_RENEWABLE if (tx.get("expiresDate") is not None or renewal) else None
    if raw is None and not tx:
        return inferred
    what = f"unknown type {raw!r}" if raw is not None else "transaction without type"
    if inferred:
        warnings.append(f"{what} kept raw: read as an auto-renewable subscription (it has an expiry)")
    else:
        warnings.append(f"{what} kept raw: no state change (Parity cannot tell what it grants)")
    return inferred


def _period_end(tx: Mapping, kind: str | None, as_of: datetime, warnings: list[str]) -> datetime | None:
    """The end of what this transaction paid for (the `expires_at` of its snapshot, the `covers_until`
    of its revocation): the expiry; a consumable's purchase moment; None for a non-consumable."""
    if kind == NON_CONSUMABLE:
        return None
    if kind == CONSUMABLE:
        return _moment(tx.get("purchaseDate"), "purchaseDate", warnings) or as_of
    expires = _moment(tx.get("expiresDate"), "expiresDate", warnings)
    if expires is None and kind == AUTO_RENEWABLE and tx:
        warnings.append("auto-renewable transaction without expiresDate")
    if expires is None and kind == NON_RENEWING:
        warnings.append("non-renewing subscription without expiresDate: granted without end")
    return expires


def _state(
    tx: Mapping,
    renewal: Mapping | None,
    status: int | None,
    kind: str,
    period_end: datetime | None,
    as_of: datetime,
    base: dict,
    warnings: list[str],
) -> tuple[State, datetime | None]:
    """The store state and grace end the facts describe (revocations are applied apart)."""
    if kind == NON_CONSUMABLE:
        return State.ACTIVE, None
    if kind == CONSUMABLE:
        return State.EXPIRED, None  # delivered at purchase; recorded, never granting access
    if kind == NON_RENEWING:
        return (State.EXPIRED if period_end is not None and period_end <= as_of else State.ACTIVE), None

    renewal_info = renewal or {}
    grace_end = _moment(renewal_info.get("gracePeriodExpiresDate"), "gracePeriodExpiresDate", warnings)
    retrying = renewal_info.get("isInBillingRetryPeriod") is True
    lapsed = period_end is None or period_end <= as_of
    if lapsed:
        if grace_end is not None and grace_end > as_of:
            state = State.GRACE_PERIOD
        elif retrying:
            state = State.BILLING_RETRY
        elif renewal is None and status in (3, 4):
            state = SUBSCRIPTION_STATUSES[status]  # the API's word when no renewal info came with it
            if state is State.GRACE_PERIOD:
                warnings.append("in grace by its status, without renewal info: grace end unknown")
        else:
            state = State.EXPIRED
    elif _free_trial(tx):
        state = State.TRIALING
    else:
        state = State.ACTIVE

    # Where Apple's notification states the outcome, it wins over the facts.
    event_type, subtype = base["event_type"], base["subtype"]
    if event_type == "DID_FAIL_TO_RENEW" and subtype == "GRACE_PERIOD":
        state = State.GRACE_PERIOD
        if grace_end is None:
            warnings.append("DID_FAIL_TO_RENEW/GRACE_PERIOD without gracePeriodExpiresDate: grace end unknown")
    elif event_type == "DID_FAIL_TO_RENEW" and subtype is None and lapsed:
        state = State.BILLING_RETRY  # (signed before the paid period ends, the period still counts)
    elif event_type == "GRACE_PERIOD_EXPIRED":
        state = State.BILLING_RETRY
    elif event_type == "EXPIRED":
        state = State.EXPIRED
    return state, (grace_end if state is State.GRACE_PERIOD else None)


def _free_trial(tx: Mapping) -> bool:
    """A free-trial offer: offerDiscountType FREE_TRIAL; older payloads: an introductory offer at price 0."""
    discount = tx.get("offerDiscountType")
    if discount is not None:
        return discount == "FREE_TRIAL"
    return tx.get("offerType") == 1 and tx.get("price") == 0


def _revocation(
    tx: Mapping, event_type: str, period_end: datetime | None, as_of: datetime, warnings: list[str]
) -> Revocation | None:
    """REFUND and REVOKE revoke the transaction, REFUND_REVERSED lifts that; any other signed
    transaction carrying a revocationDate says it is revoked (as of the notification's signedDate)."""
    if event_type in ("REFUND", "REVOKE"):
        active = True
        if tx.get("revocationDate") is None:
            warnings.append(f"{event_type} of a transaction without revocationDate")
    elif event_type == "REFUND_REVERSED":
        active = False
    elif tx.get("revocationDate") is not None:
        active = True
    else:
        return None
    transaction_id = _text(tx.get("transactionId"))
    if transaction_id is None:
        warnings.append(f"{event_type or 'transaction'} revocation without transactionId: not applied")
        return None
    # REVOKE withdraws Family Sharing access: not a refund by the user who held it.
    return Revocation(f"transaction:{transaction_id}", period_end, active, as_of, refund=event_type != "REVOKE")


def _check_status(snapshot: Snapshot, status: int | None, tx: Mapping, kind: str, warnings: list[str]) -> None:
    """Apple's own summary (`status`) against the state read from the facts: a disagreement is logged."""
    if status is None or kind != AUTO_RENEWABLE:
        return
    said = SUBSCRIPTION_STATUSES.get(status)
    if said is None:
        return  # unknown, warned already
    read = State.REVOKED if tx.get("revocationDate") is not None else snapshot.store_state
    if read is State.TRIALING:
        read = State.ACTIVE
    if said is not read:
        warnings.append(f"subscription status {status} ({said.value}) differs from the facts ({read.value})")


def _raw_state(event_type: str, subtype: str | None) -> str:
    return f"{event_type}/{subtype}" if subtype else event_type


# --------------------------------------------------------------------------- tolerant readers


def _as_verified(notification: VerifiedNotification | Mapping[str, Any]) -> VerifiedNotification:
    if isinstance(notification, VerifiedNotification):
        return notification
    return VerifiedNotification.from_document(notification)


def _text(value: Any) -> str | None:
    if isinstance(value, str) and value.strip():
        return value.strip()
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)  # ids sent as numbers
    return None


def _first_mapping(payload: Mapping, *keys: str) -> Mapping:
    for key in keys:
        value = payload.get(key)
        if isinstance(value, Mapping):
            return value
    return {}


def _moment(value: Any, name: str, warnings: list[str]) -> datetime | None:
    """Apple's times are UNIX milliseconds; anything else is a warning, never a crash."""
    if value is None:
        return None
    if isinstance(value, bool):
        warnings.append(f"{name} {value!r} is not a time in milliseconds: ignored")
        return None
    try:
        return from_epoch_ms(value)
    except (TypeError, ValueError, OverflowError, OSError):
        warnings.append(f"{name} {value!r} is not a time in milliseconds: ignored")
        return None


def _enum_int(value: Any, known: Mapping[int, Any], name: str, warnings: list[str]) -> int | None:
    """An integer enum value; unknown values are kept raw (when integers) and reported."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        warnings.append(f"unknown {name} {value!r} ignored")
        return None
    if value not in known:
        warnings.append(f"unknown {name} {value!r} kept raw")
    return value


def _environment(*values: Any, warnings: list[str]) -> str | None:
    """The first environment given (the payload's before the transaction's), mapped to Parity's names;
    an unknown one anywhere is reported, and kept raw when it is the one used."""
    chosen = None
    for value in values:
        raw = _text(value)
        if raw is None:
            continue
        if raw not in ENVIRONMENTS:
            warnings.append(f"unknown environment {raw!r} kept raw")
        if chosen is None:
            chosen = ENVIRONMENTS.get(raw, raw)
    return chosen

