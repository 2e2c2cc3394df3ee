"""The operator console's ports: what it reads of the table beyond one user's partition (a lookup, one
event as stored, the activity of the last hours), and the dead-letter queues with their history.

The console's pages show everything through the admin routes; these are the reads and queue actions
behind the routes it adds (`services.operations`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, NamedTuple, Protocol


class EventRecord(NamedTuple):
    """One stored event as operators see it, without its body: what processing made of it."""

    source: str
    event_id: str
    event_type: str | None
    received_at: datetime | None
    processed_at: datetime | None
    outcome: str | None
    purchase_id: str | None
    replay_step: Mapping[str, Any] | None  # the normalized write `parity replay` folds (None: none recorded)
    changes: Sequence[Mapping[str, Any]]  # the change events its commits recorded
    last_error: str | None = None
    failures: int | None = None


@dataclass
class Activity:
    """What one pass over the table counted since `since`: the health page's charts."""

    since: datetime
    events: dict[tuple[str, str], int] = field(default_factory=dict)  # (source, hour) -> events received
    changes: dict[str, int] = field(default_factory=dict)  # hour -> entitlement changes recorded
    last_event: dict[str, datetime] = field(default_factory=dict)  # source -> latest receivedAt seen
    entitlements: dict[tuple[str, str, bool], int] = field(default_factory=dict)  # (store, state, active) -> count
    items_read: int = 0
    complete: bool = True  # False: the pass stopped at its item budget


class OperatorReads(Protocol):
    """The reads behind the console's lookup, event timeline and health page."""

    def user_for_token(self, app_account_token: str) -> str | None:
        """The user an appAccountToken was issued to, None when it is unknown."""

    def user_for_customer(self, customer_ref: str) -> str | None:
        """The user a Stripe customer (`cus_...`) was linked to, None when it is not linked."""

    def event_record(self, source: str, event_id: str) -> EventRecord | None:
        """The stored event's record (not its body: `EventLog.get_event_body`), None when unknown."""

    def activity(self, since: datetime, now: datetime, max_items: int) -> Activity:
        """Events received and entitlement changes recorded since `since` (by hour, `YYYY-MM-DDTHH`),
        the latest event per source, and every user's entitlements by store, state and access at `now`: one pass over
        the store, reading at most `max_items` items (`complete` False when it stopped there)."""

    def reports(self, limit: int = 5) -> list[dict[str, Any]]:
        """The latest drift scan reports, newest first."""


class DeadLetterQueueState(NamedTuple):
    """A dead-letter queue as the health page shows it."""

    name: str  # the queue pair: StoreEvents, Reconcile
    url: str
    visible: int
    in_flight: int


class DeadLetterMessage(NamedTuple):
    """One dead letter, not consumed: the event it carries (or the short ids of a body naming none)."""

    message_id: str
    queue: str
    source: str | None
    event_id: str | None
    subject: Mapping[str, Any]
    group: str | None
    receive_count: int
    sent_at: datetime | None


class RedriveOutcome(NamedTuple):
    queue: str
    method: str  # "move-task" (SQS moves them) or "one-by-one"
    moved: int | None  # one by one: how many moved; a move task: None (SQS reports progress itself)
    task_handle: str | None = None


class DeadLetterQueues(Protocol):
    """The DLQs of the stack's queues: their depth and history, their messages, moving them back, purging."""

    def states(self) -> list[DeadLetterQueueState]:
        """Each DLQ and its approximate message counts."""

    def depth_history(self, since: datetime) -> dict[str, list[tuple[datetime, float]]]:
        """Each DLQ's depth (visible messages, hourly maximum) since `since`, oldest first."""

    def peek(self, queue: str, max_messages: int) -> list[DeadLetterMessage]:
        """Up to `max_messages` dead letters of `queue`, none consumed (each made visible again at once)."""

    def redrive(self, queue: str) -> RedriveOutcome:
        """Move `queue`'s dead letters back to its source queue (safe: processing is idempotent)."""

    def purge(self, queue: str) -> int:
        """Delete every dead letter of `queue`; about how many there were."""
