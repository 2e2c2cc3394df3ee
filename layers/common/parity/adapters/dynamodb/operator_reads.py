"""The console's reads (`parity.ports.operations.OperatorReads`): a token's user, one event's record, the
drift reports, and the activity of the last hours in one pass over the table.

`activity` is a Scan: it reads every item of the table (projected to a few attributes, at most
`max_items`), so it costs one read unit per 4 KB scanned. The console asks for it when its health page
is opened, never on a schedule; `max_items` bounds what one page view can cost.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from ...ports.operations import Activity, EventRecord
from .codecs import item_to_entitlement
from .drift_store import DynamoDriftStore
from .event_log import recorded_changes
from .schema import ENTITLEMENT_PREFIX, EVENT_PREFIX, customer_key, event_key, from_iso, iso, token_key
from .table import OnTable, load_item

_SCANNED = (
    "PK", "SK", "#source", "receivedAt", "processedAt", "changes", "laterChanges",
    "entitlementId", "active", "#state", "expiresAt", "graceEndsAt", "willRenew", "#store", "purchaseId",
)  # fmt: skip
_RECORD = (
    "#source, eventId, eventType, receivedAt, processedAt, outcome, purchaseId, replayStep, changes, "
    "laterChanges, lastError, failures"
)


def hour_of(moment: str) -> str:
    """`2026-03-01T12` of a stored time (stored times are UTC ISO text)."""
    return moment[:13]


class DynamoOperatorReads(OnTable):
    """The console's reads on the table."""

    def user_for_token(self, app_account_token: str) -> str | None:
        item = self._table.client.get_item(TableName=self._table.name, Key=token_key(app_account_token)).get("Item")
        return None if item is None else item["userId"]["S"]

    def user_for_customer(self, customer_ref: str) -> str | None:
        item = self._table.client.get_item(TableName=self._table.name, Key=customer_key("stripe", customer_ref)).get("Item")
        return None if item is None else item["userId"]["S"]

    def event_record(self, source: str, event_id: str) -> EventRecord | None:
        item = self._table.client.get_item(
            TableName=self._table.name,
            Key=event_key(source, event_id),
            ProjectionExpression=_RECORD,
            ExpressionAttributeNames={"#source": "source"},
        ).get("Item")
        if item is None:
            return None
        plain = load_item(item)
        step = plain.get("replayStep")
        return EventRecord(
            source=source,
            event_id=event_id,
            event_type=plain.get("eventType"),
            received_at=from_iso(plain.get("receivedAt")),
            processed_at=from_iso(plain.get("processedAt")),
            outcome=plain.get("outcome"),
            purchase_id=plain.get("purchaseId"),
            replay_step=json.loads(step) if isinstance(step, str) else None,
            changes=recorded_changes(item),
            last_error=plain.get("lastError"),
            failures=int(plain["failures"]) if plain.get("failures") is not None else None,
        )

    def reports(self, limit: int = 5) -> list[dict[str, Any]]:
        return DynamoDriftStore(self._table).reports(limit)

    def activity(self, since: datetime, now: datetime, max_items: int) -> Activity:
        activity = Activity(since)
        start = iso(since) or ""
        names = {"#source": "source", "#state": "state", "#store": "store"}
        for page in self._table.pages(
            "scan", ProjectionExpression=", ".join(_SCANNED), ExpressionAttributeNames=names
        ):
            for raw in page:
                activity.items_read += 1
                _count(activity, raw, start, now)
            if activity.items_read >= max_items:
                activity.complete = False
                break
        return activity


def _count(activity: Activity, raw: dict[str, Any], since: str, now: datetime) -> None:
    pk, sk = raw["PK"]["S"], raw["SK"]["S"]
    if pk.startswith(EVENT_PREFIX):
        source, received = raw.get("source", {}).get("S"), raw.get("receivedAt", {}).get("S")
        if source and received:
            latest = activity.last_event.get(source)
            moment = from_iso(received)
            if latest is None or moment > latest:
                activity.last_event[source] = moment
            if received >= since:
                key = (source, hour_of(received))
                activity.events[key] = activity.events.get(key, 0) + 1
        processed = raw.get("processedAt", {}).get("S")
        if processed and processed >= since and ("changes" in raw or "laterChanges" in raw):
            changed = sum(1 for detail in recorded_changes(raw) if "entitlement" in detail and "type" not in detail)
            if changed:
                hour = hour_of(processed)
                activity.changes[hour] = activity.changes.get(hour, 0) + changed
    elif sk.startswith(ENTITLEMENT_PREFIX) and "entitlementId" in raw:
        entitlement = item_to_entitlement(load_item(raw)).at(now)
        group = (entitlement.store.value, entitlement.state.value, entitlement.active)
        activity.entitlements[group] = activity.entitlements.get(group, 0) + 1
