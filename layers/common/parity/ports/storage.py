"""The storage ports: the event log, the purchases and users, and what the drift scan and replay read.

One adapter (`parity.adapters.dynamodb.DynamoRepository`) implements them all on one table; each port
names one concern, so that a service says which it needs and a fake implements no more than that.
Conditional writes live here: their failures come back as `parity.domain.errors` types, never as the
store's own exceptions.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any, Protocol

from ..domain.model import PaymentRef, Purchase
from ..domain.ownership import AuditRecord
from ..domain.replay import Step
from ..domain.users import UserState
from .events import AppendResult, EventSummary, StoredEvent
from .records import Commit, PurchaseRead, ReplayInput


class EventLog(Protocol):
    """Every verified store event and operator action, kept raw, each processed once."""

    def append(self, event: StoredEvent) -> AppendResult:
        """Store the event unless its (source, event id) is known: a conditional put, the idempotency
        guard. A known id writes nothing; the result says whether that event was processed already."""

    def mark_processed(self, source: str, event_id: str, outcome: str, purchase_id: str | None = None) -> bool:
        """Record that the event was processed with no state change (`outcome`: ignored, stale,
        rejected, ...). Conditional on it not being processed yet: False when it was (nothing written).
        With a `purchase_id` the event joins that purchase's history (`Repository.purchase_events`)."""

    def recorded_changes(self, source: str, event_id: str) -> tuple[Mapping, ...]:
        """The change events recorded when the event was applied, in the order written (none if it
        changed nothing): what a retry publishes again when the first attempt died before publishing."""

    def get_event_body(self, source: str, event_id: str) -> bytes | None:
        """The stored raw body (for queue messages too large to carry it), None when unknown."""

    def park(self, source: str, event_id: str) -> bool:
        """Record an event whose purchase is still unknown as unresolved, processable later (`parked`
        lists it until it is processed). Conditional on the event being stored and not processed: False
        otherwise (nothing written)."""

    def parked(self, since: datetime) -> Iterator[tuple[str, str]]:
        """(source, event id) of the unresolved events received since `since`, still unprocessed,
        oldest first."""


class Users(Protocol):
    """A user's partition: read whole, and its profile created once (what an entitlements read needs)."""

    def load_user(self, user_id: str) -> UserState:
        """Profile, purchases and entitlement projection in one consistent read; a user never written
        comes back empty (`exists` False, version 0)."""

    def create_profile(self, user_id: str, app_account_token: str) -> UserState:
        """Issue the user's appAccountToken once: conditional on neither the user nor the token
        existing. When another writer created the profile first, that profile is returned."""


class Repository(Users, Protocol):
    """Purchases, users and their links, written together by conditional commits."""

    def find_payment(self, refs: Sequence[str], source: str = "stripe") -> PaymentRef | None:
        """The purchase an earlier event recorded for any of these payment refs (first match wins):
        Stripe invoices, payment intents and charges; Play purchase tokens of one chain."""

    def read_purchase(
        self, purchase_id: str, customer_ref: str | None = None, app_account_token: str | None = None
    ) -> PurchaseRead:
        """The purchase, and the users linked to the customer / the token when asked (one request,
        consistent)."""

    def link_customer(self, source: str, event_id: str, customer_ref: str, user_id: str) -> None:
        """Link a store customer to a user and mark the event processed (`customer_linked`), in one
        transaction. Raises DuplicateEventError when the event was processed already."""

    max_commit_items: int  # the most items one commit may hold (DynamoDB: 100 per transaction)

    def commit(self, commit: Commit) -> None:
        """Write a processed event atomically, or nothing: the event marked processed (once), each
        purchase on its expected version (0: it must not exist), each user's profile on its expected
        version, and the items they carry.

        Raises DuplicateEventError (the event was processed already; it carries the changes recorded
        then) or VersionConflictError (another writer came first: read again, then retry); ValueError
        when the commit holds more than `max_commit_items`.

        `completes_event` False: the event is not marked processed; the commit's change details are
        added to those recorded on it (`recorded_changes` returns both)."""

    def commit_size(self, commit: Commit) -> int:
        """How many items `commit` writes (at most `max_commit_items` in one commit)."""

    def get_purchase(self, purchase_id: str) -> Purchase | None:
        """The canonical purchase record (consistent read), None when unknown."""

    def get_purchases(self, purchase_ids: Sequence[str]) -> dict[str, Purchase]:
        """The canonical purchase records that exist, by id (consistent reads)."""

    def audit_trail(self, user_id: str, limit: int = 100) -> tuple[AuditRecord, ...]:
        """The user's audit trail, newest first."""

    def purchase_events(self, purchase_id: str, limit: int = 50) -> tuple[EventSummary, ...]:
        """The stored events applied to a purchase, newest first."""


class DriftStore(Protocol):
    """The drift scan's bookkeeping: which purchases are due for a store check, its reports, cursors."""

    def due_page(
        self, now: datetime, shard: int, ends: bool, after: str | None = None, limit: int = 500
    ) -> tuple[list[str], str | None]:
        """One page (at most `limit`) of the ids due for a check by `now` in one shard of the due index
        (`domain.drift.due`, `due_shard`): its first pass (`ends`: access should have ended, projections
        pending) or its rolling slice, oldest due first, from the position `after` a page before
        returned. Returns the ids and the position to go on from (None: the pass is done). An index
        read: no table scan."""

    def mark_checked(self, purchase: Purchase, at: datetime) -> bool:
        """Record that the purchase, as read, was checked with its store at `at`: its next due time
        moves on. Conditional on its version: False when it changed meanwhile (the next scan looks
        again)."""

    def spend_budget(self, name: str, wanted: int, limit: int) -> int:
        """Take up to `wanted` from the budget `name`, of which at most `limit` is ever taken; returns
        how many were granted (less than wanted when little is left, 0 once it is spent). Concurrent
        spenders never take more than `limit` between them."""

    def save_report(self, report_id: str, fields: dict[str, Any]) -> None:
        """Create a scan report, or overwrite these fields of it (the others stay)."""

    def add_to_report(self, report_id: str, counts: dict[str, int], examples: Sequence[dict]) -> None:
        """Add a batch's counts to the report's (added in place: concurrent workers add up) and append
        its examples while the report holds few (the ones beyond are dropped)."""

    def report(self, report_id: str) -> dict[str, Any] | None:
        """One scan report as the workers have completed it so far (consistent read), None when unknown."""

    def cursor(self, name: str) -> str | None:
        """The value last saved under `name` (consistent read), None before the first."""

    def set_cursor(self, name: str, value: str) -> None:
        """Save `value` under `name` (last writer wins)."""


class ReplayReader(Protocol):
    """What `parity replay` reads: the steps the events recorded, beside the state as stored."""

    def replay_steps(self, purchase_id: str) -> tuple[tuple[Step, ...], int]:
        """The steps the purchase's events recorded, in order, and how many of its events wrote it
        without recording one (stored before steps were: the purchase cannot be rebuilt exactly)."""

    def replay_input(self, progress: Callable[[int], None] | None = None) -> ReplayInput:
        """Every purchase's steps, and every purchase and user as stored, in one pass over the store;
        `progress(items read)` after each page."""


class AccountStore(Protocol):
    """What erasing an account removes beyond its purchases' ownership (each call idempotent)."""

    def erase_event_body(self, source: str, event_id: str) -> None:
        """Forget the raw body of a stored event (the event, its outcome and replay step stay);
        `get_event_body` answers None from then on. Nothing happens for an unknown event."""

    def erase_account(self, user_id: str, tokens: Sequence[str], customer_refs: Sequence[str], names: Sequence[str]) -> None:
        """Delete the user's partition (profile, purchase copies, projections), the appAccountToken
        lookups `tokens` and the Stripe customer links `customer_refs` while they resolve to one of
        `names`, and the user's audit trail but its erasure lines."""

    def replace_audit_mentions(self, user_id: str, erased: str, placeholder: str) -> int:
        """In `user_id`'s audit trail, name `placeholder` instead of `erased` wherever a line names it
        as the other party; how many lines changed."""


class ErasureRepository(Repository, EventLog, AccountStore, Protocol):
    """What erasing an account reads and writes."""


class DriftRepository(Repository, DriftStore, Protocol):
    """What the drift scan's reconciler reads and writes: purchases, and the scan's bookkeeping."""


class ReplayRepository(Repository, EventLog, ReplayReader, Protocol):
    """What a replay reads and writes: the recorded steps, the state as stored, and the replay itself
    in the event log."""
