"""`AppleFacts`: what one notification (or one verified transaction) says, built in one place (pure).

How the App Store's states map onto Parity's: docs/stores/app_store.md.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, NamedTuple

from ..model import Delivery, PurchaseUpdate, Revocation, Snapshot, State, Store, purchase_id
from ..readers import enum, text_or_number
from .state import check_status, paid_until, product_kind, transaction_revocation, transaction_state
from .vocabulary import (
    AUTO_RENEW_STATUSES,
    AUTO_RENEWABLE,
    CONSUMABLE,
    ENVIRONMENTS,
    EXPIRATION_INTENTS,
    OFFER_DISCOUNT_TYPES,
    OFFER_TYPES,
    OWNERSHIP_TYPES,
    REVOCATION_REASONS,
)


class Event(NamedTuple):
    """The fields every fact of one notification (or one receipt) shares."""

    event_id: str
    event_type: str
    subtype: str | None
    occurred_at: datetime
    environment: str | None
    bundle_id: str | None


class AppleFacts(NamedTuple):
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
    warnings: tuple[str, ...] = ()

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
            family_shared=True if self.family_shared else None,
            consumable=True if self.product_type == CONSUMABLE else None,
            delivery=self.delivery,
            environment=self.environment,
            app=self.bundle_id,
        )

    @property
    def delivery(self) -> Delivery | None:
        """A consumable's transaction, delivered (not revoked): what the app's backend credits once."""
        if self.product_type != CONSUMABLE or not self.transaction_id or (self.revocation and self.revocation.active):
            return None
        purchased = self.snapshot.expires_at if self.snapshot is not None else None  # its purchaseDate
        return Delivery(self.transaction_id, self.quantity or 1, purchased)


def purchase_facts(
    event: Event,
    tx: Mapping | None,
    renewal: Mapping | None,
    status: int | None,
    scope: str,
    warnings: list[str],
) -> AppleFacts:
    """The facts of one signed transaction and its renewal info, within `event`.

    `status`: Apple's subscription status, when one came with them. `scope`: how far the transaction
    speaks for its purchase: "purchase" (a subscription's latest), "transaction" (maybe an older one),
    "receipt" (a lone transaction from the receipts path), "unknown" (a type Parity does not know).
    """
    tx = tx or {}
    renewal_info = renewal or {}
    original = _first_text("originalTransactionId", tx, renewal_info)
    if original is None:
        warnings.append(f"{event.event_type} names no originalTransactionId: concerns no purchase")
        return AppleFacts(**event._asdict(), subscription_status=status, warnings=tuple(warnings))
    product = _first_text("productId", tx, renewal_info)
    ownership = text_or_number(tx.get("inAppOwnershipType"))
    if ownership is not None and ownership not in OWNERSHIP_TYPES:
        warnings.append(f"unknown inAppOwnershipType {ownership!r} kept raw (treated as purchased)")
    kind = product_kind(tx, renewal, warnings)
    will_renew = _will_renew(event, renewal_info, warnings)
    revocation_reason = enum(tx.get("revocationReason"), REVOCATION_REASONS, "revocationReason", warnings)
    intent = enum(renewal_info.get("expirationIntent"), EXPIRATION_INTENTS, "expirationIntent", warnings)
    _check_offer(tx, warnings)
    period_end = paid_until(tx, kind, event.occurred_at, warnings)
    snapshot, needs_status = None, False
    if _tells_state(tx, scope, kind, event.event_type, warnings) and kind is not None:
        needs_status = scope == "receipt" and _lone_and_lapsed(kind, renewal, status, period_end, event.occurred_at)
        if needs_status:
            warnings.append("a lone transaction whose period ended cannot tell expired from renewed: ask the API")
        else:
            snapshot = _snapshot(event, tx, renewal, status, kind, period_end, will_renew, product, warnings)
    return AppleFacts(
        **event._asdict(),
        original_transaction_id=original,
        transaction_id=text_or_number(tx.get("transactionId")),
        product_id=product,
        product_type=text_or_number(tx.get("type")),
        app_account_token=_first_text("appAccountToken", tx, renewal_info),
        app_transaction_id=_first_text("appTransactionId", tx, renewal_info),
        ownership_type=ownership,
        family_shared=ownership == "FAMILY_SHARED",
        grants_entitlements=kind != CONSUMABLE,
        quantity=tx.get("quantity") if isinstance(tx.get("quantity"), int) else None,
        snapshot=snapshot,
        revocation=transaction_revocation(tx, event.event_type, period_end, event.occurred_at, warnings),
        product_refs=(product,) if product else (),
        auto_renew_product_id=text_or_number(renewal_info.get("autoRenewProductId")),
        will_renew=will_renew,
        subscription_status=status,
        expiration_intent=intent,
        revocation_reason=revocation_reason,
        needs_status=needs_status,
        warnings=tuple(warnings),
    )


def _first_text(key: str, *sources: Mapping[str, Any]) -> str | None:
    """The first source's `key` that holds one (the transaction's before the renewal info's)."""
    return next((value for value in (text_or_number(source.get(key)) for source in sources) if value), None)


def _will_renew(event: Event, renewal_info: Mapping[str, Any], warnings: list[str]) -> bool | None:
    """Apple's autoRenewStatus; without one, what DID_CHANGE_RENEWAL_STATUS's subtype says."""
    auto_renew = enum(renewal_info.get("autoRenewStatus"), AUTO_RENEW_STATUSES, "autoRenewStatus", warnings)
    will_renew = AUTO_RENEW_STATUSES.get(auto_renew) if auto_renew is not None else None
    if will_renew is None and event.event_type == "DID_CHANGE_RENEWAL_STATUS" and event.subtype is not None:
        will_renew = {"AUTO_RENEW_ENABLED": True, "AUTO_RENEW_DISABLED": False}.get(event.subtype)
    return will_renew


def _check_offer(tx: Mapping[str, Any], warnings: list[str]) -> None:
    """Reports offer values Apple has not documented (they are read as no free trial)."""
    enum(tx.get("offerType"), OFFER_TYPES, "offerType", warnings)
    discount = text_or_number(tx.get("offerDiscountType"))
    if discount is not None and discount not in OFFER_DISCOUNT_TYPES:
        warnings.append(f"unknown offerDiscountType {discount!r} kept raw (not a free trial)")


def _lone_and_lapsed(
    kind: str | None, renewal: Mapping | None, status: int | None, period_end: datetime | None, as_of: datetime
) -> bool:
    """An auto-renewable transaction alone (no renewal info, no status) whose period ended: it cannot
    tell "expired" from "renewed since"."""
    lapsed = period_end is None or period_end <= as_of
    return kind == AUTO_RENEWABLE and renewal is None and status is None and lapsed


def _tells_state(tx: Mapping[str, Any], scope: str, kind: str | None, event_type: str, warnings: list[str]) -> bool:
    """Whether the transaction can describe its purchase's state (else the facts carry no snapshot)."""
    if not tx:
        warnings.append(f"{event_type} without a signed transaction: no state change")
        return False
    if scope == "unknown" or kind is None:
        return False  # warned already: an unknown type changes no state, an unknown product grants nothing
    if kind == AUTO_RENEWABLE and tx.get("isUpgraded") is True:
        return False  # superseded by the upgrade's own transaction, which describes the subscription
    return not (kind == AUTO_RENEWABLE and scope == "transaction")  # maybe older than the current one


def _snapshot(
    event: Event,
    tx: Mapping[str, Any],
    renewal: Mapping[str, Any] | None,
    status: int | None,
    kind: str,
    period_end: datetime | None,
    will_renew: bool | None,
    product: str | None,
    warnings: list[str],
) -> Snapshot:
    """The purchase's state as of the event; Apple's own `status` is checked against it."""
    as_of = event.occurred_at
    state, grace_end = transaction_state(
        tx, renewal, status, kind, period_end, as_of, (event.event_type, event.subtype), warnings
    )
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
        raw_state=f"{event.event_type}/{event.subtype}" if event.subtype else event.event_type,
        environment=event.environment or "production",
        # Apple keeps retrying the payment after the grace period, without access (GRACE_PERIOD_EXPIRED).
        lapses_to=State.BILLING_RETRY if state is State.GRACE_PERIOD else None,
    )
    check_status(snapshot, status, tx, kind, warnings)
    return snapshot


def environment(*values: Any, warnings: list[str]) -> str | None:
    """The first environment given (the payload's before the transaction's), mapped to Parity's names;
    an unknown one anywhere is reported, and kept raw when it is the one used."""
    chosen = None
    for value in values:
        raw = text_or_number(value)
        if raw is None:
            continue
        if raw not in ENVIRONMENTS:
            warnings.append(f"unknown environment {raw!r} kept raw")
        if chosen is None:
            chosen = ENVIRONMENTS.get(raw, raw)
    return chosen
