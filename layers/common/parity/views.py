"""The contract's JSON shapes of the HTTP answers, built from the services' results (one place for
every response body). The events Parity publishes are in `parity.changes`."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .domain.timeutil import rfc3339

if TYPE_CHECKING:
    from datetime import datetime

    from .domain.catalog import Catalog
    from .domain.entitlements import Entitlement
    from .domain.model import Purchase
    from .domain.ownership import AuditRecord
    from .domain.users import UserState
    from .operator_results import Assignment, MergeResult, UserReport
    from .ports import EventSummary
    from .results import ReceiptOutcome, UserEntitlements
    from .signing import EntitlementSigner

# The 202 answer's message: the receipt is queued for a retry.
PENDING_MESSAGE = "The store could not be reached; the receipt will be validated shortly."


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
        "environment": entitlement.environment,
    }


def purchase_view(purchase: Purchase, user_id: str, catalog: Catalog, now: datetime | None = None) -> dict:
    """A purchase as of `now`: its state is the one reads show then (`Purchase.state_at`)."""
    return {
        "purchaseId": purchase.purchase_id,
        "store": purchase.store.value,
        "productId": purchase.product_id,
        "state": (purchase.state if now is None else purchase.state_at(now)).value,
        "expiresAt": rfc3339(purchase.expires_at),
        "entitlements": list(catalog.entitlements_of(purchase)),
        "ownership": purchase.ownership_of(user_id).value,
        "environment": purchase.environment,
        "app": purchase.app,
    }


def signed_claims(read: UserEntitlements) -> dict:
    """The payload of `signedEntitlements`: who, when, until when (`cacheUntil`), and what, as in the answer."""
    return {
        "sub": read.user_id,
        "iat": int(read.now.timestamp()),
        "exp": int(read.cache_until.timestamp()),
        "entitlements": {
            eid: {
                "active": e.active,
                "state": e.state.value,
                "expiresAt": rfc3339(e.expires_at),
                "store": e.store.value,
                "environment": e.environment,
            }
            for eid, e in read.entitlements.items()
        },
    }


def entitlements_response(read: UserEntitlements, signer: EntitlementSigner) -> dict:
    """`GET /v1/users/{userId}/entitlements`, and a claimed receipt's answer, signed by `signer`."""
    return {
        "userId": read.user_id,
        "appAccountToken": read.app_account_token,
        "entitlements": {eid: entitlement_view(e) for eid, e in read.entitlements.items()},
        "purchases": [
            purchase_view(p, read.user_id, read.catalog, read.now)
            for p in sorted(read.purchases, key=lambda p: p.purchase_id)
        ],
        "requestDate": rfc3339(read.now),
        "cacheUntil": rfc3339(read.cache_until),
        "signedEntitlements": signer.sign(signed_claims(read)),
    }


def receipt_response(outcome: ReceiptOutcome, signer: EntitlementSigner) -> tuple[int, dict]:
    """`POST /v1/users/{userId}/receipts`: 200 and the entitlements once claimed; 202 while pending."""
    if outcome.entitlements is None:
        return 202, {"status": "pending", "message": PENDING_MESSAGE}
    answer = entitlements_response(outcome.entitlements, signer)
    if outcome.restored is not None:
        answer["restored"] = {"claimed": list(outcome.restored.claimed), "refused": list(outcome.restored.refused)}
    return 200, answer


def webhook_view(event_id: str, duplicate: bool) -> dict:
    """A store webhook's 200: the event is stored and queued (a duplicate delivery too)."""
    return {"received": True, "eventId": event_id, "duplicate": duplicate}


def error_body(code: str, message: str) -> dict:
    return {"error": {"code": code, "message": message}}


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


def assignment_view(assignment: Assignment) -> dict:
    """`PUT /v1/admin/purchases/{purchaseId}/owner`."""
    return {
        "purchaseId": assignment.purchase.purchase_id,
        "ownerIds": list(assignment.purchase.owner_ids),
        "ownership": "manual",
        "previousOwnerIds": list(assignment.previous_owner_ids),
    }


def merge_view(merge: MergeResult) -> dict:
    """`POST /v1/admin/users/{userId}/merge`."""
    return {
        "userId": merge.user_id,
        "fromUserId": merge.from_user_id,
        "purchasesMoved": merge.purchases_moved,
        "merged": True,
    }


def admin_user_view(report: UserReport) -> dict:
    """`GET /v1/admin/users/{userId}`: what an operator needs to judge who may use what, and why."""
    user, now = report.user, report.now
    return {
        "userId": user.user_id,
        "appAccountToken": user.app_account_token,
        "aliases": list(user.aliases),
        "entitlements": {eid: entitlement_view(e) for eid, e in report.entitlements.items()},
        "purchases": [
            {
                **purchase_view(p, user.user_id, report.catalog, now),
                "ownerIds": list(p.owner_ids),
                "manualOwner": p.manual_owner,
                "willRenew": p.will_renew,
                "gracePeriodExpiresAt": rfc3339(p.grace_ends_at if p.state_at(now) is p.state else None),
                "grantsAccess": p.grants_access(now),
                "events": [event_view(e) for e in report.events.get(p.purchase_id, ())],
            }
            for p in sorted(user.purchases, key=lambda p: p.purchase_id)
        ],
        "claims": [audit_view(r) for r in report.claims],
        "refusals": [audit_view(r) for r in report.refusals],
        "flags": {
            "refundAbuse": {
                "flagged": user.flagged_at is not None,
                "flaggedAt": rfc3339(user.flagged_at),
                "refunds": user.refunds,
                "threshold": report.refund_threshold,
                "history": [audit_view(r) for r in report.flag_history],
            },
            "doubleBilling": [
                {"entitlement": eid, "purchaseIds": list(purchase_ids)}
                for eid, purchase_ids in report.double_billing.items()
            ],
        },
        "requestDate": rfc3339(now),
    }


def grant_view(grant: Purchase, user_id: str, catalog: Catalog, now) -> dict:
    """`POST /v1/admin/users/{userId}/grants` (201) and `DELETE .../grants/{purchaseId}` (200): the
    manual grant as a purchase of the user's, with whether it gives access now."""
    return {
        **purchase_view(grant, user_id, catalog),
        "userId": user_id,
        "entitlement": next(iter(grant.product_refs), None),
        "grantsAccess": grant.grants_access(now),
    }


def flag_view(user: UserState, threshold: int) -> dict:
    """`DELETE /v1/admin/users/{userId}/flags/refund-abuse`: the flag as it stands after."""
    return {
        "userId": user.user_id,
        "refundAbuse": {
            "flagged": user.flagged_at is not None,
            "flaggedAt": rfc3339(user.flagged_at),
            "refunds": user.refunds,
            "threshold": threshold,
        },
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
