"""The event log (`parity.ports.EventLog`): every verified store event, raw, each processed once.

The processed-once guard is the condition `attribute_not_exists(processedAt)` on the event's item:
`processed_update` builds that write, for `mark_processed` here and for the commits that process an
event (`commit`).
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime, timezone
from typing import Any

from boto3.dynamodb.types import Binary
from botocore.exceptions import ClientError

from ...ports import AppendResult, StoredEvent
from .schema import (
    BODY,
    EVENT,
    GSI1,
    TTL,
    UNRESOLVED,
    arrival_index,
    body_key,
    event_id_of,
    event_key,
    event_pk,
    history_pk,
    iso,
)
from .table import OnTable, Table, dump_item, load_item


class DynamoEventLog(OnTable):
    """The event log on the table: one item per event (`schema.EventItem`)."""

    def append(self, event: StoredEvent) -> AppendResult:
        """One transaction: the event item, conditional on the event id, and its raw body in an item of
        its own that expires after the body retention (`ttl`). On a duplicate nothing is written and the
        old event item comes back with the failure (`ALL_OLD`): whether it was processed is known
        without a second read."""
        attributes = {
            **arrival_index(event.source, event.routing_key, event.received_at, event.event_id),
            "source": event.source,
            "eventId": event.event_id,
            "eventType": event.event_type,
            "receivedAt": iso(event.received_at),
        }
        expires = int((event.received_at + self._table.body_retention).timestamp())
        body = {"body": Binary(zlib.compress(event.body)), TTL: expires}
        items = [
            {
                "Put": {
                    "TableName": self._table.name,
                    "Item": {**event_key(event.source, event.event_id), **dump_item(attributes)},
                    "ConditionExpression": "attribute_not_exists(PK)",
                    "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
                }
            },
            self._table.put(body_key(event.source, event.event_id), body),
        ]
        try:
            self._table.client.transact_write_items(TransactItems=items)
        except ClientError as error:
            reasons = error.response.get("CancellationReasons") or [{}]
            if error.response["Error"]["Code"] != "TransactionCanceledException" or reasons[0].get("Code") != (
                "ConditionalCheckFailed"
            ):
                raise
            old = reasons[0].get("Item") or {}
            return AppendResult(stored=False, processed="processedAt" in old)
        return AppendResult(stored=True, processed=False)

    def get_event_body(self, source: str, event_id: str) -> bytes | None:
        """The stored raw body (decompressed), None when the event is unknown or its body is gone (past
        its retention, or erased): one Query of the event's partition."""
        response = self._table.client.query(
            TableName=self._table.name,
            KeyConditionExpression="PK = :pk",
            ExpressionAttributeValues={":pk": {"S": event_pk(source, event_id)}},
            ConsistentRead=True,
        )
        found = {item["SK"]["S"]: item for item in response.get("Items", [])}
        for item in (found.get(BODY), found.get(EVENT)):  # the event item held it before bodies expired
            if item is not None and "body" in item:
                return zlib.decompress(item["body"]["B"])
        return None

    def recorded_changes(self, source: str, event_id: str) -> tuple[dict, ...]:
        """The change events recorded when the event was applied (consistent read of two attributes)."""
        response = self._table.client.get_item(
            TableName=self._table.name,
            Key=event_key(source, event_id),
            ProjectionExpression="changes, laterChanges",
            ConsistentRead=True,
        )
        return recorded_changes(response.get("Item") or {})

    def mark_processed(
        self, source: str, event_id: str, outcome: str, purchase_id: str | None = None, now: datetime | None = None
    ) -> bool:
        """Mark the event processed with no state change; False when it was processed already."""
        return self._table.update_if(processed_update(self._table, source, event_id, outcome, (), purchase_id, now))

    def park(self, source: str, event_id: str, now: datetime | None = None) -> bool:
        """Record the event as unresolved (its purchase unknown after its retries) and keep it
        processable: no `processedAt`, listed in GSI1's `UNRESOLVED` partition by arrival until it is
        processed (which moves it to its purchase's history). False when it was processed already."""
        return self._table.update_if(
            self._table.update(
                event_key(source, event_id),
                "SET outcome = :outcome, unresolvedAt = :now, GSI1PK = :parked",
                {":outcome": "unresolved", ":now": iso(now or datetime.now(timezone.utc)), ":parked": UNRESOLVED},
                ConditionExpression="attribute_exists(PK) AND attribute_not_exists(processedAt)",
            )
        )

    def parked(self, since: datetime) -> Iterator[tuple[str, str]]:
        """(source, event id) of the events parked unresolved that arrived since `since` and are still
        unprocessed, oldest first (every page)."""
        for page in self._table.pages(
            IndexName=GSI1,
            KeyConditionExpression="GSI1PK = :parked AND GSI1SK >= :since",
            FilterExpression="attribute_not_exists(processedAt)",
            ProjectionExpression="PK",
            ExpressionAttributeValues=dump_item({":parked": UNRESOLVED, ":since": iso(since)}),
        ):
            for item in map(load_item, page):
                yield event_id_of(item["PK"])


def processed_update(
    table: Table,
    source: str,
    event_id: str,
    outcome: str,
    changes: Sequence[Mapping],
    purchase_id: str | None = None,
    now: datetime | None = None,
    step: str | None = None,
) -> dict[str, Any]:
    """Mark the event processed (once). An event about a purchase joins the purchase's history in
    GSI1, whatever id it arrived under (an invoice, a later token of a Play chain), with the step it
    wrote (`replayStep`: `codecs.step_to_text`, what `parity replay` folds)."""
    sets = ["processedAt = :now", "outcome = :outcome", "changes = :changes"]
    values = {
        ":now": iso(now or datetime.now(timezone.utc)),
        ":outcome": outcome,
        ":changes": json.dumps(list(changes)),
    }
    if purchase_id:
        sets += ["purchaseId = :pid", "GSI1PK = :gsi", "GSI1SK = if_not_exists(GSI1SK, :now)"]
        values |= {":pid": purchase_id, ":gsi": history_pk(purchase_id)}
    if step is not None:
        sets.append("replayStep = :step")
        values[":step"] = step
    expression = "SET " + ", ".join(sets)
    return table.update(
        event_key(source, event_id), expression, values, ConditionExpression="attribute_not_exists(processedAt)"
    )


def later_changes_update(table: Table, source: str, event_id: str, changes: Sequence[Mapping]) -> dict[str, Any]:
    """Add a batch's change details to those recorded on the event (re-published on a retry)."""
    return table.update(
        event_key(source, event_id),
        "SET laterChanges = list_append(if_not_exists(laterChanges, :none), :batch)",
        {":none": [], ":batch": [json.dumps(list(changes))]},
    )


def recorded_changes(item: dict[str, Any]) -> tuple[dict, ...]:
    """The change details recorded on an event item (raw, not loaded): those of the commit that
    processed it, and those its later batches added (`laterChanges`, one JSON list per batch)."""
    changes = json.loads(item.get("changes", {}).get("S", "[]"))
    for batch in item.get("laterChanges", {}).get("L", []):
        changes += json.loads(batch.get("S", "[]"))
    return tuple(changes)
