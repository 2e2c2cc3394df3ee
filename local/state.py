"""The local stack's durable state: its table items and queued messages kept on disk across restarts.

The state directory (`.parity/state` in the checkout, or `$PARITY_STATE_DIR`) holds two files of JSON
lines: `snapshot.jsonl`, every item and message at a moment, and `journal.jsonl`, every change since,
one line per item or message changed, written by the request that changed it before moto answers
(`local.moto_locks`): an event the webhook acknowledged is on disk, even if the process is killed a
moment later. A line gives the whole new state of its item or message (or that it is gone), so
replaying the journal over the snapshot it was written after is exact, and replaying it twice is
harmless.

At start the resources are created from the template as always, then the snapshot and the journal are
loaded into them (items of tables, messages of queues, by name; anything of a table or queue that no
longer exists is dropped with a warning), a fresh snapshot is written and the journal emptied. At a
clean stop (SIGINT, SIGTERM) the same compaction runs, and in the background whenever the journal
passes `JOURNAL_LIMIT` bytes (requests wait for it: a second or two for 100,000 items). Messages come back visible: whatever was in
flight when the stack stopped is received again (their receive counts are kept, so the redrive policy
still counts them). Not kept: what the change tap showed (`/_local/changes`), the FIFO deduplication
window, the EventBridge rules (created again from the template).

One stack at a time uses a directory (a lock file): a second stack started on it runs on memory only,
and says so. `--reset` (`make dev RESET=1`) empties the directory first.
"""

from __future__ import annotations

import base64
import fcntl
import json
import logging
import os
import threading
from pathlib import Path

from local import moto_locks

log = logging.getLogger("local.state")
ROOT = Path(__file__).resolve().parent.parent
STATE_DIR_ENV = "PARITY_STATE_DIR"
DEFAULT_STATE_DIR = ROOT / ".parity" / "state"
SNAPSHOT, JOURNAL, LOCK = "snapshot.jsonl", "journal.jsonl", "lock"
JOURNAL_LIMIT = 64 * 1024 * 1024  # bytes of journal that start a compaction
# Message fields kept (moto's Message attributes), besides id and body.
MESSAGE_FIELDS = (
    "sender_id",
    "sent_timestamp",
    "approximate_first_receive_timestamp",
    "approximate_receive_count",
    "deduplication_id",
    "group_id",
    "sequence_number",
    "delayed_until",
    "system_attributes",
)


def state_dir_path(environ=os.environ) -> Path:
    return Path(environ.get(STATE_DIR_ENV) or DEFAULT_STATE_DIR)


class DurableState:
    """Loads the state into moto, writes its changes as they happen, compacts at start and stop."""

    def __init__(self, directory: Path, reset: bool = False) -> None:
        self.directory = directory
        self.durable = False
        self._fd: int | None = None
        self._lock_file = None
        self._write_lock = threading.Lock()
        self._backends: tuple | None = None  # (DynamoDB, SQS) moto backends, once loaded
        self._journaled = 0  # bytes written to the journal since the last compaction
        self._compacting = False
        self.journal_limit = JOURNAL_LIMIT
        directory.mkdir(parents=True, exist_ok=True)
        self._lock_file = open(directory / LOCK, "a+")  # noqa: SIM115 - held for the stack's life
        try:
            fcntl.flock(self._lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            log.warning(
                "%s is used by another running local stack: this one keeps its state in memory only (set %s "
                "to give it a directory of its own)",
                directory,
                STATE_DIR_ENV,
            )
            self._lock_file.close()
            self._lock_file = None
            return
        self.durable = True
        if reset:
            for name in (SNAPSHOT, JOURNAL):
                (directory / name).unlink(missing_ok=True)

    # ----------------------------------------------------------------------------------- start

    def load(self, dynamodb, sqs) -> tuple[int, int]:
        """Loads snapshot and journal into the backends; compacts; journals from now on. (items, messages)."""
        if not self.durable:
            return 0, 0
        tables, queues = dynamodb.tables, sqs.queues
        dropped: set[str] = set()
        messages: dict[str, dict] = {}  # queue name -> {message id: record}, in the queue's order
        located: dict[str, str] = {}  # message id -> queue name
        for name in (SNAPSHOT, JOURNAL):
            path = self.directory / name
            if not path.exists():
                continue
            with open(path, encoding="utf-8") as lines:
                for number, line in enumerate(lines, 1):
                    try:
                        record = json.loads(line, object_hook=_decode)
                    except ValueError:  # a line cut short by a kill: the last one, nothing after it
                        log.warning("%s line %d is incomplete; ignored", path, number)
                        continue
                    if record.get("t") == "item":
                        _apply_item(record, tables, dropped)
                    elif record.get("t") == "msg":
                        previous = located.pop(record["id"], None)
                        if previous is not None and (record.get("gone") or previous != record["queue"]):
                            messages[previous].pop(record["id"], None)  # gone, or moved (to a DLQ)
                        if not record.get("gone"):  # an update keeps its place in the queue
                            messages.setdefault(record["queue"], {})[record["id"]] = record
                            located[record["id"]] = record["queue"]
        for queue_name, records in messages.items():
            queue = queues.get(queue_name)
            if queue is None:
                if records:
                    dropped.add(f"queue {queue_name}")
                continue
            for record in records.values():
                message = _message(record)
                queue._messages.append(message)
                moto_locks.note_restored(message, queue)
        if dropped:
            log.warning("state of resources the template no longer has was dropped: %s", ", ".join(sorted(dropped)))
        counts = self.compact(dynamodb, sqs)
        self._backends = (dynamodb, sqs)
        self._fd = os.open(self.directory / JOURNAL, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        moto_locks.DYNAMODB.sink = moto_locks.SQS.sink = self.record
        return counts

    # --------------------------------------------------------------------------------- changes

    def record(self, service: str, backend, changes: moto_locks.Changes) -> None:
        """Called under the service's lock by the request that made `changes`."""
        try:
            self._record(backend, changes)
        except Exception:  # the request stands; what it changed will be in the snapshot at the stop
            log.exception("could not write the state journal in %s", self.directory)

    def _record(self, backend, changes: moto_locks.Changes) -> None:
        lines = []
        for table_name, hash_key, range_key in changes.items:
            table = backend.tables.get(table_name)
            item = table.get_item(hash_key, range_key) if table is not None else None
            lines.append(_item_line(table_name, table, hash_key, range_key, item))
        for message_id, place in changes.messages.items():
            lines.append(_message_line(message_id, place))
        data = "".join(_dumps(line) + "\n" for line in lines).encode()
        with self._write_lock:
            if self._fd is None:
                return
            os.write(self._fd, data)
            self._journaled += len(data)
            if self._journaled < self.journal_limit or self._compacting:
                return
            self._compacting = True
        # Not here: this request holds its service's lock, and a compaction takes both.
        threading.Thread(target=self._compact_in_background, name="state-compaction", daemon=True).start()

    def _compact_in_background(self) -> None:
        try:
            if self._backends is not None:
                self.compact(*self._backends)
        except Exception:  # the journal keeps everything: the next compaction (or start) folds it
            log.exception("compacting the state in %s failed", self.directory)
        finally:
            self._compacting = False

    # --------------------------------------------------------------------------------- compact

    def compact(self, dynamodb, sqs) -> tuple[int, int]:
        """Every item and message into a fresh snapshot, then an empty journal. (items, messages)."""
        if not self.durable:
            return 0, 0
        with moto_locks.DYNAMODB.lock, moto_locks.SQS.lock, self._write_lock:
            scratch = self.directory / f".{SNAPSHOT}.tmp"
            items = messages = 0
            with open(scratch, "w", encoding="utf-8") as out:
                for name, table in dynamodb.tables.items():
                    for item in table.all_items():
                        out.write(_dumps(_item_line(name, table, item.hash_key, item.range_key, item)) + "\n")
                        items += 1
                for queue in sqs.queues.values():
                    for message in queue._messages:
                        out.write(_dumps(_message_line(message.id, (queue, message))) + "\n")
                        messages += 1
                out.flush()
                os.fsync(out.fileno())
            os.replace(scratch, self.directory / SNAPSHOT)
            self._journaled = 0
            if self._fd is not None:
                os.ftruncate(self._fd, 0)
            else:
                (self.directory / JOURNAL).unlink(missing_ok=True)
        return items, messages

    def close(self, dynamodb, sqs) -> tuple[int, int]:
        """At a clean stop: compacts, stops journaling, releases the directory."""
        if not self.durable:
            return 0, 0
        counts = self.compact(dynamodb, sqs)
        moto_locks.DYNAMODB.sink = moto_locks.SQS.sink = None
        with self._write_lock:
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None
        if self._lock_file is not None:
            self._lock_file.close()
            self._lock_file = None
        return counts


# ------------------------------------------------------------------------------------- records


def _item_line(table_name: str, table, hash_key, range_key, item) -> dict:
    key = {table.hash_key_attr: hash_key.to_json()} if table is not None else {}
    if table is not None and range_key is not None:
        key[table.range_key_attr] = range_key.to_json()
    return {"t": "item", "table": table_name, "key": key, "item": item.to_json()["Attributes"] if item else None}


def _message_line(message_id: str, place) -> dict:
    if place is None:
        return {"t": "msg", "id": message_id, "gone": True}
    queue, message = place
    fields = {name: getattr(message, name) for name in MESSAGE_FIELDS}
    attributes = message.message_attributes or {}
    return {"t": "msg", "id": message_id, "queue": queue.name, "body": message.body, "attributes": attributes, **fields}


_BYTES = "$bytes"  # bytes (a binary attribute) in a line: {"$bytes": "<base64>"}


def _dumps(line: dict) -> str:
    def default(value):
        if isinstance(value, (bytes, bytearray)):
            return {_BYTES: base64.b64encode(value).decode()}
        raise TypeError(type(value).__name__)

    return json.dumps(line, separators=(",", ":"), default=default)


def _decode(document: dict):
    if len(document) == 1 and _BYTES in document and isinstance(document[_BYTES], str):
        return base64.b64decode(document[_BYTES])
    return document


def _apply_item(record: dict, tables: dict, dropped: set[str]) -> None:
    from moto.dynamodb.models.dynamo_type import Item

    from local.moto_speed import item_key, restore_item

    table = tables.get(record["table"])
    if table is None:
        dropped.add(f"table {record['table']}")
        return
    hash_key, range_key = item_key(table, record["key"])
    item = Item(hash_key, range_key, record["item"]) if record["item"] is not None else None
    restore_item(table, hash_key, range_key, item)


def _message(record: dict):
    """moto's Message from its line; visible at once (a message in flight at the stop is received again)."""
    from moto.sqs.models import Message

    message = Message(record["id"], record["body"], record.get("system_attributes") or {})
    for name in MESSAGE_FIELDS:
        if name in record and name != "system_attributes":
            setattr(message, name, record[name])
    message.message_attributes = record.get("attributes") or {}
    return message
