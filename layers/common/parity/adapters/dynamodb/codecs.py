"""Codecs: domain objects to the table's items and back (the shapes are listed in `schema`).

`*_to_item` give plain attributes (None values are left out when dumped); `item_to_*` read items
already loaded (`table.load_item`). Times are ISO 8601 text (`schema.iso`).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from ...domain import replay
from ...domain.entitlements import Entitlement
from ...domain.model import PaymentRef, Purchase, Revocation, State, Store
from ...domain.ownership import Action, AuditRecord, Strategy
from ...domain.replay import Step
from ...domain.users import UserState
from ...ports import EventSummary
from .schema import ENTITLEMENT_PREFIX, PROFILE, PURCHASE_PREFIX, event_id_of, from_iso, iso

if TYPE_CHECKING:
    from ...ports import UserWrite


def purchase_to_item(purchase: Purchase) -> dict[str, Any]:
    return {
        "purchaseId": purchase.purchase_id,
        "store": purchase.store.value,
        "storeKey": purchase.store_key,
        "productId": purchase.product_id,
        "productRefs": list(purchase.product_refs) or None,
        "storeState": purchase.store_state.value,
        "state": purchase.state.value,
        "rawState": purchase.raw_state,
        "expiresAt": iso(purchase.expires_at),
        "graceEndsAt": iso(purchase.grace_ends_at),
        "lapsesTo": purchase.lapses_to.value if purchase.lapses_to else None,
        "willRenew": purchase.will_renew,
        "environment": purchase.environment,
        "app": purchase.app,
        "ownerIds": list(purchase.owner_ids) or None,
        "manualOwner": purchase.manual_owner,
        "linkedUser": purchase.linked_user,
        "customerRef": purchase.customer_ref,
        "eventTime": iso(purchase.event_time),
        "snapshotAt": iso(purchase.snapshot_at),
        "checkedAt": iso(purchase.checked_at),
        "revocations": [
            {
                "ref": r.ref,
                "coversUntil": iso(r.covers_until),
                "active": r.active,
                "at": iso(r.at),
                "refund": r.refund,
            }
            for r in purchase.revocations
        ]
        or None,
        "version": purchase.version,
        "pendingUsers": set(purchase.pending_users) or None,  # a string set: batches DELETE from it
        "familyShared": purchase.family_shared or None,
        "consumable": purchase.consumable or None,
        "creditedTo": purchase.credited_to,
    }


def item_to_purchase(item: dict[str, Any]) -> Purchase:
    return Purchase(
        store=Store(item["store"]),
        store_key=item["storeKey"],
        product_id=item.get("productId"),
        product_refs=tuple(item.get("productRefs") or ()),
        store_state=State(item["storeState"]),
        raw_state=item.get("rawState"),
        expires_at=from_iso(item.get("expiresAt")),
        grace_ends_at=from_iso(item.get("graceEndsAt")),
        lapses_to=State(item["lapsesTo"]) if item.get("lapsesTo") else None,
        will_renew=bool(item.get("willRenew")),
        environment=item.get("environment", "production"),
        app=item.get("app"),
        owner_ids=tuple(item.get("ownerIds") or ()),
        manual_owner=bool(item.get("manualOwner")),
        linked_user=item.get("linkedUser"),
        customer_ref=item.get("customerRef"),
        event_time=from_iso(item["eventTime"]),
        snapshot_at=from_iso(item.get("snapshotAt")),
        checked_at=from_iso(item.get("checkedAt")),
        revocations=tuple(
            Revocation(
                r["ref"],
                from_iso(r.get("coversUntil")),
                bool(r["active"]),
                from_iso(r["at"]),
                bool(r.get("refund", True)),
            )
            for r in item.get("revocations") or ()
        ),
        version=int(item.get("version", 0)),
        pending_users=tuple(sorted(item.get("pendingUsers") or ())),
        family_shared=bool(item.get("familyShared")),
        consumable=bool(item.get("consumable")),
        credited_to=item.get("creditedTo"),
    )


def entitlement_to_item(entitlement: Entitlement) -> dict[str, Any]:
    return {
        "entitlementId": entitlement.entitlement_id,
        "active": entitlement.active,
        "state": entitlement.state.value,
        "expiresAt": iso(entitlement.expires_at),
        "graceEndsAt": iso(entitlement.grace_ends_at),
        "willRenew": entitlement.will_renew,
        "store": entitlement.store.value,
        "productId": entitlement.product_id,
        "purchaseId": entitlement.purchase_id,
        "environment": entitlement.environment,
    }


def item_to_entitlement(item: dict[str, Any]) -> Entitlement:
    return Entitlement(
        entitlement_id=item["entitlementId"],
        active=bool(item["active"]),
        state=State(item["state"]),
        expires_at=from_iso(item.get("expiresAt")),
        grace_ends_at=from_iso(item.get("graceEndsAt")),
        will_renew=bool(item.get("willRenew")),
        store=Store(item["store"]),
        product_id=item.get("productId"),
        purchase_id=item["purchaseId"],
        environment=item.get("environment", "production"),
    )


def audit_to_item(record: AuditRecord) -> dict[str, Any]:
    return {
        "userId": record.user_id,
        "action": record.action.value,
        "at": iso(record.at),
        "source": record.source,
        "eventId": record.event_id,
        "purchaseId": record.purchase_id,
        "otherUserIds": list(record.other_user_ids) or None,
        "strategy": record.strategy.value if record.strategy else None,
        "actor": record.actor,
        "detail": record.detail,
    }


def item_to_audit(item: dict[str, Any]) -> AuditRecord:
    return AuditRecord(
        user_id=item["userId"],
        action=Action(item["action"]),
        at=from_iso(item["at"]),
        source=item["source"],
        event_id=item["eventId"],
        purchase_id=item.get("purchaseId"),
        other_user_ids=tuple(item.get("otherUserIds") or ()),
        strategy=Strategy(item["strategy"]) if item.get("strategy") else None,
        actor=item.get("actor"),
        detail=item.get("detail"),
    )


def payment_ref_to_item(ref: PaymentRef, owner_ids: Sequence[str]) -> dict[str, Any]:
    """`owner_ids`: those of the purchase as the commit writes it (a lookup answers with its owners)."""
    return {
        "ref": ref.ref,
        "purchaseId": ref.purchase_id,
        "periodEnd": iso(ref.period_end),
        "ownerIds": list(owner_ids) or None,
    }


def item_to_payment_ref(item: dict[str, Any]) -> PaymentRef:
    owners = tuple(item.get("ownerIds") or ())
    return PaymentRef(item["ref"], item["purchaseId"], from_iso(item.get("periodEnd")), owners)


def new_profile_to_item(user_id: str, app_account_token: str, user: UserWrite | None = None) -> dict[str, Any]:
    """The profile of a user written for the first time (version 1, with its appAccountToken), with what
    the commit that creates it writes too (`user`)."""
    item: dict[str, Any] = {"userId": user_id, "appAccountToken": app_account_token, "version": 1}
    if user is not None:
        item |= {
            "refunds": user.refunds_added or None,
            "flaggedAt": iso(user.flagged_at),
            "mergedInto": user.merged_into,
            "aliases": list(user.aliases_added) or None,
        }
    return item


def items_to_user(user_id: str, items: Sequence[dict[str, Any]]) -> UserState:
    """A user from the items of their partition (loaded): profile, purchases' copies, projections."""
    profile = next((item for item in items if item["SK"] == PROFILE), {})
    return UserState(
        user_id=user_id,
        app_account_token=profile.get("appAccountToken"),
        version=int(profile.get("version", 0)),
        refunds=int(profile.get("refunds", 0)),
        flagged_at=from_iso(profile.get("flaggedAt")),
        merged_into=profile.get("mergedInto"),
        aliases=tuple(profile.get("aliases") or ()),
        purchases=tuple(item_to_purchase(i) for i in items if i["SK"].startswith(PURCHASE_PREFIX)),
        entitlements={
            i["entitlementId"]: item_to_entitlement(i) for i in items if i["SK"].startswith(ENTITLEMENT_PREFIX)
        },
    )


WROTE_A_PURCHASE = ("applied", "claim_refused")  # outcomes of events that wrote a purchase
# Writes the fold reproduces without a step: a merge (through the aliases), a replay (it is the fold).
NOT_FOLDED = ("user.merged", "state.replayed")


def step_to_text(step: Step) -> str:
    """The step an event wrote, as its `replayStep` attribute holds it (compact JSON)."""
    return json.dumps(replay.encode(step), separators=(",", ":"))


def item_to_replay_entry(item: dict[str, Any]) -> Step | bool:
    """What an event item (loaded) gives a replay: the step it recorded; else True when it wrote a
    purchase that a fold cannot reproduce without a step (stored before steps were recorded); else False."""
    text = item.get("replayStep")
    if text is not None:
        return replay.decode(Step, json.loads(text))
    return item.get("outcome") in WROTE_A_PURCHASE and item.get("eventType") not in NOT_FOLDED


def item_to_event_summary(item: dict[str, Any]) -> EventSummary:
    """An event item (loaded) as operators see it: its body stays in the log."""
    source, event_id = event_id_of(item["PK"])
    return EventSummary(
        source=source,
        event_id=event_id,
        event_type=item.get("eventType", ""),
        received_at=from_iso(item.get("receivedAt")),
        processed_at=from_iso(item.get("processedAt")),
        outcome=item.get("outcome"),
        purchase_id=item.get("purchaseId"),
    )
