"""Purchases and users (`parity.ports.Repository`): consistent reads, and the versioned commit."""

from __future__ import annotations

from collections.abc import Sequence

from ...domain.model import PaymentRef, Purchase
from ...domain.ownership import AuditRecord
from ...ports import Commit, EventSummary, PurchaseRead
from .codecs import (
    item_to_audit,
    item_to_event_summary,
    item_to_payment_ref,
    item_to_purchase,
)
from .commit import MAX_TRANSACTION_ITEMS, commit_items, processed_in_transaction, transact
from .event_log import processed_update
from .schema import (
    GSI1,
    LINK,
    PURCHASE,
    TOKEN,
    audit_pk,
    customer_key,
    history_pk,
    payment_ref_key,
    purchase_key,
    token_key,
)
from .table import load_item
from .users import DynamoUsers

BATCH_GET_KEYS = 100  # BatchGetItem takes a hundred keys


class DynamoPurchases(DynamoUsers):
    """Purchases, users and their links on the table, written together by conditional commits."""

    max_commit_items = MAX_TRANSACTION_ITEMS

    def get_purchase(self, purchase_id: str) -> Purchase | None:
        """The canonical purchase record (consistent GetItem), None when unknown."""
        response = self._table.client.get_item(
            TableName=self._table.name, Key=purchase_key(purchase_id), ConsistentRead=True
        )
        item = response.get("Item")
        return None if item is None else item_to_purchase(load_item(item))

    def get_purchases(self, purchase_ids: Sequence[str]) -> dict[str, Purchase]:
        """The purchases that exist, by id: one consistent BatchGetItem per hundred ids."""
        found: dict[str, Purchase] = {}
        for start in range(0, len(purchase_ids), BATCH_GET_KEYS):
            keys = [purchase_key(pid) for pid in purchase_ids[start : start + BATCH_GET_KEYS]]
            for item in self._table.batch_get(keys):
                purchase = item_to_purchase(item)
                found[purchase.purchase_id] = purchase
        return found

    def find_payment(self, refs: Sequence[str], source: str = "stripe") -> PaymentRef | None:
        """The purchase recorded for the first of `refs` that has one: one BatchGetItem."""
        if not refs:
            return None
        found = {}
        for item in self._table.batch_get([payment_ref_key(source, ref) for ref in refs]):
            found[item["ref"]] = item_to_payment_ref(item)
        return next((found[ref] for ref in refs if ref in found), None)

    def read_purchase(
        self, purchase_id: str, customer_ref: str | None = None, app_account_token: str | None = None
    ) -> PurchaseRead:
        """The purchase, and the users linked to `customer_ref` / `app_account_token`: one request."""
        if customer_ref is None and app_account_token is None:
            return PurchaseRead(self.get_purchase(purchase_id))
        keys = [purchase_key(purchase_id)]
        if customer_ref is not None:
            keys.append(customer_key("stripe", customer_ref))
        if app_account_token is not None:
            keys.append(token_key(app_account_token))
        found = {item["SK"]: item for item in self._table.batch_get(keys)}
        purchase = found.get(PURCHASE)
        return PurchaseRead(
            purchase=None if purchase is None else item_to_purchase(purchase),
            customer_user=(found.get(LINK) or {}).get("userId"),
            token_user=(found.get(TOKEN) or {}).get("userId"),
        )

    def audit_trail(self, user_id: str, limit: int = 100) -> tuple[AuditRecord, ...]:
        """The user's audit trail, newest first (one Query page)."""
        response = self._table.client.query(
            TableName=self._table.name,
            KeyConditionExpression="PK = :pk",
            ExpressionAttributeValues={":pk": {"S": audit_pk(user_id)}},
            ScanIndexForward=False,
            Limit=limit,
        )
        return tuple(item_to_audit(load_item(item)) for item in response.get("Items", []))

    def purchase_events(self, purchase_id: str, limit: int = 50) -> tuple[EventSummary, ...]:
        """The events applied to the purchase, newest first (its history in GSI1, one page)."""
        response = self._table.client.query(
            TableName=self._table.name,
            IndexName=GSI1,
            KeyConditionExpression="GSI1PK = :pk",
            ExpressionAttributeValues={":pk": {"S": history_pk(purchase_id)}},
            ProjectionExpression="PK, eventType, receivedAt, processedAt, outcome, purchaseId",
            ScanIndexForward=False,
            Limit=limit,
        )
        return tuple(item_to_event_summary(load_item(item)) for item in response.get("Items", []))

    def link_customer(self, source: str, event_id: str, customer_ref: str, user_id: str) -> None:
        """Link a store customer to a user and mark the event processed, in one transaction."""
        link = self._table.put(customer_key(source, customer_ref), {"userId": user_id, "customerRef": customer_ref})
        processed = processed_in_transaction(processed_update(self._table, source, event_id, "customer_linked", ()))
        transact(self._table, [processed, link])

    def commit_size(self, commit: Commit) -> int:
        """How many transaction items the commit writes."""
        return len(commit_items(self._table, commit))

    def commit(self, commit: Commit) -> None:
        """Write the commit in one transaction (see `commit`): all of it, or nothing and a domain error."""
        items = commit_items(self._table, commit)
        if len(items) > self.max_commit_items:
            # A caller's bug, not a store failure: BoundedWriter splits what does not fit.
            raise ValueError(f"a commit of {len(items)} items does not fit one transaction ({self.max_commit_items})")
        transact(self._table, items, first_is_event=commit.completes_event)
