"""moto's DynamoDB with the same semantics at a cost that does not grow with the table.

- TransactWriteItems: moto backs up every table a transaction touches with `copy.deepcopy(table)`
  before applying it (once per item of the transaction), to roll back when a condition fails: each
  transaction costs copies of the whole table, and a run of thousands of events against a table of
  tens of thousands of items spends nearly all its time copying. The backup made here, once per table
  and transaction, is the table object with a shallow copy of its partition index, fresh dicts for the
  partitions the transaction names (a `Put` adds to its partition's dict in place), and deep copies of
  only the items the transaction updates in place (`Put` and `Delete` replace or remove an item
  object, so the shared references stay the old state). The rollback, moto's own, restores the backup.
- Query: moto lists *every* item of the table, sorted, for each Query, then keeps the partition asked
  for (or, on an index, the items whose index key matches, sorted again). Here a Query on the table
  reads only its partition (moto then filters and sorts it as before), and a Query on an index skips
  the first sort (moto sorts the matches by the index's keys itself).
- Responses: moto 5 writes every DynamoDB answer through its generic, shape-driven serializer, which
  costs more than the operation itself for an item-laden answer (a Query of a user's partition, an
  UpdateItem returning the item). A DynamoDB answer that is plain JSON (strings, numbers, booleans,
  lists, maps; no bytes, no timestamps) is written with `json.dumps` instead, its `None` members
  dropped as the serializer drops them; anything else goes through moto's serializer.
  `PARITY_CHECK_MOTO_SPEED=1` makes every such answer through both and fails on a difference.
- Request dispatch: moto lists a handler class's methods (`inspect.getmembers`) on every request; the
  list is kept per class.
"""

from __future__ import annotations

import contextlib
import copy as _copy
import functools
import json
import os
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
        backups = _state.backups
        if value.name in backups:  # moto asks once per item of the transaction; nothing applied yet
            return backups[value.name]
        backup = backups[value.name] = _copy.copy(value)
        backup.items = defaultdict(dict, value.items)
        if value.has_range_key:
            for hash_key in _state.partitions.get(value.name, ()):
                if hash_key in value.items:
                    backup.items[hash_key] = dict(value.items[hash_key])
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
        partitions: dict[str, set] = {}
        for entry in transact_items:
            kind, op = next(iter(entry.items()))
            table = self.tables.get(op.get("TableName"))
            if table is None:
                continue
            with contextlib.suppress(Exception):  # moto reports a bad key itself
                key = op.get("Item") if kind == "Put" else op.get("Key")
                partitions.setdefault(table.name, set()).add(DynamoType(key[table.hash_key_attr]))
            if kind == "Update":
                with contextlib.suppress(Exception):
                    item = self.get_item(op["TableName"], op["Key"])
                    if item is not None:
                        updates.setdefault(op["TableName"], []).append(item)
        _state.updates, _state.partitions, _state.backups = updates, partitions, {}
        try:
            return original(self, transact_items)
        finally:
            _state.updates = _state.partitions = _state.backups = None

    def query(self, hash_key, *args, **kwargs):
        index_name = args[6] if len(args) > 6 else kwargs.get("index_name")  # moto passes it by position
        _state.query_partition = () if index_name else (hash_key,) if hash_key is not None else None
        try:
            return original_query(self, hash_key, *args, **kwargs)
        finally:
            _state.query_partition = None

    def all_items(self):
        partition = getattr(_state, "query_partition", None)
        if partition is None:
            return original_all_items(self)
        _state.query_partition = None  # the first listing only
        if not partition:  # an index query: moto sorts what matches by the index's keys
            return [item for part in self.items.values() for item in (part.values() if self.range_key_attr else (part,))]
        found = self.items.get(partition[0]) if partition[0] in self.items else None
        if found is None:
            return []
        return list(found.values()) if self.range_key_attr else [found]

    from moto.core import responses as core_responses
    from moto.core.serialize import BaseJSONSerializer
    from moto.dynamodb.models.dynamo_type import DynamoType
    from moto.dynamodb.models.table import Table

    original_serialize = BaseJSONSerializer._serialize_result
    original_method_names = core_responses.method_names_from_class
    check = os.environ.get("PARITY_CHECK_MOTO_SPEED") == "1"

    def serialize_result(self, resp, result):
        if isinstance(result, dict) and self.operation_model.service_model.endpoint_prefix == "dynamodb":
            try:
                body = json.dumps(_without_none(result))
            except TypeError:  # bytes, datetimes: the serializer's business
                return original_serialize(self, resp, result)
            if check:
                expected = original_serialize(self, dict(resp, headers=dict(resp["headers"])), result)
                assert json.loads(expected["body"]) == json.loads(body), (self.operation_model.name, expected["body"], body)
            resp["body"] = body
            resp["headers"]["Content-Type"] = self._get_protocol_specific_content_type()
            return resp
        return original_serialize(self, resp, result)

    original_query, original_all_items = Table.query, Table.all_items
    BaseJSONSerializer._serialize_result = serialize_result
    core_responses.method_names_from_class = functools.lru_cache(maxsize=None)(original_method_names)
    backend_class.transact_write_items = transact_write_items
    models.copy = _CopyShim()
    Table.query, Table.all_items = query, all_items
    try:
        yield
    finally:
        backend_class.transact_write_items = original
        models.copy = original_copy
        Table.query, Table.all_items = original_query, original_all_items
        BaseJSONSerializer._serialize_result = original_serialize
        core_responses.method_names_from_class = original_method_names


def _without_none(value):
    if isinstance(value, dict):
        return {k: _without_none(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_without_none(v) for v in value]
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    raise TypeError(type(value).__name__)
