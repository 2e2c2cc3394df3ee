"""DynamoDB: Parity's storage ports on one table.

- `schema`: the table itself, every item's keys and attribute names (the one place they are spelled).
- `codecs`: domain objects to items and back.
- `table`: the handle the parts share (client, table name, the requests they all make).
- One part per port, each a class on a shared `Table`: `event_log` (`EventLog`), `users` (`Users`),
  `purchases` and the transaction it writes, `commit` (`Repository`), `replay_reads` (`ReplayReader`),
  `drift_store` (`DriftStore`), `accounts` (`AccountStore`: erasure), and `failures` (why an event's
  processing failed, for the console).

The parts hold no state but the table handle and never call one another, so each can be built alone
on a `Table` (a test of one port needs no other). `DynamoRepository` combines them by inheritance,
adding nothing but its constructor: the composition root builds one object per container and passes it
wherever a service asks for any of these ports, and a service's type names the port it uses.

Names resolve on first use (PEP 562), so a function loads only the parts it builds: the entitlements
read loads `users` (and the codecs and schema it needs), not the commit, the event log or the drift store.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ...domain.names import on_first_use

_MODULE_OF = {
    **dict.fromkeys(
        (
            "audit_to_item",
            "entitlement_to_item",
            "item_to_audit",
            "item_to_entitlement",
            "item_to_purchase",
            "purchase_to_item",
        ),
        "codecs",
    ),
    "MAX_TRANSACTION_ITEMS": "commit",
    "DynamoAccounts": "accounts",
    "DynamoDriftStore": "drift_store",
    "DynamoEventLog": "event_log",
    "DynamoFailureRecords": "failures",
    "DynamoPurchases": "purchases",
    "DynamoReplayReader": "replay_reads",
    "DynamoRepository": "repository",
    **dict.fromkeys(("EventItem", "audit_key", "event_key", "purchase_key", "user_pk"), "schema"),
    **dict.fromkeys(("DEFAULT_RECHECK", "Table"), "table"),
    "DynamoUsers": "users",
}
__all__ = [
    "DynamoAccounts",
    "DEFAULT_RECHECK",
    "DynamoDriftStore",
    "DynamoEventLog",
    "DynamoFailureRecords",
    "DynamoPurchases",
    "DynamoReplayReader",
    "DynamoRepository",
    "DynamoUsers",
    "EventItem",
    "MAX_TRANSACTION_ITEMS",
    "Table",
    "audit_key",
    "audit_to_item",
    "entitlement_to_item",
    "event_key",
    "item_to_audit",
    "item_to_entitlement",
    "item_to_purchase",
    "purchase_key",
    "purchase_to_item",
    "user_pk",
]


__getattr__ = on_first_use(__name__, _MODULE_OF)


if TYPE_CHECKING:
    from .accounts import DynamoAccounts
    from .codecs import (
        audit_to_item,
        entitlement_to_item,
        item_to_audit,
        item_to_entitlement,
        item_to_purchase,
        purchase_to_item,
    )
    from .commit import MAX_TRANSACTION_ITEMS
    from .drift_store import DynamoDriftStore
    from .event_log import DynamoEventLog
    from .failures import DynamoFailureRecords
    from .purchases import DynamoPurchases
    from .replay_reads import DynamoReplayReader
    from .repository import DynamoRepository
    from .schema import EventItem, audit_key, event_key, purchase_key, user_pk
    from .table import DEFAULT_RECHECK, Table
    from .users import DynamoUsers
