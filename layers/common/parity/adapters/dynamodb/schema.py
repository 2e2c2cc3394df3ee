"""The table: every item Parity keeps in its one DynamoDB table, with its keys and attribute names.

| item                     | PK                         | SK                                        |
|--------------------------|----------------------------|-------------------------------------------|
| user profile             | USER#<userId>              | PROFILE                                   |
| the user's purchase copy | USER#<userId>              | PURCHASE#<purchaseId>                     |
| entitlement projection   | USER#<userId>              | ENT#<entitlementId>                       |
| appAccountToken → user   | TOKEN#<appAccountToken>    | TOKEN                                     |
| purchase                 | PURCHASE#<purchaseId>      | PURCHASE                  (GSI2: due)     |
| event log                | EVENT#<source>#<eventId>   | EVENT                     (GSI1: history) |
| the event's raw body     | EVENT#<source>#<eventId>   | BODY                      (ttl: retention)|
| payment → purchase       | PAYREF#<source>:<ref>      | PAYREF                                    |
| store customer → user    | CUSTOMER#<source>:<ref>    | LINK                                      |
| audit trail line         | AUDIT#<userId>             | <at>#<source>#<eventId>#<action>#<nnn>    |
| drift scan report        | REPORTS                    | <reportId> (sorts by time)                |
| cursor                   | CURSOR                     | <name>                                    |

GSI1 (all attributes) lists events by arrival (`<receivedAt>#<eventId>`) under `EVENTS#<source>:<key it
arrived with>`, then under `EVENTS#<purchaseId>` once processing applies it to a purchase (the
purchase's history: admin reports, replays), or under `UNRESOLVED` while it is parked.
GSI2 (keys only) holds each purchase under `DUE#<shard>` (the scan's first pass: access should have
ended, projections pending) or `RECHECK#<shard>` (the rolling slice) at `<due time>#<purchaseId>`: the
drift scan reads what is due without a table scan, one shard per invocation.

The README's "DynamoDB (one table)" section is the prose version of this module: keep them consistent.
Attribute names are listed per item type below; `tests/unit/test_dynamodb_schema.py` checks that the
codecs write no other.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, overload

if TYPE_CHECKING:  # the event log (a webhook's whole table use) loads no purchase model
    from ...domain.model import Purchase
    from ...domain.ownership import AuditRecord

# -- keys and indexes ---------------------------------------------------------------------------------

PK, SK = "PK", "SK"
GSI1, GSI1PK, GSI1SK = "GSI1", "GSI1PK", "GSI1SK"  # events by purchase, by arrival key, parked
GSI2, GSI2PK, GSI2SK = "GSI2", "GSI2PK", "GSI2SK"  # purchases by due time (keys only, sharded)


def key(pk: str, sk: str) -> dict[str, Any]:
    """An item's primary key, typed as the low-level client takes it."""
    return {PK: {"S": pk}, SK: {"S": sk}}


# -- a user's partition: one Query reads the profile, the purchases' copies and the projections --------

USER_PREFIX = "USER#"
PROFILE = "PROFILE"
# The user's copies of their purchases (SK PURCHASE#<purchaseId>, the purchase's attributes) and the
# entitlements last computed (and published) for them (SK ENT#<entitlementId>).
ENTITLEMENT_PREFIX = "ENT#"
PROFILE_ATTRIBUTES = frozenset(
    {"userId", "appAccountToken", "version", "refunds", "flaggedAt", "mergedInto", "aliases"}
)
ENTITLEMENT_ATTRIBUTES = frozenset(
    {
        "entitlementId", "active", "state", "expiresAt", "graceEndsAt", "willRenew", "store", "productId",
        "purchaseId", "environment",
    }
)  # fmt: skip


def user_pk(user_id: str) -> str:
    return f"{USER_PREFIX}{user_id}"


def profile_key(user_id: str) -> dict[str, Any]:
    return key(user_pk(user_id), PROFILE)


def user_purchase_key(user_id: str, purchase_id: str) -> dict[str, Any]:
    return key(user_pk(user_id), f"{PURCHASE_PREFIX}{purchase_id}")


def entitlement_key(user_id: str, entitlement_id: str) -> dict[str, Any]:
    return key(user_pk(user_id), f"{ENTITLEMENT_PREFIX}{entitlement_id}")


# -- appAccountToken → user: issued once (its put is conditional on the token being new) ---------------

TOKEN = "TOKEN"
TOKEN_ATTRIBUTES = frozenset({"userId"})


def token_key(app_account_token: str) -> dict[str, Any]:
    return key(f"TOKEN#{app_account_token}", TOKEN)


# -- the purchase: the canonical record, versioned (every write is conditional on its version) ---------

PURCHASE_PREFIX = "PURCHASE#"
PURCHASE = "PURCHASE"
PURCHASE_ATTRIBUTES = frozenset(
    {
        "purchaseId", "store", "storeKey", "productId", "productRefs", "storeState", "state", "rawState",
        "expiresAt", "graceEndsAt", "lapsesTo", "willRenew", "environment", "app", "ownerIds", "manualOwner", "linkedUser",
        "customerRef", "eventTime", "snapshotAt", "checkedAt", "version",
        "revocations",  # a list of maps (REVOCATION_ATTRIBUTES)
        "pendingUsers",  # a string set: users whose projections are still to be written
        "familyShared", "consumable",  # Apple Family Sharing; a consumable (never granting)
        "creditedTo",  # the user a consumable's purchase.completed was published for
    }
)  # fmt: skip
REVOCATION_ATTRIBUTES = frozenset({"ref", "coversUntil", "active", "at", "refund"})
DUE_PREFIX, RECHECK_PREFIX = "DUE#", "RECHECK#"  # GSI2 partitions: DUE#<shard>, RECHECK#<shard>


def purchase_pk(purchase_id: str) -> str:
    return f"{PURCHASE_PREFIX}{purchase_id}"


def purchase_key(purchase_id: str) -> dict[str, Any]:
    return key(purchase_pk(purchase_id), PURCHASE)


def purchase_id_of(pk: str) -> str:
    """The purchase id in a purchase item's PK."""
    return pk.removeprefix(PURCHASE_PREFIX)


def due_index(purchase: Purchase, recheck: timedelta) -> dict[str, str]:
    """The purchase's place in GSI2: when it is next due for a store check (`domain.drift.due`), in its
    shard's first pass (`DUE#`) or its rolling slice (`RECHECK#`)."""
    from ...domain.drift import due, due_shard  # the purchase model's side of the table

    slot = due(purchase, recheck)
    prefix = DUE_PREFIX if slot.ends else RECHECK_PREFIX
    return {GSI2PK: f"{prefix}{due_shard(purchase.purchase_id)}", GSI2SK: f"{iso(slot.at)}#{purchase.purchase_id}"}


def due_partition(shard: int, ends: bool) -> str:
    """The GSI2 partition of one shard's pass."""
    return f"{DUE_PREFIX if ends else RECHECK_PREFIX}{shard}"


def due_until(now: datetime) -> str:
    """The GSI2 sort key at or below which every purchase is due by `now`."""
    return f"{iso(now)}#~"  # "~" sorts after every purchase id


# -- the event log: every verified store event and operator action, raw, each processed once -----------


class EventItem:
    """The event log item's attribute names (the local stack's event status page reads them raw)."""

    SOURCE = "source"
    EVENT_ID = "eventId"
    EVENT_TYPE = "eventType"
    RECEIVED_AT = "receivedAt"
    BODY = "body"  # the raw body, zlib-compressed
    PROCESSED_AT = "processedAt"  # set once: the processed-once condition
    OUTCOME = "outcome"  # applied, ignored, stale, customer_linked, unresolved, ...
    PURCHASE_ID = "purchaseId"  # the purchase it was applied to
    CHANGES = "changes"  # JSON: the change events its commit recorded (published again on a retry)
    LATER_CHANGES = "laterChanges"  # a list of JSON lists: those its later batches added
    REPLAY_STEP = "replayStep"  # JSON: the step it wrote, what `parity replay` folds
    UNRESOLVED_AT = "unresolvedAt"  # when it was parked, its purchase unknown
    LAST_ERROR = "lastError"  # why processing it failed last (redacted, truncated)
    LAST_ERROR_AT = "lastErrorAt"
    FAILURES = "failures"  # how many times processing it failed


EVENT_PREFIX = "EVENT#"
EVENT = "EVENT"
# The raw body lives in an item of its own beside the event's, which DynamoDB's TTL deletes after
# EVENT_RETENTION_DAYS (`ttl`: epoch seconds); the event item (processed mark, replay step) stays.
# Events stored before kept it on the event item (`EventItem.BODY`), read there as a fallback.
BODY = "BODY"
BODY_ATTRIBUTES = frozenset({"body", "ttl"})
TTL = "ttl"
EVENTS_PREFIX = "EVENTS#"  # GSI1 partitions: EVENTS#<purchaseId>, or EVENTS#<source>:<key> before
UNRESOLVED = "UNRESOLVED"  # GSI1 partition of the events parked until their purchase is known


def event_pk(source: str, event_id: str) -> str:
    return f"{EVENT_PREFIX}{source}#{event_id}"


def event_key(source: str, event_id: str) -> dict[str, Any]:
    return key(event_pk(source, event_id), EVENT)


def body_key(source: str, event_id: str) -> dict[str, Any]:
    return key(event_pk(source, event_id), BODY)


def event_id_of(pk: str) -> tuple[str, str]:
    """(source, event id) of an event item's PK."""
    _, source, event_id = pk.split("#", 2)
    return source, event_id


def arrival_index(source: str, routing_key: str, received_at: datetime, event_id: str) -> dict[str, str]:
    """Where a stored event waits in GSI1 until processing moves it to its purchase's history."""
    return {GSI1PK: f"{EVENTS_PREFIX}{source}:{routing_key}", GSI1SK: f"{iso(received_at)}#{event_id}"}


def history_pk(purchase_id: str) -> str:
    """The GSI1 partition of the events applied to the purchase."""
    return f"{EVENTS_PREFIX}{purchase_id}"


# -- lookups: a payment (Stripe invoice, payment intent, charge; Play token) → its purchase; a store
# customer → the user it was linked to ------------------------------------------------------------------

PAYREF = "PAYREF"
PAYREF_ATTRIBUTES = frozenset({"ref", "purchaseId", "periodEnd", "ownerIds"})
LINK = "LINK"
LINK_ATTRIBUTES = frozenset({"userId", "customerRef"})


def payment_ref_key(source: str, ref: str) -> dict[str, Any]:
    return key(f"PAYREF#{source}:{ref}", PAYREF)


def customer_key(source: str, customer_ref: str) -> dict[str, Any]:
    return key(f"CUSTOMER#{source}:{customer_ref}", LINK)


# -- the audit trail: one item per line in the user's AUDIT partition, sorted by time -----------------

AUDIT_ATTRIBUTES = frozenset(
    {"userId", "action", "at", "source", "eventId", "purchaseId", "otherUserIds", "strategy", "actor", "detail"}
)


def audit_pk(user_id: str) -> str:
    return f"AUDIT#{user_id}"


def audit_key(record: AuditRecord, position: int) -> dict[str, Any]:
    """One item per line: a commit may write several lines for one user (a merge that also reports
    double billing of two entitlements), told apart by their action and position in the commit."""
    sort_key = f"{iso(record.at)}#{record.source}#{record.event_id}#{record.action.value}#{position:03d}"
    return key(audit_pk(record.user_id), sort_key)


# -- the drift scan's bookkeeping: reports (fields the scan names, `counts`, `examples`) and cursors ----

REPORTS = "REPORTS"
CURSOR = "CURSOR"
CURSOR_ATTRIBUTES = frozenset({"value"})
BUDGET = "BUDGET"  # a day's spending of a check budget: BUDGET / <name> (`used`, expires by `ttl`)
BUDGET_ATTRIBUTES = frozenset({"used", "ttl"})


def report_key(report_id: str) -> dict[str, Any]:
    return key(REPORTS, report_id)


def cursor_key(name: str) -> dict[str, Any]:
    return key(CURSOR, name)


def budget_key(name: str) -> dict[str, Any]:
    return key(BUDGET, name)


# -- times: stored as ISO 8601 text, which sorts as it reads (the sort keys above rely on it) -------------


def iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


@overload
def from_iso(value: str) -> datetime: ...
@overload
def from_iso(value: None) -> None: ...
@overload
def from_iso(value: str | None) -> datetime | None: ...
def from_iso(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value)
