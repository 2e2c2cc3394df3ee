"""The details of the events Parity publishes on its bus: `entitlement.changed` and the user notices.

Each detail carries a `changeId` stable across retries, so that consumers can drop duplicates.
"""

from __future__ import annotations

from collections.abc import Sequence

from .domain.entitlements import EntitlementChange
from .domain.model import Delivery, Purchase
from .domain.timeutil import rfc3339
from .views import entitlement_view

# Events beyond `entitlement.changed` carry their EventBridge detail type as `type`.
USER_FLAGGED = "user.flagged_for_review"
DOUBLE_BILLING = "billing.double_billing_detected"
USER_MERGED = "user.merged"
PURCHASE_COMPLETED = "purchase.completed"


def change_detail(change: EntitlementChange, cause: str) -> dict:
    """The `entitlement.changed` event detail; `changeId` is stable across retries (dedupe on it)."""
    return {
        "changeId": f"{cause}:{change.user_id}:{change.entitlement_id}",
        "cause": cause,
        "userId": change.user_id,
        "entitlement": change.entitlement_id,
        "old": None if change.old is None else entitlement_view(change.old),
        "new": None if change.new is None else entitlement_view(change.new),
        "environment": _environment(change),
    }


def _environment(change: EntitlementChange) -> str:
    """The environment of the purchase behind the change (the new one's, else the one it leaves)."""
    held = change.new or change.old
    return held.environment if held is not None else "production"


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
    """A user merged into another: their purchases and links now land on `into_user`."""
    return _notice(USER_MERGED, "merged", cause, into_user, fromUserId=from_user)


def purchase_completed(purchase: Purchase, user_id: str, delivery: Delivery, cause: tuple[str, str]) -> dict:
    """A consumable delivered to `user_id`, for the app's backend to credit once. Its `id` (and
    `changeId`) is the store's id of the payment (App Store transactionId, Play orderId): published
    once per purchase, and the same on every retry of that publication."""
    return {
        "type": PURCHASE_COMPLETED,
        "changeId": delivery.transaction_id,
        "id": delivery.transaction_id,
        "cause": ":".join(cause),
        "userId": user_id,
        "purchaseId": purchase.purchase_id,
        "store": purchase.store.value,
        "productId": purchase.product_id,
        "quantity": delivery.quantity,
        "purchasedAt": rfc3339(delivery.purchased_at),
        "environment": purchase.environment,
    }


USER_ERASED = "user.erased"


def erased_notice(user_id: str, cause: tuple[str, str]) -> dict:
    """An account erased: the app's backend deletes what it keeps about the user too."""
    return _notice(USER_ERASED, "erased", cause, user_id)
