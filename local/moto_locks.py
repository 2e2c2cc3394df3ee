"""moto's DynamoDB and SQS served to concurrent callers, one request at a time per service.

moto's server answers each request on a thread of its own, but its backends keep no locks: two
conditional writes on one item, or two receives from one FIFO queue, could interleave and both
succeed. Here every public method of the DynamoDB and the SQS backend runs under its service's lock
(requests take microseconds to a few milliseconds), so each request is atomic as on AWS, and the
callers (functions, pollers) run in parallel around them.

A long poll (`ReceiveMessage` with `WaitTimeSeconds`) does not hold the lock while it waits: it
receives without waiting, and if nothing is ready waits for a send (or 50 ms: a FIFO group released by
a delete sends no signal) and tries again, until its wait time is up.

Each request also notes what it changed: the items it wrote (`local.moto_speed.touched`) and the
messages it sent, received, moved or deleted. When the outermost call of a request returns, still
under the lock, the guard's `sink` (the durable state, `local.state`) is handed them, so the state on disk
follows the order in which requests changed it.
"""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from local import moto_speed

LONG_POLL_STEP = 0.05


@dataclass
class Changes:
    """What one request changed, handed to its service's `Guard.sink` (None: nobody keeps it)."""

    items: set = field(default_factory=set)  # (table name, hash DynamoType, range DynamoType | None)
    messages: dict = field(default_factory=dict)  # message id -> (queue, message) or None: gone


_local = threading.local()
_where: dict[str, object] = {}  # message id -> the queue holding it


class Guard:
    """One service's lock; `wrap` puts a backend method under it."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.lock = threading.RLock()
        self.sink: Callable | None = None  # (service name, backend, Changes) -> None

    def wrap(self, method: Callable) -> Callable:
        @functools.wraps(method)
        def guarded(backend, *args, **kwargs):
            with self.lock:
                outer = getattr(_local, "changes", None) is None
                if outer:
                    _local.changes = Changes()
                    moto_speed.track(_local.changes.items)
                try:
                    return method(backend, *args, **kwargs)
                finally:
                    if outer:
                        changes, _local.changes = _local.changes, None
                        moto_speed.track(None)
                        if self.sink is not None and (changes.items or changes.messages):
                            self.sink(self.name, backend, changes)

        return guarded


DYNAMODB, SQS = Guard("dynamodb"), Guard("sqs")


def _message_changed(message, queue=None, gone: bool = False) -> None:
    if gone:
        _where.pop(message.id, None)
    elif queue is not None:
        _where[message.id] = queue
    changes = getattr(_local, "changes", None)
    if changes is not None:
        queue = _where.get(message.id)
        changes.messages[message.id] = None if gone or queue is None else (queue, message)


def note_restored(message, queue) -> None:
    """A message put back from disk (local.state): where it lives, without recording a change."""
    _where[message.id] = queue


# Backend methods wrapped below with more than the lock.
_OWN_WRAPPERS = frozenset({"update_item", "receive_message", "purge_queue", "delete_queue"})


def _patches() -> list[tuple[object, str, object]]:
    from moto.dynamodb.models import DynamoDBBackend
    from moto.dynamodb.models.table import Table
    from moto.sqs.models import Message, Queue, SQSBackend

    patches: list[tuple[object, str, object]] = []
    for guard, backend_class in ((DYNAMODB, DynamoDBBackend), (SQS, SQSBackend)):
        for name, value in vars(backend_class).items():
            if not name.startswith("_") and callable(value) and name not in _OWN_WRAPPERS:
                patches.append((backend_class, name, guard.wrap(value)))

    original_put, original_delete = Table.put_item, Table.delete_item
    original_update = DynamoDBBackend.update_item

    def put_item(self, *args, **kwargs):
        item = original_put(self, *args, **kwargs)
        moto_speed.touched(self.name, item.hash_key, item.range_key)
        return item

    def delete_item(self, hash_key, range_key):
        moto_speed.touched(self.name, hash_key, range_key)
        return original_delete(self, hash_key, range_key)

    def update_item(self, table_name, *args, **kwargs):
        item = original_update(self, table_name, *args, **kwargs)
        moto_speed.touched(table_name, item.hash_key, item.range_key)
        return item

    patches += [
        (Table, "put_item", put_item),
        (Table, "delete_item", delete_item),
        (DynamoDBBackend, "update_item", DYNAMODB.wrap(update_item)),
    ]
    patches += _sqs_patches(Message, Queue, SQSBackend)
    return patches


def _sqs_patches(Message, Queue, SQSBackend) -> list[tuple[object, str, object]]:  # noqa: N803 - classes
    original_add, original_delete = Queue.add_message, Queue.delete_message
    original_received, original_visibility = Message.mark_received, Message.change_visibility
    original_receive, original_purge = SQSBackend.receive_message, SQSBackend.purge_queue
    original_delete_queue = SQSBackend.delete_queue

    def add_message(self, message) -> None:
        original_add(self, message)
        if self._messages and self._messages[-1] is message:  # not dropped as a FIFO duplicate
            _message_changed(message, self)

    def delete_message(self, receipt_handle: str) -> None:
        before = [m for m in self._messages if m.had_receipt_handle(receipt_handle)]
        original_delete(self, receipt_handle)
        for message in before:
            _message_changed(message, gone=True)

    def mark_received(self, visibility_timeout=None) -> None:
        original_received(self, visibility_timeout)
        _message_changed(self)

    def change_visibility(self, visibility_timeout) -> None:
        original_visibility(self, visibility_timeout)
        _message_changed(self)

    def purge_queue(self, queue_name: str) -> None:
        before = list(self.get_queue(queue_name)._messages)
        original_purge(self, queue_name)
        for message in before:
            _message_changed(message, gone=True)

    def delete_queue(self, queue_name: str) -> None:
        before = list(self.get_queue(queue_name)._messages)
        original_delete_queue(self, queue_name)
        for message in before:
            _message_changed(message, gone=True)

    locked_receive = SQS.wrap(original_receive)

    def receive_message(self, queue_name, count, wait_seconds_timeout, visibility_timeout, message_attribute_names=None):
        deadline = time.monotonic() + int(wait_seconds_timeout or 0)
        while True:
            result = locked_receive(self, queue_name, count, 0, visibility_timeout, message_attribute_names)
            left = deadline - time.monotonic()
            if result or left <= 0:
                return result
            condition = self.get_queue(queue_name)._messages_lock
            with condition:
                condition.wait(timeout=min(LONG_POLL_STEP, left))

    return [
        (Queue, "add_message", add_message),
        (Queue, "delete_message", delete_message),
        (Message, "mark_received", mark_received),
        (Message, "change_visibility", change_visibility),
        (SQSBackend, "purge_queue", SQS.wrap(purge_queue)),
        (SQSBackend, "delete_queue", SQS.wrap(delete_queue)),
        (SQSBackend, "receive_message", receive_message),
    ]


def install() -> Callable[[], None]:
    """Puts the backends under their locks; returns the function that undoes it."""
    return moto_speed.apply(_patches())
