"""moto's DynamoDB and SQS with the same semantics at a cost that does not grow with the table.

Installed for the life of the local stack's process (`install()`), and around each in-process test
stack (`fast_transactions()`, tests.support.harness).

- TransactWriteItems: moto backs up every table a transaction touches with `copy.deepcopy(table)`
  before applying it (once per item of the transaction), to roll back when a condition fails: each
  transaction costs copies of the whole table. Here the backup is a deep copy of only the items the
  transaction names (None for an item that does not exist yet), taken before moto applies anything;
  moto's own "backup" becomes the table itself, and when the transaction fails (a condition, a
  validation error, two operations on one item, anything raised), exactly those items are put back
  as they were and the ones that did not exist are removed: all or nothing, as before, at a cost
  that depends on the transaction alone. (Only items an Update changes in place are copied; UpdateItem's
  own copy of the item, kept for a stream, is skipped when the table has none.)
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
- SQS retention: moto checks each message it hands out against the retention period through
  `get_queue_attributes`, which counts every message of the queue three times over (a receive costs
  the square of the queue's length); here the same check reads the queue's attribute.
"""

from __future__ import annotations

import contextlib
import copy as _copy
import functools
import json
import os
import threading
import time
from collections.abc import Callable, Iterator

_state = threading.local()


class _CopyShim:
    """Stands in for the `copy` module inside moto's DynamoDB backend module: within a transaction,
    moto's whole-table backup is the table itself (`transact_write_items` below keeps its own)."""

    def __getattr__(self, name):
        return getattr(_copy, name)

    @staticmethod
    def deepcopy(value, memo=None):
        from moto.dynamodb.models.dynamo_type import Item
        from moto.dynamodb.models.table import Table

        if getattr(_state, "in_transaction", False) and isinstance(value, Table):
            return value
        if getattr(_state, "item_unread", False) and isinstance(value, Item):
            return value  # UpdateItem's copy of the item before the update: only a stream reads it
        return _copy.deepcopy(value, memo)


def item_key(table, attributes: dict):
    """(hash, range) DynamoTypes of the item `attributes` (a key or a whole item) names on `table`."""
    from moto.dynamodb.models.dynamo_type import DynamoType

    hash_key = DynamoType(attributes[table.hash_key_attr])
    range_key = DynamoType(attributes[table.range_key_attr]) if table.range_key_attr else None
    return hash_key, range_key


def restore_item(table, hash_key, range_key, item) -> None:
    """Puts `item` (or its absence, None) back at its key."""
    if item is None:
        table.delete_item(hash_key, range_key)  # moto's: nothing to remove is not an error
    elif range_key is None:
        table.items[hash_key] = item
    else:
        table.items[hash_key][range_key] = item


def _transaction_backup(backend, transact_items: list[dict]) -> dict:
    """{(table name, hash, range): a deep copy of the item, or None} for every item named."""
    backup: dict = {}
    for entry in transact_items:
        with contextlib.suppress(Exception):  # a malformed entry: moto reports it itself
            kind, op = next(iter(entry.items()))
            table = backend.tables[op["TableName"]]
            hash_key, range_key = item_key(table, op["Item"] if kind == "Put" else op["Key"])
            key = (table.name, hash_key, range_key)
            if key not in backup:
                # An Update changes the item in place; a Put or a Delete replaces or drops the object
                # and leaves it as it was.
                current = table.get_item(hash_key, range_key)
                backup[key] = _copy.deepcopy(current) if kind == "Update" else current
    return backup


def _patches() -> list[tuple[object, str, object]]:
    """(owner, attribute, replacement) for every change this module makes."""
    from moto.core import responses as core_responses
    from moto.dynamodb import models
    from moto.sqs.models import SQSBackend

    def retention_valid(self, queue_name: str, message) -> bool:
        from moto.sqs.models import unix_time

        queue = self.get_queue(queue_name)
        return int(queue.message_retention_period) + message.sent_timestamp / 1000 > unix_time()

    return [
        *_table_patches(),
        (models, "copy", _CopyShim()),
        _serializer_patch(),
        (core_responses, "method_names_from_class", functools.lru_cache(maxsize=None)(core_responses.method_names_from_class)),
        (SQSBackend, "is_message_valid_based_on_retention_period", retention_valid),
        *_queue_patches(),
        *_name_cache_patches(),
        _jsonpath_patch(),
        _item_patch(),
        _update_expression_patch(),
    ]


def _update_expression_patch() -> tuple[object, str, object]:
    """moto parses an UpdateExpression twice per UpdateItem (the request's check, then the update);
    the tree is only read there (the validator works on a deep copy of it), so each expression string
    is parsed once."""
    from moto.dynamodb.parsing.expressions import UpdateExpressionParser

    return (UpdateExpressionParser, "make", staticmethod(functools.lru_cache(maxsize=1024)(UpdateExpressionParser.make)))


def _item_patch() -> tuple[object, str, object]:
    """moto builds an item attribute by attribute, and checks the 400 KB limit at each one by sizing
    every attribute already there (an item of n attributes costs n² sizings); here the item is sized
    once, against the same limit."""
    from moto.dynamodb.exceptions import ItemSizeTooLarge
    from moto.dynamodb.models.dynamo_type import DynamoType, Item, LimitedSizeDict, bytesize

    def item_init(self, hash_key, range_key, attrs) -> None:
        self.hash_key, self.range_key = hash_key, range_key
        values = {key: DynamoType(value) for key, value in attrs.items()}
        if sum(bytesize(key) + value.size() for key, value in values.items()) > 405000:
            raise ItemSizeTooLarge
        self.attrs = LimitedSizeDict()
        dict.update(self.attrs, values)

    return (Item, "__init__", item_init)


def _jsonpath_patch() -> tuple[object, str, object]:
    """moto's EventBridge builds each event a target receives from a template of eight JSONPath
    expressions, parsed anew (a parser generated by ply) for every event and target; the parsed
    expressions are kept."""
    import jsonpath_ng.ext

    return (jsonpath_ng.ext, "parse", functools.lru_cache(maxsize=256)(jsonpath_ng.ext.parse))


def _name_cache_patches() -> list[tuple[object, str, object]]:
    """moto converts the same attribute names from CamelCase on every request (an SQS send: seventy
    conversions); the answers are kept."""
    import sys

    import moto.events.models  # noqa: F401 - loaded now, so its reference is replaced too
    from moto.core import utils

    original = utils.camelcase_to_underscores
    cached = functools.lru_cache(maxsize=4096)(original)
    return [
        (module, "camelcase_to_underscores", cached)
        for name, module in list(sys.modules.items())
        if (name == "moto" or name.startswith("moto.")) and getattr(module, "camelcase_to_underscores", None) is original
    ]


def _queue_patches() -> list[tuple[object, str, object]]:
    """moto's SQS reads the clock through datetime arithmetic (a few microseconds) for every message of
    a queue, several times per request (a send computes the queue's attributes four times, each
    counting the visible messages): here the same clock (`time.time()`) is read directly, and once
    per listing."""
    from moto.sqs import models

    def unix_time(dt=None) -> float:
        return time.time() if dt is None else original_unix_time(dt)

    def unix_time_millis(dt=None) -> float:
        return time.time() * 1000.0 if dt is None else original_unix_time_millis(dt)

    def messages(self) -> list:
        now = models.unix_time_millis()  # looked up when called: a test's clock replaces it
        return [m for m in self._messages if now > m.visible_at and not now < m.delayed_until]

    def not_visible(self) -> int:
        now = models.unix_time_millis()
        return sum(1 for m in self._messages if not now > m.visible_at)

    original_unix_time, original_unix_time_millis = models.unix_time, models.unix_time_millis
    return [
        (models, "unix_time", unix_time),
        (models, "unix_time_millis", unix_time_millis),
        (models.Queue, "messages", property(messages)),
        (models.Queue, "approximate_number_of_messages_not_visible", property(not_visible)),
    ]


def _table_patches() -> list[tuple[object, str, object]]:
    from moto.dynamodb.models import DynamoDBBackend
    from moto.dynamodb.models.table import Table

    original_transact, original_update = DynamoDBBackend.transact_write_items, DynamoDBBackend.update_item
    original_query, original_all_items = Table.query, Table.all_items

    def update_item(self, table_name, *args, **kwargs):
        table = self.tables.get(table_name)
        _state.item_unread = table is not None and table.stream_shard is None
        try:
            return original_update(self, table_name, *args, **kwargs)
        finally:
            _state.item_unread = False

    def transact_write_items(self, transact_items):
        backup = _transaction_backup(self, transact_items)
        _state.in_transaction = True
        try:
            return original_transact(self, transact_items)
        except BaseException:
            for (name, hash_key, range_key), item in backup.items():
                table = self.tables.get(name)
                if table is not None:
                    restore_item(table, hash_key, range_key, item)
                    touched(name, hash_key, range_key)
            raise
        finally:
            _state.in_transaction = False

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

    return [
        (DynamoDBBackend, "transact_write_items", transact_write_items),
        (DynamoDBBackend, "update_item", update_item),
        (Table, "query", query),
        (Table, "all_items", all_items),
    ]


def _serializer_patch() -> tuple[object, str, object]:
    from moto.core.serialize import BaseJSONSerializer

    original_serialize = BaseJSONSerializer._serialize_result
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

    return (BaseJSONSerializer, "_serialize_result", serialize_result)


def install() -> Callable[[], None]:
    """Applies every change; returns the function that undoes them."""
    return apply(_patches())


def apply(patches: list[tuple[object, str, object]]) -> Callable[[], None]:
    """Sets each `(owner, name, replacement)`; returns the function that puts the originals back."""
    saved = [(owner, name, getattr(owner, name)) for owner, name, _ in patches]
    for owner, name, replacement in patches:
        setattr(owner, name, replacement)

    def undo() -> None:
        for owner, name, original in reversed(saved):
            setattr(owner, name, original)

    return undo


@contextlib.contextmanager
def fast_transactions() -> Iterator[None]:
    undo = install()
    try:
        yield
    finally:
        undo()


def track(keys: set | None) -> None:
    """Collect the keys of the items this thread's request changes into `keys` (None: stop)."""
    _state.touched = keys


def touched(table_name: str, hash_key, range_key) -> None:
    keys = getattr(_state, "touched", None)
    if keys is not None:
        keys.add((table_name, hash_key, range_key))


def _without_none(value):
    if isinstance(value, dict):
        return {k: _without_none(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_without_none(v) for v in value]
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    raise TypeError(type(value).__name__)
