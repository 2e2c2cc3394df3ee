"""The versioned commit: everything one processed event changes, as the items of one transaction.

Each write that guards an invariant carries its condition: the event processed once (the first item,
returning its old image on failure), each purchase and profile on the version it was computed from
(0: it must not exist), a new appAccountToken issued once. A cancelled transaction becomes a domain
error: `DuplicateEventError` (with the changes recorded then) or `VersionConflictError`.
"""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from ...domain.errors import DuplicateEventError, VersionConflictError
from ...domain.model import PaymentRef, Purchase
from ...ports import Commit, PendingUpdate, PurchaseWrite, UserWrite
from .codecs import (
    audit_to_item,
    dump_item,
    entitlement_to_item,
    new_profile_to_item,
    payment_ref_to_item,
    purchase_to_item,
    recorded_changes,
)
from .event_log import later_changes_update, processed_update
from .schema import (
    audit_key,
    due_index,
    entitlement_key,
    iso,
    payment_ref_key,
    profile_key,
    purchase_key,
    token_key,
    user_purchase_key,
)
from .table import Table

MAX_TRANSACTION_ITEMS = 100  # TransactWriteItems' limit
NEW = "attribute_not_exists(PK)"


def commit_items(table: Table, commit: Commit) -> list[dict[str, Any]]:
    """The transaction items of a commit, the event's first (its failure tells a duplicate apart)."""
    items: list[dict[str, Any]] = []
    if commit.completes_event:
        only = commit.purchases[0].purchase.purchase_id if len(commit.purchases) == 1 else commit.purchase_id
        processed = processed_update(
            table, commit.source, commit.event_id, commit.outcome, commit.change_details, only, step=commit.step
        )
        items.append(processed_in_transaction(processed))
    elif commit.change_details:
        items.append({"Update": later_changes_update(table, commit.source, commit.event_id, commit.change_details)})
    items += [{"Update": pending_update(table, pending)} for pending in commit.pending]
    items += [purchase_put(table, write) for write in commit.purchases]
    for user in commit.users:
        items += user_writes(table, user)
    # Refs of the purchase written, or (a commit that writes none) of the purchase they name.
    written = commit.purchases[0].purchase if commit.purchases else None
    items += [payment_ref_put(table, ref, written) for ref in commit.payment_refs]
    items += [table.put(token_key(token), {"userId": user_id}) for token, user_id in commit.token_moves]
    items += [table.put(audit_key(record, n), audit_to_item(record)) for n, record in enumerate(commit.audit)]
    return items


def processed_in_transaction(update: dict[str, Any]) -> dict[str, Any]:
    """The event's processed mark (`processed_update`) as a transaction item, its old image returned
    on failure: a duplicate's recorded changes come back without a second read."""
    return {"Update": {**update, "ReturnValuesOnConditionCheckFailure": "ALL_OLD"}}


def purchase_put(table: Table, write: PurchaseWrite) -> dict[str, Any]:
    """The purchase on the version it was computed from, placed in the due index."""
    purchase = write.purchase
    if write.expected_version == 0:
        condition: dict[str, Any] = {"ConditionExpression": NEW}
    else:
        condition = {
            "ConditionExpression": "version = :expected",
            "ExpressionAttributeValues": dump_item({":expected": write.expected_version}),
        }
    attributes = {**purchase_to_item(purchase), **due_index(purchase, table.recheck)}
    return table.put(purchase_key(purchase.purchase_id), attributes, **condition)


def user_writes(table: Table, user: UserWrite) -> list[dict[str, Any]]:
    """A user's profile on its version, and the purchases' copies and projections it puts or deletes."""
    items = profile_writes(table, user)
    uid = user.user_id
    items += [table.put(user_purchase_key(uid, p.purchase_id), purchase_to_item(p)) for p in user.put_purchases]
    items += [table.delete(user_purchase_key(uid, gone)) for gone in user.delete_purchase_ids]
    items += [table.put(entitlement_key(uid, e.entitlement_id), entitlement_to_item(e)) for e in user.put_entitlements]
    items += [table.delete(entitlement_key(uid, gone)) for gone in user.delete_entitlement_ids]
    return items


def profile_writes(table: Table, user: UserWrite) -> list[dict[str, Any]]:
    """A new user's profile and token (both puts fail if the user or the token exists: the token is
    issued exactly once), or an existing profile's update on its version."""
    if user.expected_version == 0:
        if user.new_app_account_token is None:
            raise ValueError(f"a new user ({user.user_id}) is written with its appAccountToken")
        return [
            table.put(profile_key(user.user_id), new_profile_to_item(user), ConditionExpression=NEW),
            table.put(token_key(user.new_app_account_token), {"userId": user.user_id}, ConditionExpression=NEW),
        ]
    sets = ["version = :next"]
    values: dict[str, Any] = {":next": user.expected_version + 1, ":expected": user.expected_version}
    if user.refunds_added:
        sets.append("refunds = if_not_exists(refunds, :zero) + :refunds")
        values |= {":zero": 0, ":refunds": user.refunds_added}
    if user.flagged_at:
        sets.append("flaggedAt = :flagged")
        values[":flagged"] = iso(user.flagged_at)
    if user.merged_into:
        sets.append("mergedInto = :into")
        values[":into"] = user.merged_into
    if user.aliases_added:
        sets.append("aliases = list_append(if_not_exists(aliases, :none), :aliases)")
        values |= {":none": [], ":aliases": list(user.aliases_added)}
    expression = "SET " + ", ".join(sets) + (" REMOVE flaggedAt" if user.flag_cleared else "")
    update = table.update(profile_key(user.user_id), expression, values, ConditionExpression="version = :expected")
    return [{"Update": update}]


def pending_update(table: Table, pending: PendingUpdate) -> dict[str, Any]:
    """Users added to or removed from a purchase's pending projections, on the version they were
    computed from: a batch computed from an older purchase is cancelled (and computed again)."""
    parts: list[str] = []
    values: dict[str, Any] = {":version": pending.version}
    if pending.add:
        parts.append("ADD pendingUsers :add")
        values[":add"] = set(pending.add)
    if pending.remove:
        parts.append("DELETE pendingUsers :remove")
        values[":remove"] = set(pending.remove)
    expression = " ".join(parts) or "SET version = :version"
    return table.update(purchase_key(pending.purchase_id), expression, values, ConditionExpression="version = :version")


def payment_ref_put(table: Table, ref: PaymentRef, written: Purchase | None) -> dict[str, Any]:
    """The lookup from a payment to its purchase, keyed by the purchase's store, with the owners of the
    purchase written (or those the ref carries)."""
    source = ref.purchase_id.split(":", 1)[0]
    owners = written.owner_ids if written else ref.owner_ids
    return table.put(payment_ref_key(source, ref.ref), payment_ref_to_item(ref, owners))


def transact(table: Table, items: list[dict[str, Any]], first_is_event: bool = True) -> None:
    """Write the items in one transaction, or nothing; a cancellation becomes a domain error."""
    try:
        table.client.transact_write_items(TransactItems=items)
    except ClientError as error:
        if error.response["Error"]["Code"] != "TransactionCanceledException":
            raise
        codes = [reason.get("Code", "None") for reason in error.response.get("CancellationReasons", [])]
        if first_is_event and codes and codes[0] == "ConditionalCheckFailed":
            # The event item is always first; its old image carries what was recorded then.
            old = error.response["CancellationReasons"][0].get("Item") or {}
            raise DuplicateEventError("the event was processed already", recorded_changes(old)) from error
        raise VersionConflictError(f"concurrent write, transaction cancelled: {codes}") from error
