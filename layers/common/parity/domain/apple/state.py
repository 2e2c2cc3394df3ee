"""What one signed transaction (and its renewal info) says about its purchase: the kind of product, the
end of its period, its state and its revocation (pure; the rules: docs/stores/app_store.md)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from ..model import Revocation, Snapshot, State
from ..readers import millis, text_or_number
from .vocabulary import AUTO_RENEWABLE, CONSUMABLE, NON_CONSUMABLE, NON_RENEWING, PRODUCT_TYPES, SUBSCRIPTION_STATUSES


def product_kind(tx: Mapping, renewal: Mapping | None, warnings: list[str]) -> str | None:
    """Apple's product type; without one, a transaction with an expiry or renewal info is a subscription."""
    raw = text_or_number(tx.get("type"))
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


def paid_until(tx: Mapping, kind: str | None, as_of: datetime, warnings: list[str]) -> datetime | None:
    """The end of what this transaction paid for (the `expires_at` of its snapshot, the `covers_until`
    of its revocation): the expiry; a consumable's purchase moment; None for a non-consumable."""
    if kind == NON_CONSUMABLE:
        return None
    if kind == CONSUMABLE:
        return millis(tx.get("purchaseDate"), "purchaseDate", warnings) or as_of
    expires = millis(tx.get("expiresDate"), "expiresDate", warnings)
    if expires is None and kind == AUTO_RENEWABLE and tx:
        warnings.append("auto-renewable transaction without expiresDate")
    if expires is None and kind == NON_RENEWING:
        warnings.append("non-renewing subscription without expiresDate: granted without end")
    return expires


def transaction_state(
    tx: Mapping,
    renewal: Mapping | None,
    status: int | None,
    kind: str,
    period_end: datetime | None,
    as_of: datetime,
    event: tuple[str, str | None],
    warnings: list[str],
) -> tuple[State, datetime | None]:
    """The store state and grace end the facts describe (revocations are applied apart).

    `event` is the notification's (type, subtype): where it states the outcome, it wins over the facts.
    """
    if kind == NON_CONSUMABLE:
        return State.ACTIVE, None
    if kind == CONSUMABLE:
        return State.EXPIRED, None  # delivered at purchase; recorded, never granting access
    if kind == NON_RENEWING:
        return (State.EXPIRED if period_end is not None and period_end <= as_of else State.ACTIVE), None

    renewal_info = renewal or {}
    grace_end = millis(renewal_info.get("gracePeriodExpiresDate"), "gracePeriodExpiresDate", warnings)
    lapsed = period_end is None or period_end <= as_of
    if not lapsed:
        state = State.TRIALING if _free_trial(tx) else State.ACTIVE
    elif grace_end is not None and grace_end > as_of:
        state = State.GRACE_PERIOD
    elif renewal_info.get("isInBillingRetryPeriod") is True:
        state = State.BILLING_RETRY
    elif renewal is None and status in (3, 4):
        state = SUBSCRIPTION_STATUSES[status]  # the API's word when no renewal info came with it
        if state is State.GRACE_PERIOD:
            warnings.append("in grace by its status, without renewal info: grace end unknown")
    else:
        state = State.EXPIRED
    state = _stated_outcome(state, event, lapsed, grace_end, warnings)
    return state, (grace_end if state is State.GRACE_PERIOD else None)


def _stated_outcome(
    state: State, event: tuple[str, str | None], lapsed: bool, grace_end: datetime | None, warnings: list[str]
) -> State:
    """The state Apple's notification type states, where it states one; else `state`."""
    event_type, subtype = event
    if event_type == "DID_FAIL_TO_RENEW" and subtype == "GRACE_PERIOD":
        if grace_end is None:
            warnings.append("DID_FAIL_TO_RENEW/GRACE_PERIOD without gracePeriodExpiresDate: grace end unknown")
        return State.GRACE_PERIOD
    if event_type == "DID_FAIL_TO_RENEW" and subtype is None and lapsed:
        return State.BILLING_RETRY  # (signed before the paid period ends, the period still counts)
    if event_type == "GRACE_PERIOD_EXPIRED":
        return State.BILLING_RETRY
    if event_type == "EXPIRED":
        return State.EXPIRED
    return state


def _free_trial(tx: Mapping) -> bool:
    """A free-trial offer: offerDiscountType FREE_TRIAL; older payloads: an introductory offer at price 0."""
    discount = tx.get("offerDiscountType")
    if discount is not None:
        return discount == "FREE_TRIAL"
    return tx.get("offerType") == 1 and tx.get("price") == 0


def transaction_revocation(
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
    transaction_id = text_or_number(tx.get("transactionId"))
    if transaction_id is None:
        warnings.append(f"{event_type or 'transaction'} revocation without transactionId: not applied")
        return None
    # REVOKE withdraws Family Sharing access: not a refund by the user who held it.
    return Revocation(f"transaction:{transaction_id}", period_end, active, as_of, refund=event_type != "REVOKE")


def check_status(snapshot: Snapshot, status: int | None, tx: Mapping, kind: str, warnings: list[str]) -> None:
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

