"""moto's TransactWriteItems, with the same semantics at a cost that does not grow with the table.

moto backs up every table a transaction touches with `copy.deepcopy(table)` before applying it, to
roll back when a condition fails: each transaction costs a copy of the whole table, and a run of
thousands of events against a table of tens of thousands of items spends nearly all its time copying.
The backup made here is the table object with its item index copied (the items themselves shared)
and deep copies of only the items the transaction updates in place (`Put` and `Delete` replace or
remove an item object, so the shared references stay the old state). The rollback, moto's own,
restores the backup the same way.
"""

from __future__ import annotations

import contextlib
import copy as _copy
import threading
from collections import defaultdict
from collections.abc import Iterator

_state = threading.local()


class _CopyShim:
    """Stands in for the `copy` module inside moto's DynamoDB backend module."""

    def __getattr__(self, name):
        return getattr(_copy, name)

    @staticmethod
    def deepcopy(value, memo=None):
        from moto.dynamodb.models.table import Table

        updates = getattr(_state, "updates", None)
        if updates is None or not isinstance(value, Table):
            return _copy.deepcopy(value, memo)
        backup = _copy.copy(value)
        if value.has_range_key:
            backup.items = defaultdict(dict, {h: dict(rs) for h, rs in value.items.items()})
        else:
            backup.items = defaultdict(dict, value.items)
        for item in updates.get(value.name, ()):
            fresh = _copy.deepcopy(item)
            if value.has_range_key:
                backup.items[item.hash_key][item.range_key] = fresh
            else:
                backup.items[item.hash_key] = fresh
        return backup


@contextlib.contextmanager
def fast_transactions() -> Iterator[None]:
    from moto.dynamodb import models

    backend_class = models.DynamoDBBackend
    original = backend_class.transact_write_items
    original_copy = models.copy

    def transact_write_items(self, transact_items):
        updates: dict[str, list] = {}
        for entry in transact_items:
            kind, op = next(iter(entry.items()))
            if kind == "Update" and op.get("TableName") in self.tables:
                with contextlib.suppress(Exception):  # moto reports a bad key itself
                    item = self.get_item(op["TableName"], op["Key"])
                    if item is not None:
                        updates.setdefault(op["TableName"], []).append(item)
        _state.updates = updates
        try:
            return original(self, transact_items)
        finally:
            _state.updates = None

    backend_class.transact_write_items = transact_write_items
    models.copy = _CopyShim()
    try:
        yield
    finally:
        backend_class.transact_write_items = original
        models.copy = original_copy
