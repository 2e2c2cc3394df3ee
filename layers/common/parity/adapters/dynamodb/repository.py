"""DynamoDB: one table, keyed for Parity's access patterns.

| item                  | PK                        | SK                | notes                            |
|-----------------------|---------------------------|-------------------|----------------------------------|
| user profile          | USER#<userId>             | PROFILE           | appAccountToken, version         |
| user's purchase copy  | USER#<userId>             | PURCHASE#<id>     | so one Query answers a read      |
| entitlement projection| USER#<userId>             | ENT#<entitlement> | last computed (and published)    |
| token → user          | TOKEN#<appAccountToken>   | TOKEN             | userId                           |
| purchase              | PURCHASE#<purchaseId>     | PURCHASE          | version, eventTime               |
| event log             | EVENT#<source>#<eventId>  | EVENT             | GSI1: EVENTS#<purchaseId> once   |
|                       |                           |                   | applied (before: <source>:<key>) |
| audit trail           | AUDIT#<userId>            | <at>#<event>#<act>| claims, transfers, refusals, ... |
| payment → purchase    | PAYREF#<source>:<ref>     | PAYREF            | purchaseId, periodEnd            |
| customer → user       | CUSTOMER#<source>:<ref>   | LINK              | userId                           |

Every write that guards an invariant is conditional, and a failed condition becomes a domain error.
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Iterator, Sequence
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

from boto3.dynamodb.types import Binary, TypeDeserializer, TypeSerializer
from botocore.exceptions import ClientError

from ...domain import replay
from ...domain.drift import DUE_SHARDS, due_at, due_shard
from ...domain.entitlements import Entitlement
from ...domain.errors import DuplicateEventError, VersionConflictError
from ...domain.model import PaymentRef, Purchase, Revocation, State, Store
from ...domain.ownership import Action, AuditRecord, Strategy
from ...domain.replay import Step
from ...domain.users import UserState
from ...ports import AppendResult, Commit, EventSummary, PendingUpdate, PurchaseRead, ReplayInput, StoredEvent, UserWrite

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

DEFAULT_RECHECK = timedelta(days=7)
MAX_TRANSACTION_ITEMS = 100  # TransactWriteItems' limit
_serializer = TypeSerializer()
_deserializer = TypeDeserializer()


def _dump(item: dict[str, Any]) -> dict[str, Any]:
    return {key: _serializer.serialize(value) for key, value in item.items() if value is not None}


def _load(item: dict[str, Any]) -> dict[str, Any]:
    return {key: _deserializer.deserialize(value) for key, value in item.items()}


def _time(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def _parse_time(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value)


def _key(pk: str, sk: str) -> dict[str, Any]:
    return {"PK": {"S": pk}, "SK": {"S": sk}}


def user_pk(user_id: str) -> str:
    return f"USER#{user_id}"


def purchase_key(purchase_id: str) -> dict[str, Any]:
    return _key(f"PURCHASE#{purchase_id}", "PURCHASE")


def event_key(source: str, event_id: str) -> dict[str, Any]:
    return _key(f"EVENT#{source}#{event_id}", "EVENT")


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
        "expiresAt": _time(purchase.expires_at),
        "graceEndsAt": _time(purchase.grace_ends_at),
        "willRenew": purchase.will_renew,
        "environment": purchase.environment,
        "ownerIds": list(purchase.owner_ids) or None,
        "manualOwner": purchase.manual_owner,
        "linkedUser": purchase.linked_user,
        "customerRef": purchase.customer_ref,
        "eventTime": _time(purchase.event_time),
        "snapshotAt": _time(purchase.snapshot_at),
        "checkedAt": _time(purchase.checked_at),
        "revocations": [
            {
                "ref": r.ref,
                "coversUntil": _time(r.covers_until),
                "active": r.active,
                "at": _time(r.at),
                "refund": r.refund,
            }
            for r in purchase.revocations
        ]
        or None,
        "version": purchase.version,
        "pendingUsers": set(purchase.pending_users) or None,  # a string set: batches DELETE from it
    }


def item_to_purchase(item: dict[str, Any]) -> Purchase:
    return Purchase(
        store=Store(item["store"]),
        store_key=item["storeKey"],
        product_id=item.get("productId"),
        product_refs=tuple(item.get("productRefs") or ()),
        store_state=State(item["storeState"]),
        raw_state=item.get("rawState"),
        expires_at=_parse_time(item.get("expiresAt")),
        grace_ends_at=_parse_time(item.get("graceEndsAt")),
        will_renew=bool(item.get("willRenew")),
        environment=item.get("environment", "production"),
        owner_ids=tuple(item.get("ownerIds") or ()),
        manual_owner=bool(item.get("manualOwner")),
        linked_user=item.get("linkedUser"),
        customer_ref=item.get("customerRef"),
        event_time=_parse_time(item["eventTime"]),
        snapshot_at=_parse_time(item.get("snapshotAt")),
        checked_at=_parse_time(item.get("checkedAt")),
        revocations=tuple(
            Revocation(
                r["ref"],
                _parse_time(r.get("coversUntil")),
                bool(r["active"]),
                _parse_time(r["at"]),
                bool(r.get("refund", True)),
            )
            for r in item.get("revocations") or ()
        ),
        version=int(item.get("version", 0)),
        pending_users=tuple(sorted(item.get("pendingUsers") or ())),
    )


def entitlement_to_item(entitlement: Entitlement) -> dict[str, Any]:
    return {
        "entitlementId": entitlement.entitlement_id,
        "active": entitlement.active,
        "state": entitlement.state.value,
        "expiresAt": _time(entitlement.expires_at),
        "graceEndsAt": _time(entitlement.grace_ends_at),
        "willRenew": entitlement.will_renew,
        "store": entitlement.store.value,
        "productId": entitlement.product_id,
        "purchaseId": entitlement.purchase_id,
    }


def item_to_entitlement(item: dict[str, Any]) -> Entitlement:
    return Entitlement(
        entitlement_id=item["entitlementId"],
        active=bool(item["active"]),
        state=State(item["state"]),
        expires_at=_parse_time(item.get("expiresAt")),
        grace_ends_at=_parse_time(item.get("graceEndsAt")),
        will_renew=bool(item.get("willRenew")),
        store=Store(item["store"]),
        product_id=item.get("productId"),
        purchase_id=item["purchaseId"],
    )


def audit_key(record: AuditRecord, position: int) -> dict[str, Any]:
    """One item per line: a commit may write several lines for one user (a merge that also reports
    double billing of two entitlements), told apart by their action and position in the commit."""
    sort_key = f"{_time(record.at)}#{record.source}#{record.event_id}#{record.action.value}#{position:03d}"
    return _key(f"AUDIT#{record.user_id}", sort_key)


def audit_to_item(record: AuditRecord) -> dict[str, Any]:
    return {
        "userId": record.user_id,
        "action": record.action.value,
        "at": _time(record.at),
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
        at=_parse_time(item["at"]),
        source=item["source"],
        event_id=item["eventId"],
        purchase_id=item.get("purchaseId"),
        other_user_ids=tuple(item.get("otherUserIds") or ()),
        strategy=Strategy(item["strategy"]) if item.get("strategy") else None,
        actor=item.get("actor"),
        detail=item.get("detail"),
    )


def _user_from_items(user_id: str, items: Sequence[dict[str, Any]]) -> UserState:
    """A user from the items of their partition (loaded)."""
    profile = next((item for item in items if item["SK"] == "PROFILE"), {})
    return UserState(
        user_id=user_id,
        app_account_token=profile.get("appAccountToken"),
        version=int(profile.get("version", 0)),
        refunds=int(profile.get("refunds", 0)),
        flagged_at=_parse_time(profile.get("flaggedAt")),
        merged_into=profile.get("mergedInto"),
        aliases=tuple(profile.get("aliases") or ()),
        purchases=tuple(item_to_purchase(i) for i in items if i["SK"].startswith("PURCHASE#")),
        entitlements={i["entitlementId"]: item_to_entitlement(i) for i in items if i["SK"].startswith("ENT#")},
    )


WROTE_A_PURCHASE = ("applied", "claim_refused")  # outcomes of events that wrote a purchase
# Writes the fold reproduces without a step: a merge (through the aliases), a replay (it is the fold).
NOT_FOLDED = ("user.merged", "state.replayed")


def _replay_entry(item: dict[str, Any]) -> Step | bool:
    """What an event item (loaded) gives a replay: the step it recorded; else True when it wrote a
    purchase that a fold cannot reproduce without a step (stored before steps were recorded); else False."""
    text = item.get("replayStep")
    if text is not None:
        return replay.decode(Step, json.loads(text))
    return item.get("outcome") in WROTE_A_PURCHASE and item.get("eventType") not in NOT_FOLDED


def _recorded(item: dict[str, Any]) -> tuple[dict, ...]:
    """The change details recorded on an event item (raw): those of the commit that processed it, and
    those its later batches added (`laterChanges`, one JSON list per batch)."""
    changes = json.loads(item.get("changes", {}).get("S", "[]"))
    for batch in item.get("laterChanges", {}).get("L", []):
        changes += json.loads(batch.get("S", "[]"))
    return tuple(changes)


def _cancellation_codes(error: ClientError) -> list[str]:
    return [reason.get("Code", "None") for reason in error.response.get("CancellationReasons", [])]


class DynamoRepository:
    """The repository and the event log, on one DynamoDB table."""

    def __init__(
        self, table_name: str, client: DynamoDBClient | None = None, recheck: timedelta = DEFAULT_RECHECK
    ) -> None:
        """`recheck`: how long after its last check a purchase is due for the drift scan again."""
        if client is None:
            import boto3

            client = boto3.client("dynamodb")
        self._table = table_name
        self._client = client
        self._recheck = recheck

    def _due(self, purchase: Purchase) -> dict[str, str]:
        """The purchase's place in the due index (GSI2): the drift scan reads what is due by now. A
        purchase with projections still to be written is due at once: the next scan completes them."""
        due = due_at(purchase, self._recheck)
        if purchase.pending_users:
            due = min(due, purchase.event_time) if due else purchase.event_time
        return {
            "GSI2PK": f"DUE#{due_shard(purchase.purchase_id)}",
            "GSI2SK": f"{_time(due)}#{purchase.purchase_id}",
        }

    # -- event log ----------------------------------------------------------------------------------

    def append(self, event: StoredEvent) -> AppendResult:
        """Conditional put on the event id; on a duplicate the old item comes back with the failure."""
        item = {
            **event_key(event.source, event.event_id),
            **_dump(
                {
                    "GSI1PK": f"EVENTS#{event.source}:{event.routing_key}",
                    "GSI1SK": f"{_time(event.received_at)}#{event.event_id}",
                    "source": event.source,
                    "eventId": event.event_id,
                    "eventType": event.event_type,
                    "receivedAt": _time(event.received_at),
                    "body": Binary(zlib.compress(event.body)),
                }
            ),
        }
        try:
            self._client.put_item(
                TableName=self._table,
                Item=item,
                ConditionExpression="attribute_not_exists(PK)",
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ClientError as error:
            if error.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise
            old = error.response.get("Item") or {}
            return AppendResult(stored=False, processed="processedAt" in old)
        return AppendResult(stored=True, processed=False)

    def get_event_body(self, source: str, event_id: str) -> bytes | None:
        response = self._client.get_item(TableName=self._table, Key=event_key(source, event_id))
        item = response.get("Item")
        return None if item is None else zlib.decompress(item["body"]["B"])

    def recorded_changes(self, source: str, event_id: str) -> tuple[dict, ...]:
        response = self._client.get_item(
            TableName=self._table,
            Key=event_key(source, event_id),
            ProjectionExpression="changes, laterChanges",
            ConsistentRead=True,
        )
        return _recorded(response.get("Item") or {})

    def mark_processed(
        self, source: str, event_id: str, outcome: str, purchase_id: str | None = None, now: datetime | None = None
    ) -> bool:
        update = self._event_processed(source, event_id, outcome, (), purchase_id, now)["Update"]
        update.pop("ReturnValuesOnConditionCheckFailure")
        try:
            self._client.update_item(**update)
        except ClientError as error:
            if error.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise
            return False
        return True

    PARKED = "UNRESOLVED"  # GSI1 partition of the events whose purchase is not known yet

    def park(self, source: str, event_id: str, now: datetime | None = None) -> bool:
        """Record the event as unresolved (its purchase unknown after its retries) and keep it
        processable: no `processedAt`, listed in GSI1's `UNRESOLVED` partition by arrival until it is
        processed (which moves it to its purchase's history). False when it was processed already."""
        try:
            self._client.update_item(
                TableName=self._table,
                Key=event_key(source, event_id),
                UpdateExpression="SET outcome = :outcome, unresolvedAt = :now, GSI1PK = :parked",
                ConditionExpression="attribute_exists(PK) AND attribute_not_exists(processedAt)",
                ExpressionAttributeValues=_dump(
                    {":outcome": "unresolved", ":now": _time(now or datetime.now(timezone.utc)), ":parked": self.PARKED}
                ),
            )
        except ClientError as error:
            if error.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise
            return False
        return True

    def parked(self, since: datetime) -> Iterator[tuple[str, str]]:
        """(source, event id) of the events parked unresolved that arrived since `since` and are still
        unprocessed, oldest first (every page)."""
        query: dict[str, Any] = {
            "TableName": self._table,
            "IndexName": "GSI1",
            "KeyConditionExpression": "GSI1PK = :parked AND GSI1SK >= :since",
            "FilterExpression": "attribute_not_exists(processedAt)",
            "ProjectionExpression": "PK",
            "ExpressionAttributeValues": _dump({":parked": self.PARKED, ":since": _time(since)}),
        }
        while True:
            response = self._client.query(**query)
            for item in map(_load, response.get("Items", [])):
                _, source, event_id = item["PK"].split("#", 2)
                yield source, event_id
            if "LastEvaluatedKey" not in response:
                return
            query["ExclusiveStartKey"] = response["LastEvaluatedKey"]

    # -- reads --------------------------------------------------------------------------------------

    def get_purchase(self, purchase_id: str) -> Purchase | None:
        response = self._client.get_item(TableName=self._table, Key=purchase_key(purchase_id), ConsistentRead=True)
        item = response.get("Item")
        return None if item is None else item_to_purchase(_load(item))

    def get_purchases(self, purchase_ids: Sequence[str]) -> dict[str, Purchase]:
        found: dict[str, Purchase] = {}
        for start in range(0, len(purchase_ids), 100):  # BatchGetItem takes a hundred keys
            for item in self._batch_get([purchase_key(pid) for pid in purchase_ids[start : start + 100]]):
                purchase = item_to_purchase(item)
                found[purchase.purchase_id] = purchase
        return found

    def audit_trail(self, user_id: str, limit: int = 100) -> tuple[AuditRecord, ...]:
        response = self._client.query(
            TableName=self._table,
            KeyConditionExpression="PK = :pk",
            ExpressionAttributeValues={":pk": {"S": f"AUDIT#{user_id}"}},
            ScanIndexForward=False,
            Limit=limit,
        )
        return tuple(item_to_audit(_load(item)) for item in response.get("Items", []))

    def purchase_events(self, purchase_id: str, limit: int = 50) -> tuple[EventSummary, ...]:
        response = self._client.query(
            TableName=self._table,
            IndexName="GSI1",
            KeyConditionExpression="GSI1PK = :pk",
            ExpressionAttributeValues={":pk": {"S": f"EVENTS#{purchase_id}"}},
            ProjectionExpression="PK, eventType, receivedAt, processedAt, outcome, purchaseId",
            ScanIndexForward=False,
            Limit=limit,
        )
        return tuple(
            EventSummary(
                source=item["PK"].split("#", 2)[1],
                event_id=item["PK"].split("#", 2)[2],
                event_type=item.get("eventType", ""),
                received_at=_parse_time(item.get("receivedAt")),
                processed_at=_parse_time(item.get("processedAt")),
                outcome=item.get("outcome"),
                purchase_id=item.get("purchaseId"),
            )
            for item in map(_load, response.get("Items", []))
        )

    def find_payment(self, refs: Sequence[str], source: str = "stripe") -> PaymentRef | None:
        if not refs:
            return None
        found = {}
        for item in self._batch_get([_key(f"PAYREF#{source}:{ref}", "PAYREF") for ref in refs]):
            found[item["ref"]] = PaymentRef(
                item["ref"], item["purchaseId"], _parse_time(item.get("periodEnd")), tuple(item.get("ownerIds") or ())
            )
        return next((found[ref] for ref in refs if ref in found), None)

    def read_purchase(
        self, purchase_id: str, customer_ref: str | None = None, app_account_token: str | None = None
    ) -> PurchaseRead:
        """The purchase, and the users linked to `customer_ref` / `app_account_token`: one request."""
        if customer_ref is None and app_account_token is None:
            return PurchaseRead(self.get_purchase(purchase_id))
        keys = [purchase_key(purchase_id)]
        if customer_ref is not None:
            keys.append(_key(f"CUSTOMER#stripe:{customer_ref}", "LINK"))
        if app_account_token is not None:
            keys.append(_key(f"TOKEN#{app_account_token}", "TOKEN"))
        found = {item["SK"]: item for item in self._batch_get(keys)}
        purchase = found.get("PURCHASE")
        return PurchaseRead(
            purchase=None if purchase is None else item_to_purchase(purchase),
            customer_user=(found.get("LINK") or {}).get("userId"),
            token_user=(found.get("TOKEN") or {}).get("userId"),
        )

    def _batch_get(self, keys: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Consistent BatchGetItem; keys DynamoDB leaves unprocessed (throttling) are asked again."""
        items: list[dict[str, Any]] = []
        request: dict[str, Any] = {self._table: {"Keys": keys, "ConsistentRead": True}}
        while request:
            response = self._client.batch_get_item(RequestItems=request)
            items += [_load(item) for item in response.get("Responses", {}).get(self._table, [])]
            request = response.get("UnprocessedKeys") or {}
        return items

    def load_user(self, user_id: str) -> UserState:
        items: list[dict[str, Any]] = []
        query: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": "PK = :pk",
            "ExpressionAttributeValues": {":pk": {"S": user_pk(user_id)}},
            "ConsistentRead": True,
        }
        while True:
            response = self._client.query(**query)
            items += [_load(item) for item in response.get("Items", [])]
            if "LastEvaluatedKey" not in response:
                break
            query["ExclusiveStartKey"] = response["LastEvaluatedKey"]
        return _user_from_items(user_id, items)

    def user_for_token(self, app_account_token: str) -> str | None:
        response = self._client.get_item(TableName=self._table, Key=_key(f"TOKEN#{app_account_token}", "TOKEN"))
        item = response.get("Item")
        return None if item is None else item["userId"]["S"]

    # -- replay ---------------------------------------------------------------------------------------

    def replay_steps(self, purchase_id: str) -> tuple[tuple[Step, ...], int]:
        """The steps the purchase's events recorded (GSI1, every page), and how many of its events wrote
        it without recording one (stored before steps were recorded: it cannot be rebuilt exactly)."""
        query: dict[str, Any] = {
            "TableName": self._table,
            "IndexName": "GSI1",
            "KeyConditionExpression": "GSI1PK = :pk",
            "ExpressionAttributeValues": {":pk": {"S": f"EVENTS#{purchase_id}"}},
            "ProjectionExpression": "replayStep, outcome, eventType",
        }
        steps, unrecorded = [], 0
        while True:
            response = self._client.query(**query)
            for item in map(_load, response.get("Items", [])):
                entry = _replay_entry(item)
                if isinstance(entry, Step):
                    steps.append(entry)
                else:
                    unrecorded += entry
            if "LastEvaluatedKey" not in response:
                return tuple(steps), unrecorded
            query["ExclusiveStartKey"] = response["LastEvaluatedKey"]

    def replay_input(self, progress=None) -> ReplayInput:
        """Everything a replay of every purchase reads, in one pass over the table (Scan, paged):
        each purchase's steps, the purchases and the users as stored. `progress(items)` after each page."""
        steps: dict[str, list[Step]] = {}
        unrecorded: dict[str, int] = {}
        purchases: dict[str, Purchase] = {}
        partitions: dict[str, list[dict[str, Any]]] = {}
        scan: dict[str, Any] = {"TableName": self._table}
        seen = 0
        while True:
            response = self._client.scan(**scan)
            for item in map(_load, response.get("Items", [])):
                pk = item["PK"]
                if pk.startswith("EVENT#"):
                    entry = _replay_entry(item)
                    if isinstance(entry, Step):
                        steps.setdefault(entry.purchase_id, []).append(entry)
                    elif entry and item.get("purchaseId"):
                        unrecorded[item["purchaseId"]] = unrecorded.get(item["purchaseId"], 0) + 1
                elif pk.startswith("PURCHASE#") and item["SK"] == "PURCHASE":
                    purchase = item_to_purchase(item)
                    purchases[purchase.purchase_id] = purchase
                elif pk.startswith("USER#"):
                    partitions.setdefault(pk.removeprefix("USER#"), []).append(item)
            seen += len(response.get("Items", []))
            if progress:
                progress(seen)
            if "LastEvaluatedKey" not in response:
                break
            scan["ExclusiveStartKey"] = response["LastEvaluatedKey"]
        users = {uid: _user_from_items(uid, items) for uid, items in partitions.items()}
        return ReplayInput({pid: tuple(s) for pid, s in steps.items()}, unrecorded, purchases, users)

    # -- drift scan ---------------------------------------------------------------------------------

    def due_purchases(self, now: datetime, page_size: int = 500) -> Iterator[str]:
        """The ids of the purchases due for a check by `now`, shard after shard (GSI2, keys only)."""
        until = f"{_time(now)}#~"  # "~" sorts after every purchase id
        for shard in range(DUE_SHARDS):
            query: dict[str, Any] = {
                "TableName": self._table,
                "IndexName": "GSI2",
                "KeyConditionExpression": "GSI2PK = :pk AND GSI2SK <= :until",
                "ExpressionAttributeValues": {":pk": {"S": f"DUE#{shard}"}, ":until": {"S": until}},
                "Limit": page_size,
            }
            while True:
                response = self._client.query(**query)
                for item in response.get("Items", []):
                    yield item["PK"]["S"].removeprefix("PURCHASE#")
                if "LastEvaluatedKey" not in response:
                    break
                query["ExclusiveStartKey"] = response["LastEvaluatedKey"]

    def mark_checked(self, purchase: Purchase, at: datetime) -> bool:
        """Record that the purchase (as read, at its version) was checked with its store at `at`: its
        next due time moves on. False when it changed meanwhile (the next scan looks again)."""
        due = self._due(purchase.with_changes(checked_at=at))
        try:
            self._client.update_item(
                TableName=self._table,
                Key=purchase_key(purchase.purchase_id),
                UpdateExpression="SET checkedAt = :at, GSI2PK = :gpk, GSI2SK = :gsk",
                ConditionExpression="version = :version",
                ExpressionAttributeValues=_dump(
                    {":at": _time(at), ":version": purchase.version, ":gpk": due["GSI2PK"], ":gsk": due["GSI2SK"]}
                ),
            )
        except ClientError as error:
            if error.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise
            return False
        return True

    def save_report(self, report_id: str, fields: dict[str, Any]) -> None:
        """Create or overwrite a scan report's fields (`REPORTS` / `<report id>`; ids sort by time)."""
        names = {f"#f{i}": name for i, name in enumerate(fields)}
        self._client.update_item(
            TableName=self._table,
            Key=_key("REPORTS", report_id),
            UpdateExpression="SET " + ", ".join(f"#f{i} = :f{i}" for i in range(len(fields))),
            ExpressionAttributeNames=names,
            ExpressionAttributeValues=_dump({f":f{i}": value for i, value in enumerate(fields.values())}),
        )

    def add_to_report(self, report_id: str, counts: dict[str, int], examples: Sequence[dict], max_examples: int = 20) -> None:
        """Add a worker's counts (one update per batch, not per purchase) and a few examples."""
        names = {f"#c{i}": name for i, name in enumerate(counts)}
        values: dict[str, Any] = {f":c{i}": n for i, n in enumerate(counts.values())}
        update = "ADD " + ", ".join(f"counts.#c{i} :c{i}" for i in range(len(counts))) if counts else ""
        key = _key("REPORTS", report_id)
        if update:
            self._client.update_item(
                TableName=self._table,
                Key=key,
                UpdateExpression=update,
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=_dump(values),
            )
        if examples:
            try:
                self._client.update_item(
                    TableName=self._table,
                    Key=key,
                    UpdateExpression="SET examples = list_append(if_not_exists(examples, :none), :new)",
                    ConditionExpression="attribute_not_exists(examples) OR size(examples) < :max",
                    ExpressionAttributeValues=_dump({":none": [], ":new": list(examples), ":max": max_examples}),
                )
            except ClientError as error:
                if error.response["Error"]["Code"] != "ConditionalCheckFailedException":
                    raise  # enough examples already

    def reports(self, limit: int = 5) -> list[dict[str, Any]]:
        """The latest scan reports, newest first."""
        response = self._client.query(
            TableName=self._table,
            KeyConditionExpression="PK = :pk",
            ExpressionAttributeValues={":pk": {"S": "REPORTS"}},
            ScanIndexForward=False,
            Limit=limit,
        )
        return [{k: v for k, v in _load(item).items() if k not in ("PK", "SK")} for item in response.get("Items", [])]

    def cursor(self, name: str) -> str | None:
        response = self._client.get_item(TableName=self._table, Key=_key("CURSOR", name), ConsistentRead=True)
        return (response.get("Item") or {}).get("value", {}).get("S")

    def set_cursor(self, name: str, value: str) -> None:
        self._client.put_item(TableName=self._table, Item={**_key("CURSOR", name), "value": {"S": value}})

    # -- writes -------------------------------------------------------------------------------------

    def _put(self, pk: str, sk: str, attributes: dict[str, Any], **condition: Any) -> dict[str, Any]:
        """A transaction Put of one item (attributes whose value is None are left out)."""
        return {"Put": {"TableName": self._table, "Item": {**_key(pk, sk), **_dump(attributes)}, **condition}}

    def _profile_writes(self, user: UserWrite) -> list[dict[str, Any]]:
        if user.expected_version == 0:
            # The token is issued exactly once: both puts fail if the user or the token exists.
            new = "attribute_not_exists(PK)"
            token = user.new_app_account_token
            profile = {
                "userId": user.user_id,
                "appAccountToken": token,
                "version": 1,
                "refunds": user.refunds_added or None,
                "flaggedAt": _time(user.flagged_at),
                "mergedInto": user.merged_into,
                "aliases": list(user.aliases_added) or None,
            }
            return [
                self._put(user_pk(user.user_id), "PROFILE", profile, ConditionExpression=new),
                self._put(f"TOKEN#{token}", "TOKEN", {"userId": user.user_id}, ConditionExpression=new),
            ]
        sets, values = ["version = :next"], {":next": user.expected_version + 1, ":expected": user.expected_version}
        if user.refunds_added:
            sets.append("refunds = if_not_exists(refunds, :zero) + :refunds")
            values |= {":zero": 0, ":refunds": user.refunds_added}
        if user.flagged_at:
            sets.append("flaggedAt = :flagged")
            values[":flagged"] = _time(user.flagged_at)
        if user.merged_into:
            sets.append("mergedInto = :into")
            values[":into"] = user.merged_into
        if user.aliases_added:
            sets.append("aliases = list_append(if_not_exists(aliases, :none), :aliases)")
            values |= {":none": [], ":aliases": list(user.aliases_added)}
        return [
            {
                "Update": {
                    "TableName": self._table,
                    "Key": _key(user_pk(user.user_id), "PROFILE"),
                    "UpdateExpression": "SET " + ", ".join(sets),
                    "ConditionExpression": "version = :expected",
                    "ExpressionAttributeValues": _dump(values),
                }
            }
        ]

    def create_profile(self, user_id: str, app_account_token: str) -> UserState:
        try:
            self._client.transact_write_items(
                TransactItems=self._profile_writes(UserWrite(user_id, 0, new_app_account_token=app_account_token))
            )
        except ClientError as error:
            if error.response["Error"]["Code"] != "TransactionCanceledException":
                raise
            # Someone issued this user's token first: theirs stands.
            return self.load_user(user_id)
        # Ours stands; a user's items are only ever written together with the profile, so there are none.
        return UserState(user_id=user_id, app_account_token=app_account_token, version=1)

    def link_customer(self, source: str, event_id: str, customer_ref: str, user_id: str) -> None:
        self._transact(
            [
                self._event_processed(source, event_id, "customer_linked", ()),
                self._put(f"CUSTOMER#{source}:{customer_ref}", "LINK", {"userId": user_id, "customerRef": customer_ref}),
            ]
        )

    def _event_processed(
        self,
        source: str,
        event_id: str,
        outcome: str,
        changes,
        purchase_id: str | None = None,
        now: datetime | None = None,
        step: Step | None = None,
    ) -> dict[str, Any]:
        """Mark the event processed (once). An event about a purchase joins the purchase's history in
        GSI1, whatever id it arrived under (an invoice, a later token of a Play chain), with the step it
        wrote (`replayStep`, what `parity replay` folds)."""
        sets = ["processedAt = :now", "outcome = :outcome", "changes = :changes"]
        values = {
            ":now": _time(now or datetime.now(timezone.utc)),
            ":outcome": outcome,
            ":changes": json.dumps(list(changes)),
        }
        if purchase_id:
            sets += ["purchaseId = :pid", "GSI1PK = :gsi", "GSI1SK = if_not_exists(GSI1SK, :now)"]
            values |= {":pid": purchase_id, ":gsi": f"EVENTS#{purchase_id}"}
        if step is not None:
            sets.append("replayStep = :step")
            values[":step"] = json.dumps(replay.encode(step), separators=(",", ":"))
        return {
            "Update": {
                "TableName": self._table,
                "Key": event_key(source, event_id),
                "UpdateExpression": "SET " + ", ".join(sets),
                "ConditionExpression": "attribute_not_exists(processedAt)",
                "ExpressionAttributeValues": _dump(values),
                "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
            }
        }

    max_commit_items = MAX_TRANSACTION_ITEMS

    def commit_size(self, commit: Commit) -> int:
        return len(self._commit_items(commit))

    def commit(self, commit: Commit) -> None:
        items = self._commit_items(commit)
        if len(items) > self.max_commit_items:
            # A caller's bug, not a store failure: BoundedWriter splits what does not fit.
            raise ValueError(f"a commit of {len(items)} items does not fit one transaction ({self.max_commit_items})")
        self._transact(items, first_is_event=commit.completes_event)

    def _commit_items(self, commit: Commit) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        if commit.completes_event:
            only = commit.purchases[0].purchase.purchase_id if len(commit.purchases) == 1 else commit.purchase_id
            items.append(
                self._event_processed(commit.source, commit.event_id, commit.outcome, commit.change_details, only, step=commit.step)
            )
        elif commit.change_details:
            items.append(self._later_changes(commit.source, commit.event_id, commit.change_details))
        items += [self._pending_update(pending) for pending in commit.pending]
        for write in commit.purchases:
            purchase = write.purchase
            if write.expected_version == 0:
                condition = {"ConditionExpression": "attribute_not_exists(PK)"}
            else:
                condition = {
                    "ConditionExpression": "version = :expected",
                    "ExpressionAttributeValues": _dump({":expected": write.expected_version}),
                }
            item = {**purchase_to_item(purchase), **self._due(purchase)}
            items.append(self._put(f"PURCHASE#{purchase.purchase_id}", "PURCHASE", item, **condition))
        for user in commit.users:
            items += self._profile_writes(user)
            pk = user_pk(user.user_id)
            items += [self._put(pk, f"PURCHASE#{p.purchase_id}", purchase_to_item(p)) for p in user.put_purchases]
            items += [self._delete(pk, f"PURCHASE#{gone}") for gone in user.delete_purchase_ids]
            items += [self._put(pk, f"ENT#{e.entitlement_id}", entitlement_to_item(e)) for e in user.put_entitlements]
            items += [self._delete(pk, f"ENT#{gone}") for gone in user.delete_entitlement_ids]
        if commit.payment_refs:
            # Refs of the purchase written, or (a commit that writes none) of the purchase they name.
            purchase = commit.purchases[0].purchase if commit.purchases else None
            items += [
                self._put(
                    f"PAYREF#{ref.purchase_id.split(':', 1)[0]}:{ref.ref}",
                    "PAYREF",
                    {
                        "ref": ref.ref,
                        "purchaseId": ref.purchase_id,
                        "periodEnd": _time(ref.period_end),
                        "ownerIds": list(purchase.owner_ids if purchase else ref.owner_ids) or None,
                    },
                )
                for ref in commit.payment_refs
            ]
        items += [self._put(f"TOKEN#{token}", "TOKEN", {"userId": user_id}) for token, user_id in commit.token_moves]
        items += [
            {"Put": {"TableName": self._table, "Item": {**audit_key(r, n), **_dump(audit_to_item(r))}}}
            for n, r in enumerate(commit.audit)
        ]
        return items

    def _later_changes(self, source: str, event_id: str, changes) -> dict[str, Any]:
        """Add a batch's change details to those recorded on the event (re-published on a retry)."""
        return {
            "Update": {
                "TableName": self._table,
                "Key": event_key(source, event_id),
                "UpdateExpression": "SET laterChanges = list_append(if_not_exists(laterChanges, :none), :batch)",
                "ExpressionAttributeValues": {
                    ":none": {"L": []},
                    ":batch": {"L": [{"S": json.dumps(list(changes))}]},
                },
            }
        }

    def _pending_update(self, pending: PendingUpdate) -> dict[str, Any]:
        """Users added to or removed from a purchase's pending projections, on the version they were
        computed from: a batch computed from an older purchase is cancelled (and computed again)."""
        parts, values = [], {":version": pending.version}
        if pending.add:
            parts.append("ADD pendingUsers :add")
            values[":add"] = set(pending.add)
        if pending.remove:
            parts.append("DELETE pendingUsers :remove")
            values[":remove"] = set(pending.remove)
        return {
            "Update": {
                "TableName": self._table,
                "Key": purchase_key(pending.purchase_id),
                "UpdateExpression": " ".join(parts) or "SET version = :version",
                "ConditionExpression": "version = :version",
                "ExpressionAttributeValues": _dump(values),
            }
        }

    def _delete(self, pk: str, sk: str) -> dict[str, Any]:
        return {"Delete": {"TableName": self._table, "Key": _key(pk, sk)}}

    def _transact(self, items: list[dict[str, Any]], first_is_event: bool = True) -> None:
        try:
            self._client.transact_write_items(TransactItems=items)
        except ClientError as error:
            if error.response["Error"]["Code"] != "TransactionCanceledException":
                raise
            codes = _cancellation_codes(error)
            if first_is_event and codes and codes[0] == "ConditionalCheckFailed":
                # The event item is always first; its old image carries what was recorded then.
                old = error.response["CancellationReasons"][0].get("Item") or {}
                raise DuplicateEventError("the event was processed already", _recorded(old)) from error
            raise VersionConflictError(f"concurrent write, transaction cancelled: {codes}") from error

    # -- failures (read back by the operator console: `parity dlq show`) ----------------------------

    FAILURE_TEXT_LIMIT = 300

    def record_failure(self, source: str, event_id: str, error: BaseException | str, now: datetime | None = None) -> bool:
        """Why processing the event failed, on its log item: `lastError` (the error's type and message,
        redacted and truncated), `lastErrorAt`, and `failures` counted. Only onto an event the log holds
        (nothing is created); False when it holds none."""
        try:
            self._client.update_item(
                TableName=self._table,
                Key=event_key(source, event_id),
                UpdateExpression="SET lastError = :error, lastErrorAt = :at ADD failures :one",
                ConditionExpression="attribute_exists(PK)",
                ExpressionAttributeValues=_dump(
                    {
                        ":error": self.failure_text(error),
                        ":at": _time(now or datetime.now(timezone.utc)),
                        ":one": 1,
                    }
                ),
            )
        except ClientError as failure:
            if failure.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise
            return False
        return True

    @classmethod
    def failure_text(cls, error: BaseException | str) -> str:
        """`Type: message`, first line only, with anything that looks like a secret or a payload
        (JWTs and other long opaque tokens, API keys, bearer credentials, signatures) replaced."""
        import re

        if isinstance(error, BaseException):
            message = str(error).strip().splitlines()[0] if str(error).strip() else ""
            text = f"{type(error).__name__}: {message}" if message else type(error).__name__
        else:
            text = (str(error).strip().splitlines() or [""])[0]
        for pattern in (
            r"eyJ[\w-]+\.[\w-]*(?:\.[\w-]*)?",  # a JWT / JWS
            r"\b(?:sk|rk|pk|whsec)_[A-Za-z0-9_]+",  # Stripe keys and webhook secrets
            r"(?i)\b(?:bearer|basic)\s+\S+",  # credentials in a header
            r"\bv1=[0-9a-f]+",  # a Stripe-Signature value
            r"[A-Za-z0-9+/=_.-]{40,}",  # any other long opaque token (purchase tokens, base64)
        ):
            text = re.sub(pattern, "[redacted]", text)
        limit = cls.FAILURE_TEXT_LIMIT
        return text if len(text) <= limit else text[: limit - 1] + "…"
