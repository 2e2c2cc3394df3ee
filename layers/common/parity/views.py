"""The contract's JSON shapes, built from domain objects (one place for every response body)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

from .domain.entitlements import Catalog, Entitlement, EntitlementChange
from .domain.model import Purchase
from .domain.ownership import AuditRecord
from .domain.timeutil import rfc3339
from .domain.users import UserState
from .ports import EventSummary


def entitlement_view(entitlement: Entitlement) -> dict:
    return {
        "active": entitlement.active,
        "state": entitlement.state.value,
        "expiresAt": rfc3339(entitlement.expires_at),
        "gracePeriodExpiresAt": rfc3339(entitlement.grace_ends_at),
        "willRenew": entitlement.will_renew,
        "store": entitlement.store.value,
        "productId": entitlement.product_id,
        "purchaseId": entitlement.purchase_id,
    }


def purchase_view(purchase: Purchase, user_id: str, catalog: Catalog) -> dict:
    return {
        "purchaseId": purchase.purchase_id,
        "store": purchase.store.value,
        "productId": purchase.product_id,
        "state": purchase.state.value,
        "expiresAt": rfc3339(purchase.expires_at),
        "entitlements": list(catalog.entitlements_of(purchase)),
        "ownership": purchase.ownership_of(user_id).value,
    }


def entitlements_response(
    user_id: str,
    app_account_token: str | None,
    entitlements: Mapping[str, Entitlement],
    purchases: Sequence[Purchase],
    catalog: Catalog,
    now: datetime,
    cache_until: datetime,
) -> dict:
    return {
        "userId": user_id,
        "appAccountToken": app_account_token,
        "entitlements": {eid: entitlement_view(e) for eid, e in entitlements.items()},
        "purchases": [purchase_view(p, user_id, catalog) for p in sorted(purchases, key=lambda p: p.purchase_id)],
        "requestDate": rfc3339(now),
        "cacheUntil": rfc3339(cache_until),
    }


def change_detail(change: EntitlementChange, cause: str) -> dict:
    """The `entitlement.changed` event detail; `changeId` is stable across retries (dedupe on it)."""
    return {
        "changeId": f"{cause}:{change.user_id}:{change.entitlement_id}",
        "cause": cause,
        "userId": change.user_id,
        "entitlement": change.entitlement_id,
        "old": None if change.old is None else entitlement_view(change.old),
        "new": None if change.new is None else entitlement_view(change.new),
    }


def error_body(code: str, message: str) -> dict:
    return {"error": {"code": code, "message": message}}


# Events beyond `entitlement.changed` carry their EventBridge detail type as `type`.
USER_FLAGGED = "user.flagged_for_review"
DOUBLE_BILLING = "billing.double_billing_detected"
USER_MERGED = "user.merged"


def _notice(kind: str, key: str, cause: tuple[str, str], user_id: str, **fields) -> dict:
    """A user event's detail; `changeId` (cause and `key`) is stable across retries, as for changes."""
    cause_id = ":".join(cause)
    return {"type": kind, "changeId": f"{cause_id}:{key}", "cause": cause_id, "userId": user_id, **fields}


def review_notice(user_id: str, refunds: int, threshold: int, cause: tuple[str, str]) -> dict:
    """A user whose refunds and chargebacks reached the threshold: for review (access is unchanged)."""
    return _notice(USER_FLAGGED, f"{user_id}:flagged", cause, user_id, refunds=refunds, threshold=threshold)


def double_billing_notice(user_id: str, entitlement_id: str, purchase_ids: Sequence[str], cause: tuple[str, str]) -> dict:
    """A user paying for one entitlement in two stores at once (the customer may want to cancel one)."""
    key = f"{user_id}:{entitlement_id}:double_billing"
    return _notice(DOUBLE_BILLING, key, cause, user_id, entitlement=entitlement_id, purchaseIds=list(purchase_ids))


def merge_notice(from_user: str, into_user: str, cause: tuple[str, str]) -> dict:
    return _notice(USER_MERGED, "merged", cause, into_user, fromUserId=from_user)


def audit_view(record: AuditRecord) -> dict:
    return {
        "at": rfc3339(record.at),
        "action": record.action.value,
        "userId": record.user_id,
        "purchaseId": record.purchase_id,
        "otherUserIds": list(record.other_user_ids),
        "strategy": record.strategy.value if record.strategy else None,
        "actor": record.actor,
        "detail": record.detail,
        "source": record.source,
        "eventId": record.event_id,
    }


def event_view(event: EventSummary) -> dict:
    return {
        "source": event.source,
        "eventId": event.event_id,
        "eventType": event.event_type,
        "receivedAt": rfc3339(event.received_at),
        "processedAt": rfc3339(event.processed_at),
        "outcome": event.outcome,
    }


def admin_user_view(
    user: UserState,
    entitlements: Mapping[str, Entitlement],
    events: Mapping[str, Sequence[EventSummary]],
    claims: Sequence[AuditRecord],
    refusals: Sequence[AuditRecord],
    double_billing: Mapping[str, Sequence[str]],
    refund_threshold: int,
    catalog: Catalog,
    now: datetime,
) -> dict:
    """`GET /v1/admin/users/{userId}`: what an operator needs to judge who may use what, and why."""
    return {
        "userId": user.user_id,
        "appAccountToken": user.app_account_token,
        "aliases": list(user.aliases),
        "entitlements": {eid: entitlement_view(e) for eid, e in entitlements.items()},
        "purchases": [
            {
                **purchase_view(p, user.user_id, catalog),
                "ownerIds": list(p.owner_ids),
                "manualOwner": p.manual_owner,
                "willRenew": p.will_renew,
                "gracePeriodExpiresAt": rfc3339(p.grace_ends_at),
                "grantsAccess": p.grants_access(now),
                "events": [event_view(e) for e in events.get(p.purchase_id, ())],
            }
            for p in sorted(user.purchases, key=lambda p: p.purchase_id)
        ],
        "claims": [audit_view(r) for r in claims],
        "refusals": [audit_view(r) for r in refusals],
        "flags": {
            "refundAbuse": {
                "flagged": user.flagged_at is not None,
                "flaggedAt": rfc3339(user.flagged_at),
                "refunds": user.refunds,
                "threshold": refund_threshold,
            },
            "doubleBilling": [
                {"entitlement": eid, "purchaseIds": list(purchase_ids)} for eid, purchase_ids in double_billing.items()
            ],
        },
        "requestDate": rfc3339(now),
    }


def purchase_state(purchase: Purchase) -> dict:
    """A purchase's state as operators compare it before and after a check."""
    return {
        "state": purchase.state.value,
        "expiresAt": rfc3339(purchase.expires_at),
        "gracePeriodExpiresAt": rfc3339(purchase.grace_ends_at),
        "willRenew": purchase.will_renew,
        "ownerIds": list(purchase.owner_ids),
        "checkedAt": rfc3339(purchase.checked_at),
    }
