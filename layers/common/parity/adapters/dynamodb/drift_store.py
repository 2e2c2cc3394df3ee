"""The drift scan's bookkeeping (`parity.ports.DriftStore`): the due index (GSI2), reports, cursors and
the daily check budgets."""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from botocore.exceptions import ClientError

from ...domain.model import Purchase
from .schema import (
    GSI2,
    GSI2PK,
    GSI2SK,
    PK,
    REPORTS,
    SK,
    budget_key,
    cursor_key,
    due_index,
    due_partition,
    due_until,
    iso,
    purchase_id_of,
    purchase_key,
    report_key,
)
from .table import OnTable, load_item

MAX_REPORT_EXAMPLES = 20
BUDGET_KEPT_SECONDS = 3 * 86400  # a day's budget item outlives its day a little, then TTL removes it


def _report(item: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in load_item(item).items() if k not in (PK, SK)}


class DynamoDriftStore(OnTable):
    """Which purchases are due for a store check, the scan's reports and its cursors, on the table."""

    def due_page(
        self, now: datetime, shard: int, ends: bool, after: str | None = None, limit: int = 500
    ) -> tuple[list[str], str | None]:
        """One page of a shard's pass (GSI2, keys only, oldest due first): the ids, and where it goes on."""
        request: dict[str, Any] = {
            "TableName": self._table.name,
            "IndexName": GSI2,
            "KeyConditionExpression": "GSI2PK = :pk AND GSI2SK <= :until",
            "ExpressionAttributeValues": {":pk": {"S": due_partition(shard, ends)}, ":until": {"S": due_until(now)}},
            "Limit": limit,
        }
        if after:
            request["ExclusiveStartKey"] = json.loads(after)
        response = self._table.client.query(**request)
        last = response.get("LastEvaluatedKey")
        return [purchase_id_of(item["PK"]["S"]) for item in response.get("Items", [])], json.dumps(last) if last else None


    def mark_checked(self, purchase: Purchase, at: datetime) -> bool:
        """Record that the purchase (as read, at its version) was checked with its store at `at`: its
        next due time moves on. False when it changed meanwhile (the next scan looks again)."""
        due = due_index(purchase.with_changes(checked_at=at), self._table.recheck)
        return self._table.update_if(
            self._table.update(
                purchase_key(purchase.purchase_id),
                "SET checkedAt = :at, GSI2PK = :gpk, GSI2SK = :gsk",
                {":at": iso(at), ":version": purchase.version, ":gpk": due[GSI2PK], ":gsk": due[GSI2SK]},
                ConditionExpression="version = :version",
            )
        )

    def spend_budget(self, name: str, wanted: int, limit: int) -> int:
        """Take up to `wanted` from the budget `name` (`limit` in all): one conditional ADD; when it
        does not fit, what is left is taken instead (0 once spent)."""
        wanted = min(wanted, limit)
        while wanted > 0:
            try:
                self._table.client.update_item(
                    **self._table.update(
                        budget_key(name),
                        "SET #ttl = :ttl ADD used :n",
                        {":n": wanted, ":room": limit - wanted, ":ttl": int(time.time()) + BUDGET_KEPT_SECONDS},
                        ConditionExpression="attribute_not_exists(used) OR used <= :room",
                        ExpressionAttributeNames={"#ttl": "ttl"},
                    )
                )
                return wanted
            except ClientError as error:
                if error.response["Error"]["Code"] != "ConditionalCheckFailedException":
                    raise
            wanted = min(wanted, limit - self._budget_used(name))
        return 0

    def _budget_used(self, name: str) -> int:
        response = self._table.client.get_item(TableName=self._table.name, Key=budget_key(name), ConsistentRead=True)
        return int((response.get("Item") or {}).get("used", {}).get("N", 0))

    def save_report(self, report_id: str, fields: dict[str, Any]) -> None:
        """Create or overwrite a scan report's fields (`REPORTS` / `<report id>`; ids sort by time)."""
        names = {f"#f{i}": name for i, name in enumerate(fields)}
        self._table.client.update_item(
            **self._table.update(
                report_key(report_id),
                "SET " + ", ".join(f"#f{i} = :f{i}" for i in range(len(fields))),
                {f":f{i}": value for i, value in enumerate(fields.values())},
                ExpressionAttributeNames=names,
            )
        )

    def add_to_report(
        self, report_id: str, counts: dict[str, int], examples: Sequence[dict], max_examples: int = MAX_REPORT_EXAMPLES
    ) -> None:
        """Add a worker's counts (one update per batch, not per purchase, added in place: concurrent
        workers add up) and its examples while the report holds fewer than `max_examples`."""
        if counts:
            self._table.client.update_item(
                **self._table.update(
                    report_key(report_id),
                    "ADD " + ", ".join(f"counts.#c{i} :c{i}" for i in range(len(counts))),
                    {f":c{i}": n for i, n in enumerate(counts.values())},
                    ExpressionAttributeNames={f"#c{i}": name for i, name in enumerate(counts)},
                )
            )
        if examples:
            self._table.update_if(  # False: enough examples already
                self._table.update(
                    report_key(report_id),
                    "SET examples = list_append(if_not_exists(examples, :none), :new)",
                    {":none": [], ":new": list(examples), ":max": max_examples},
                    ConditionExpression="attribute_not_exists(examples) OR size(examples) < :max",
                )
            )

    def reports(self, limit: int = 5) -> list[dict[str, Any]]:
        """The latest scan reports, newest first (what `parity reports` shows)."""
        response = self._table.client.query(
            TableName=self._table.name,
            KeyConditionExpression="PK = :pk",
            ExpressionAttributeValues={":pk": {"S": REPORTS}},
            ScanIndexForward=False,
            Limit=limit,
        )
        return [_report(item) for item in response.get("Items", [])]

    def report(self, report_id: str) -> dict[str, Any] | None:
        """One scan report, as the workers have completed it so far (None: no such report)."""
        response = self._table.client.get_item(
            TableName=self._table.name, Key=report_key(report_id), ConsistentRead=True
        )
        item = response.get("Item")
        return None if item is None else _report(item)

    def cursor(self, name: str) -> str | None:
        """The value last saved under `name` (consistent read), None before the first."""
        response = self._table.client.get_item(TableName=self._table.name, Key=cursor_key(name), ConsistentRead=True)
        return (response.get("Item") or {}).get("value", {}).get("S")

    def set_cursor(self, name: str, value: str) -> None:
        """Save `value` under `name` (last writer wins)."""
        self._table.client.put_item(TableName=self._table.name, Item={**cursor_key(name), "value": {"S": value}})
