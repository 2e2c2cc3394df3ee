"""A fetched SubscriptionPurchaseV2 → `GoogleFacts` (pure; the state table: docs/stores/play_store.md)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, NamedTuple

from ..model import ACCESS_STATES, Revocation, Snapshot, State
from ..readers import object_or_empty, text, timestamp
from .facts import Fetched, GoogleFacts, acknowledgement_state
from .vocabulary import (
    ACK_PENDING,
    CANCELED,
    CANCELLATION_CONTEXTS,
    OFFER_PHASES,
    PAID_STATES,
    RENEWING_STATES,
    SUBSCRIPTION,
    SUBSCRIPTION_REVOKED,
    SUBSCRIPTION_STATES,
    UNSPECIFIED,
)


class LineItems(NamedTuple):
    """What a subscription's line items (a base plan and its add-ons) say together."""

    items: list[Mapping[str, Any]]
    products: tuple[str, ...]
    expires_at: datetime | None  # the latest expiryTime
    free_trial: bool  # every item stating its offer phase is in a free trial
    renewing: bool  # any item's plan renews


def subscription_facts(
    purchase_token: str,
    resource: Mapping[str, Any],
    as_of: datetime,
    event_id: str,
    notification_type: int | None = None,
    *,
    event_time: datetime | None = None,
) -> GoogleFacts:
    """A SubscriptionPurchaseV2 fetched at `as_of` → facts (docs/stores/play_store.md: the table, "Ordering").

    `notification_type` is the subscriptionNotification's type that triggered the fetch (None: the
    receipts route or a reconciliation); only SUBSCRIPTION_REVOKED adds to the resource (a revocation:
    the resource of a revoked subscription reads like an expired one). `event_time`: its eventTimeMillis.
    """
    fetched = Fetched.read(SUBSCRIPTION, purchase_token, resource, as_of, event_id, notification_type, event_time)
    res, warnings = fetched.resource, fetched.warnings
    items = _line_items(fetched)
    raw_state = text(res.get("subscriptionState"))
    cancel_reason = _oneof(res.get("canceledStateContext"), CANCELLATION_CONTEXTS, "canceledStateContext", warnings)
    environment = "sandbox" if res.get("testPurchase") is not None else "production"
    ack = acknowledgement_state(res, warnings)
    will_renew = items.renewing if raw_state in RENEWING_STATES or raw_state not in SUBSCRIPTION_STATES else False
    snapshot = _snapshot(fetched, raw_state, items, will_renew, environment)
    return fetched.facts(
        items.products,
        environment=environment,
        **_account_identifiers(res),
        linked_purchase_token=text(res.get("linkedPurchaseToken")),
        replaced=cancel_reason == "replacement",
        raw_state=raw_state,
        snapshot=snapshot,
        revocation=_revocation(fetched, items.expires_at),
        will_renew=will_renew if raw_state is not None else None,
        free_trial=items.free_trial,
        acknowledgement_state=ack,
        needs_acknowledgement=ack == ACK_PENDING and raw_state in PAID_STATES,
        order_id=_latest_order(res, items.items),
        start_time=timestamp(res.get("startTime"), "startTime", warnings),
        cancel_reason=cancel_reason,
        auto_resume_at=timestamp(
            object_or_empty(res.get("pausedStateContext")).get("autoResumeTime"),
            "pausedStateContext.autoResumeTime",
            warnings,
        ),
    )


def _line_items(fetched: Fetched) -> LineItems:
    warnings = fetched.warnings
    raw_items = fetched.resource.get("lineItems")
    if raw_items is not None and not isinstance(raw_items, list):
        warnings.append("lineItems is not a list: ignored")
        raw_items = None
    items = [item for item in raw_items or [] if isinstance(item, Mapping)]
    if len(items) != len(raw_items or []):
        warnings.append("line items that are not objects ignored")
    if fetched.answered_object and not items:
        warnings.append("subscription without line items: no product, no expiry")
    products = tuple(dict.fromkeys(p for p in (text(item.get("productId")) for item in items) if p))
    expiries = [timestamp(item.get("expiryTime"), "lineItems[].expiryTime", warnings) for item in items]
    phases = [_oneof(item.get("offerPhase"), OFFER_PHASES, "lineItems[].offerPhase", warnings) for item in items]
    stated = [phase for phase in phases if phase is not None]
    return LineItems(
        items=items,
        products=products,
        expires_at=max((moment for moment in expiries if moment is not None), default=None),
        free_trial=bool(stated) and all(phase == "free_trial" for phase in stated),
        renewing=any(_auto_renew(item, warnings) for item in items),
    )


def _snapshot(
    fetched: Fetched, raw_state: str | None, items: LineItems, will_renew: bool, environment: str
) -> Snapshot | None:
    """The token's state, or None when the resource cannot tell it (no state, or access without an end)."""
    warnings, expires_at = fetched.warnings, items.expires_at
    if raw_state is None:
        if fetched.answered_object:
            warnings.append("subscription without subscriptionState: no state change")
        return None
    state = SUBSCRIPTION_STATES.get(raw_state)
    if state is None:
        what = "unspecified" if raw_state == UNSPECIFIED else "unknown"
        warnings.append(f"{what} subscriptionState {raw_state!r} kept raw: read as pending")
        state = State.PENDING
    if raw_state == CANCELED and expires_at is not None and expires_at <= fetched.as_of:
        state = State.EXPIRED  # canceled, and its last period is over
    if state is State.ACTIVE and items.free_trial:
        state = State.TRIALING
    if state in ACCESS_STATES and expires_at is None:
        warnings.append(f"{raw_state} without any lineItems[].expiryTime: cannot tell until when; no state change")
        return None
    return fetched.snapshot(
        state,
        items.products,
        expires_at=expires_at,
        will_renew=will_renew,
        raw_state=raw_state,
        environment=environment,
        grace_ends_at=expires_at if state is State.GRACE_PERIOD else None,
    )


def _revocation(fetched: Fetched, expires_at: datetime | None) -> Revocation | None:
    """SUBSCRIPTION_REVOKED revokes the token for the period the resource shows."""
    if fetched.notification_type != SUBSCRIPTION_REVOKED or fetched.purchase_token is None:
        return None
    if expires_at is None:
        fetched.warnings.append(
            "SUBSCRIPTION_REVOKED of a subscription without expiryTime: revokes its current period"
        )
    # Ordered by the fetch: a later fetch of the revoked token knows its final period best.
    return Revocation(f"revoked:{fetched.purchase_token}", expires_at, True, fetched.as_of)


def _account_identifiers(res: Mapping[str, Any]) -> dict[str, str | None]:
    """The buyer's obfuscated ids, and those of the expired subscription a resubscription replaces."""
    identifiers = object_or_empty(res.get("externalAccountIdentifiers"))
    out_of_app = object_or_empty(res.get("outOfAppPurchaseContext"))
    expired_identifiers = object_or_empty(out_of_app.get("expiredExternalAccountIdentifiers"))
    return {
        "app_account_token": text(identifiers.get("obfuscatedExternalAccountId")),
        "profile_token": text(identifiers.get("obfuscatedExternalProfileId")),
        "expired_purchase_token": text(out_of_app.get("expiredPurchaseToken")),
        "expired_app_account_token": text(expired_identifiers.get("obfuscatedExternalAccountId")),
    }


def _auto_renew(item: Mapping, warnings: list[str]) -> bool:
    plan = item.get("autoRenewingPlan")
    if not isinstance(plan, Mapping):
        return False  # prepaid (or unsaid): does not renew
    enabled = plan.get("autoRenewEnabled")
    if enabled is not None and not isinstance(enabled, bool):
        warnings.append(f"autoRenewEnabled {enabled!r} is not a boolean: read as off")
    return enabled is True


def _oneof(value: Any, fields: Mapping[str, str], name: str, warnings: list[str]) -> str | None:
    """Which of a proto "oneof" object's `fields` is set (`offerPhase`, `canceledStateContext`), by its meaning."""
    if value is None:
        return None
    if not isinstance(value, Mapping):
        warnings.append(f"{name} is not an object: ignored")
        return None
    for key, meaning in fields.items():
        if value.get(key) is not None:  # `"freeTrial": {}`: presence, not truthiness
            return meaning
    if value:
        warnings.append(f"unknown {name} {sorted(value)} kept raw")
    return None


def _latest_order(res: Mapping, items: list[Mapping]) -> str | None:
    for item in items:
        order = text(item.get("latestSuccessfulOrderId"))
        if order:
            return order
    return text(res.get("latestOrderId"))  # older resources (deprecated field)
