"""In-memory implementations of every port (`parity.ports`), for service tests without AWS.

Each fake keeps the semantics the services rely on from its adapter, failures included: conditional
writes fail the same way and raise the same `parity.domain.errors` types, a commit is all or nothing,
an update of an event item the log never stored creates it (as DynamoDB's UpdateItem does), and what
one item holds reads back as the adapter reads it (JSON round trips, newest-first orders, the purchase
history an event joins under its routing key before it is applied). The contract suite
(`tests/integration/test_storage_contract.py`) runs the same checks against `MemoryStore` and
`DynamoRepository` on moto, so that the two cannot drift apart.

The verifiers (`AppleVerifier`, `PushVerifier`) are pure: tests use the real ones on test keys
(`apple_verifier`, `push_verifier` below) rather than an imitation.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta, timezone
from typing import Any

from parity.domain import replay
from parity.domain.drift import due, due_shard
from parity.domain.entitlements import Entitlement
from parity.domain.errors import DuplicateEventError, StoreApiError, VersionConflictError
from parity.domain.model import PaymentRef, Purchase
from parity.domain.ownership import AuditRecord
from parity.domain.replay import Step, split_entries
from parity.domain.users import UserState
from parity.ports import (
    AppendResult,
    Commit,
    EventSummary,
    PendingUpdate,
    PurchaseRead,
    ReplayInput,
    StoredEvent,
    UserWrite,
)

DEFAULT_RECHECK = timedelta(days=7)  # as `DynamoRepository`'s
DEFAULT_BODY_RETENTION = timedelta(days=90)
MAX_TRANSACTION_ITEMS = 100
PARKED = "UNRESOLVED"  # the index partition of the events whose purchase is not known yet
WROTE_A_PURCHASE = ("applied", "claim_refused")  # outcomes of events that wrote a purchase
NOT_FOLDED = ("user.merged", "state.replayed")  # writes a fold reproduces without a step
START = datetime(2026, 1, 1, 12, 0, tzinfo=timezone.utc)


def _time(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def _json(value: Any) -> Any:
    """What a value reads back as after the adapter stored it as JSON (tuples become lists)."""
    return json.loads(json.dumps(value))


# ---------------------------------------------------------------------------------------------- clock


class FakeClock:
    """A clock that a test sets and moves. It stands still, or with `tick` moves on by that much each
    time it is read (time passing between the steps of a test, deterministically)."""

    def __init__(self, now: datetime = START, tick: timedelta = timedelta()) -> None:
        self._now = now
        self._tick = tick

    def now(self) -> datetime:
        now, self._now = self._now, self._now + self._tick
        return now

    def set(self, now: datetime) -> None:
        self._now = now

    def advance(self, delta: timedelta | None = None, **parts: float) -> datetime:
        """Move on by `delta` or by `timedelta(**parts)`; returns the new time."""
        self._now += delta if delta is not None else timedelta(**parts)
        return self._now


# ------------------------------------------------------------------------------------------ messaging


@dataclass(frozen=True)
class Message:
    body: str
    group: str | None = None
    dedup_id: str | None = None


class MemoryQueue:
    """A queue (FIFO `send`, standard `send_batch`) and a consumed queue (`retry_later`), as lists.

    Like SQS FIFO, a second `send` with the same dedup id within five minutes (on `clock`) is dropped.
    """

    DEDUP_WINDOW = timedelta(minutes=5)

    def __init__(self, clock: FakeClock | None = None) -> None:
        self._clock = clock or FakeClock()
        self._dedup: dict[str, datetime] = {}
        self.messages: list[Message] = []
        self.delays: dict[str, int] = {}  # receipt handle → the delay asked for last

    def send(self, body: str, group: str, dedup_id: str) -> None:
        now = self._clock.now()
        sent = self._dedup.get(dedup_id)
        if sent is not None and now - sent < self.DEDUP_WINDOW:
            return
        self._dedup[dedup_id] = now
        self.messages.append(Message(body, group, dedup_id))

    def send_batch(self, bodies: list[str]) -> None:
        if not 1 <= len(bodies) <= 10:
            raise ValueError(f"SQS takes one to ten messages per batch, not {len(bodies)}")
        self.messages += [Message(body) for body in bodies]

    def retry_later(self, receipt_handle: str, delay_seconds: int) -> None:
        self.delays[receipt_handle] = max(0, min(int(delay_seconds), 12 * 3600))

    def bodies(self) -> list[Any]:
        """The messages sent, JSON-decoded, oldest first."""
        return [json.loads(message.body) for message in self.messages]

    def take(self) -> list[Any]:
        """The messages sent since the last `take`, JSON-decoded (a consumer receiving them)."""
        taken, self.messages = self.bodies(), []
        return taken


class RecordingPublisher:
    """The change bus: what was published, in order. `fail_next` refuses the next publish (a bus outage
    after the commit), as `EventBridgePublisher` raises when PutEvents refuses an entry."""

    def __init__(self) -> None:
        self.published: list[dict] = []
        self.fail_next = 0

    def publish(self, details: Sequence[Mapping]) -> None:
        if self.fail_next:
            self.fail_next -= 1
            raise RuntimeError("EventBridge refused the change events")
        self.published += [_json(dict(detail)) for detail in details]

    def changes(self) -> list[dict]:
        """The `entitlement.changed` details published since the last `changes` or `notices`."""
        return [detail for detail in self._take() if "type" not in detail]

    def notices(self) -> list[dict]:
        """The other events (flags, double billing, merges) published since the last take."""
        return [detail for detail in self._take() if "type" in detail]

    def _take(self) -> list[dict]:
        taken, self.published = self.published, []
        return taken


# -------------------------------------------------------------------------------------------- storage


@dataclass
class _Event:
    """One event-log item, as the adapter keeps it."""

    source: str
    event_id: str
    index_key: str  # the GSI1 partition: its routing key, then its purchase, or the parked events
    index_sort: str
    event_type: str | None = None
    received_at: datetime | None = None
    body: bytes | None = None
    body_expires_at: datetime | None = None  # the body item's `ttl`: DynamoDB deletes it then
    processed_at: datetime | None = None
    outcome: str | None = None
    purchase_id: str | None = None
    changes: list = field(default_factory=list)
    later_changes: list[list] = field(default_factory=list)
    step: Any = None  # the encoded step (JSON), as stored

    def recorded(self) -> tuple[dict, ...]:
        return tuple(self.changes) + tuple(change for batch in self.later_changes for change in batch)

    def replay_entry(self) -> Step | bool:
        """The step it recorded; else whether it wrote a purchase a fold cannot reproduce."""
        if self.step is not None:
            return replay.decode(Step, self.step)
        return self.outcome in WROTE_A_PURCHASE and self.event_type not in NOT_FOLDED


@dataclass
class _Profile:
    app_account_token: str | None
    version: int = 1
    refunds: int = 0
    flagged_at: datetime | None = None
    merged_into: str | None = None
    aliases: list[str] = field(default_factory=list)


class _Cancelled(Exception):
    """A condition of a transaction failed; `index` is the item's position."""

    def __init__(self, index: int) -> None:
        self.index = index


class MemoryStore:
    """The event log, the repository, the drift scan's store and the replay reader on dicts: every
    storage port `DynamoRepository` implements, with its conditional writes."""

    max_commit_items = MAX_TRANSACTION_ITEMS

    def __init__(
        self, clock: FakeClock | None = None, recheck: timedelta = DEFAULT_RECHECK, body_retention: timedelta = DEFAULT_BODY_RETENTION
    ) -> None:
        self._clock = clock
        self._recheck = recheck
        self._body_retention = body_retention
        self.events: dict[tuple[str, str], _Event] = {}
        self.purchases: dict[str, Purchase] = {}
        self.due: dict[str, str] = {}  # purchase id → its place in the due index (shard#time#id)
        self.profiles: dict[str, _Profile] = {}
        self.copies: dict[str, dict[str, Purchase]] = {}  # user → their copies of purchases
        self.entitlements: dict[str, dict[str, Entitlement]] = {}
        self.tokens: dict[str, str] = {}
        self.payment_refs: dict[str, PaymentRef] = {}  # "<source>:<ref>" → the purchase it paid
        self.customers: dict[str, str] = {}  # "<source>:<customer ref>" → user
        self.audit: dict[str, dict[str, AuditRecord]] = {}  # user → sort key → line
        self._reports: dict[str, dict[str, Any]] = {}
        self.cursors: dict[str, str] = {}
        self.budgets: dict[str, int] = {}  # budget name → how much of it was taken

    def _now(self) -> datetime:
        return self._clock.now() if self._clock else datetime.now(timezone.utc)

    # -- event log ----------------------------------------------------------------------------------

    def append(self, event: StoredEvent) -> AppendResult:
        known = self.events.get((event.source, event.event_id))
        if known is not None:
            return AppendResult(stored=False, processed=known.processed_at is not None)
        self.events[(event.source, event.event_id)] = _Event(
            event.source,
            event.event_id,
            index_key=f"EVENTS#{event.source}:{event.routing_key}",
            index_sort=f"{_time(event.received_at)}#{event.event_id}",
            event_type=event.event_type,
            received_at=event.received_at,
            body=bytes(event.body),
            body_expires_at=event.received_at + self._body_retention,
        )
        return AppendResult(stored=True, processed=False)

    def get_event_body(self, source: str, event_id: str) -> bytes | None:
        event = self.events.get((source, event_id))
        return None if event is None else event.body

    def expire_bodies(self, now: datetime) -> int:
        """What DynamoDB's TTL does to the body items past their `ttl` (the events stay); how many."""
        expired = [e for e in self.events.values() if e.body is not None and e.body_expires_at and e.body_expires_at <= now]
        for event in expired:
            event.body = None
        return len(expired)

    # -- account erasure ----------------------------------------------------------------------------

    def erase_event_body(self, source: str, event_id: str) -> None:
        event = self.events.get((source, event_id))
        if event is not None:
            event.body = None

    def erase_account(self, user_id: str, tokens: Sequence[str], customer_refs: Sequence[str], names: Sequence[str]) -> None:
        for token in tokens:
            if self.tokens.get(token) in names:
                del self.tokens[token]
        for ref in customer_refs:
            if self.customers.get(f"stripe:{ref}") in names:
                del self.customers[f"stripe:{ref}"]
        lines = self.audit.get(user_id, {})
        for key in [k for k, record in lines.items() if record.action.value != "erased"]:
            del lines[key]
        if not lines:
            self.audit.pop(user_id, None)
        self.copies.pop(user_id, None)
        self.entitlements.pop(user_id, None)
        self.profiles.pop(user_id, None)

    def replace_audit_mentions(self, user_id: str, erased: str, placeholder: str) -> int:
        lines = self.audit.get(user_id, {})
        changed = 0
        for key, record in lines.items():
            if erased in record.other_user_ids:
                others = tuple(placeholder if o == erased else o for o in record.other_user_ids)
                lines[key] = replace(record, other_user_ids=others)
                changed += 1
        return changed

    def recorded_changes(self, source: str, event_id: str) -> tuple[dict, ...]:
        event = self.events.get((source, event_id))
        return () if event is None else event.recorded()

    def mark_processed(self, source: str, event_id: str, outcome: str, purchase_id: str | None = None) -> bool:
        if self._is_processed(source, event_id):
            return False
        self._mark(source, event_id, outcome, (), purchase_id, None)
        return True

    def park(self, source: str, event_id: str) -> bool:
        event = self.events.get((source, event_id))
        if event is None or event.processed_at is not None:
            return False
        event.outcome, event.index_key = "unresolved", PARKED
        return True

    def parked(self, since: datetime) -> Iterator[tuple[str, str]]:
        floor = _time(since)
        found = [
            e for e in self.events.values() if e.index_key == PARKED and e.index_sort >= floor and e.processed_at is None
        ]
        for event in sorted(found, key=lambda e: e.index_sort):
            yield event.source, event.event_id

    def _is_processed(self, source: str, event_id: str) -> bool:
        event = self.events.get((source, event_id))
        return event is not None and event.processed_at is not None

    def _event_item(self, source: str, event_id: str) -> _Event:
        """The event's item; an update of one the log never stored creates it (UpdateItem upserts)."""
        event = self.events.get((source, event_id))
        if event is None:
            event = self.events[(source, event_id)] = _Event(source, event_id, index_key="", index_sort="")
        return event

    def _mark(self, source: str, event_id: str, outcome: str, changes, purchase_id: str | None, step: Step | None) -> None:
        now = self._now()
        event = self._event_item(source, event_id)
        event.processed_at, event.outcome, event.changes = now, outcome, _json(list(changes))
        if purchase_id:
            event.purchase_id, event.index_key = purchase_id, f"EVENTS#{purchase_id}"
            event.index_sort = event.index_sort or _time(now)
        if step is not None:
            event.step = _json(replay.encode(step))

    # -- reads --------------------------------------------------------------------------------------

    def find_payment(self, refs: Sequence[str], source: str = "stripe") -> PaymentRef | None:
        return next((self.payment_refs[f"{source}:{ref}"] for ref in refs if f"{source}:{ref}" in self.payment_refs), None)

    def read_purchase(
        self, purchase_id: str, customer_ref: str | None = None, app_account_token: str | None = None
    ) -> PurchaseRead:
        return PurchaseRead(
            self.purchases.get(purchase_id),
            customer_user=None if customer_ref is None else self.customers.get(f"stripe:{customer_ref}"),
            token_user=None if app_account_token is None else self.tokens.get(app_account_token),
        )

    def get_purchase(self, purchase_id: str) -> Purchase | None:
        return self.purchases.get(purchase_id)

    def get_purchases(self, purchase_ids: Sequence[str]) -> dict[str, Purchase]:
        return {pid: self.purchases[pid] for pid in purchase_ids if pid in self.purchases}

    def load_user(self, user_id: str) -> UserState:
        profile = self.profiles.get(user_id)
        copies = self.copies.get(user_id, {})
        entitlements = self.entitlements.get(user_id, {})
        return UserState(
            user_id=user_id,
            app_account_token=profile.app_account_token if profile else None,
            version=profile.version if profile else 0,
            refunds=profile.refunds if profile else 0,
            flagged_at=profile.flagged_at if profile else None,
            merged_into=profile.merged_into if profile else None,
            aliases=tuple(profile.aliases) if profile else (),
            purchases=tuple(copies[pid] for pid in sorted(copies)),
            entitlements={eid: entitlements[eid] for eid in sorted(entitlements)},
        )

    def audit_trail(self, user_id: str, limit: int = 100) -> tuple[AuditRecord, ...]:
        lines = self.audit.get(user_id, {})
        return tuple(lines[key] for key in sorted(lines, reverse=True)[:limit])

    def purchase_events(self, purchase_id: str, limit: int = 50) -> tuple[EventSummary, ...]:
        found = sorted(self._history(purchase_id), key=lambda e: e.index_sort, reverse=True)[:limit]
        return tuple(
            EventSummary(e.source, e.event_id, e.event_type or "", e.received_at, e.processed_at, e.outcome, e.purchase_id)
            for e in found
        )

    def _history(self, purchase_id: str) -> list[_Event]:
        return [e for e in self.events.values() if e.index_key == f"EVENTS#{purchase_id}"]

    # -- writes -------------------------------------------------------------------------------------

    def link_customer(self, source: str, event_id: str, customer_ref: str, user_id: str) -> None:
        if self._is_processed(source, event_id):
            raise DuplicateEventError("the event was processed already", self.recorded_changes(source, event_id))
        self._mark(source, event_id, "customer_linked", (), None, None)
        self.customers[f"{source}:{customer_ref}"] = user_id

    def create_profile(self, user_id: str, app_account_token: str) -> UserState:
        if user_id in self.profiles or app_account_token in self.tokens:
            return self.load_user(user_id)  # someone issued this user's token first: theirs stands
        self.profiles[user_id] = _Profile(app_account_token)
        self.tokens[app_account_token] = user_id
        return UserState(user_id=user_id, app_account_token=app_account_token, version=1)

    def commit_size(self, commit: Commit) -> int:
        return len(self._item_keys(commit))

    def commit(self, commit: Commit) -> None:
        keys = self._item_keys(commit)
        if len(keys) > self.max_commit_items:
            raise ValueError(f"a commit of {len(keys)} items does not fit one transaction ({self.max_commit_items})")
        if len(set(keys)) != len(keys):
            raise ValueError("a transaction cannot write one item twice")  # DynamoDB's ValidationException
        try:
            self._check(commit)
        except _Cancelled as cancelled:
            if commit.completes_event and cancelled.index == 0:
                raise DuplicateEventError(
                    "the event was processed already", self.recorded_changes(commit.source, commit.event_id)
                ) from None
            raise VersionConflictError("concurrent write, transaction cancelled") from None
        self._apply(commit)

    def _item_keys(self, commit: Commit) -> list[tuple[str, str]]:
        """The items a commit writes (their keys), in the adapter's order: the event first."""
        keys: list[tuple[str, str]] = []
        if commit.completes_event or commit.change_details:
            keys.append((f"EVENT#{commit.source}#{commit.event_id}", "EVENT"))
        keys += [(f"PURCHASE#{pending.purchase_id}", "PURCHASE") for pending in commit.pending]
        keys += [(f"PURCHASE#{write.purchase.purchase_id}", "PURCHASE") for write in commit.purchases]
        for user in commit.users:
            keys.append((f"USER#{user.user_id}", "PROFILE"))
            if user.expected_version == 0:
                keys.append((f"TOKEN#{user.new_app_account_token}", "TOKEN"))
            keys += [(f"USER#{user.user_id}", f"PURCHASE#{p.purchase_id}") for p in user.put_purchases]
            keys += [(f"USER#{user.user_id}", f"PURCHASE#{pid}") for pid in user.delete_purchase_ids]
            keys += [(f"USER#{user.user_id}", f"ENT#{e.entitlement_id}") for e in user.put_entitlements]
            keys += [(f"USER#{user.user_id}", f"ENT#{eid}") for eid in user.delete_entitlement_ids]
        keys += [(f"PAYREF#{ref.purchase_id.split(':', 1)[0]}:{ref.ref}", "PAYREF") for ref in commit.payment_refs]
        keys += [(f"TOKEN#{token}", "TOKEN") for token, _ in commit.token_moves]
        keys += [(f"AUDIT#{record.user_id}", _audit_key(record, n)) for n, record in enumerate(commit.audit)]
        return keys

    def _check(self, commit: Commit) -> None:
        """Every condition of the commit, in item order; the first that fails cancels it."""
        position = 0
        if commit.completes_event:
            if self._is_processed(commit.source, commit.event_id):
                raise _Cancelled(position)
        position += bool(commit.completes_event or commit.change_details)
        for pending in commit.pending:
            stored = self.purchases.get(pending.purchase_id)
            if stored is None or stored.version != pending.version:
                raise _Cancelled(position)
            position += 1
        for write in commit.purchases:
            stored = self.purchases.get(write.purchase.purchase_id)
            if (stored is not None) if write.expected_version == 0 else (stored is None or stored.version != write.expected_version):
                raise _Cancelled(position)
            position += 1
        for user in commit.users:
            profile = self.profiles.get(user.user_id)
            if user.expected_version == 0:
                if profile is not None or user.new_app_account_token in self.tokens:
                    raise _Cancelled(position)
            elif profile is None or profile.version != user.expected_version:
                raise _Cancelled(position)
            position += 1

    def _apply(self, commit: Commit) -> None:
        if commit.completes_event:
            only = commit.purchases[0].purchase.purchase_id if len(commit.purchases) == 1 else commit.purchase_id
            self._mark(commit.source, commit.event_id, commit.outcome, commit.change_details, only, commit.step)
        elif commit.change_details:
            self._event_item(commit.source, commit.event_id).later_changes.append(_json(list(commit.change_details)))
        for pending in commit.pending:
            self._apply_pending(pending)
        for write in commit.purchases:
            self._put_purchase(write.purchase)
        for user in commit.users:
            self._apply_user(user)
        first = commit.purchases[0].purchase if commit.purchases else None
        for ref in commit.payment_refs:
            owners = first.owner_ids if first else ref.owner_ids
            self.payment_refs[f"{ref.purchase_id.split(':', 1)[0]}:{ref.ref}"] = replace(ref, owner_ids=tuple(owners))
        for token, user_id in commit.token_moves:
            self.tokens[token] = user_id
        for n, record in enumerate(commit.audit):
            self.audit.setdefault(record.user_id, {})[_audit_key(record, n)] = record

    def _apply_pending(self, pending: PendingUpdate) -> None:
        stored = self.purchases[pending.purchase_id]
        users = (set(stored.pending_users) | set(pending.add)) - set(pending.remove)
        self.purchases[pending.purchase_id] = replace(stored, pending_users=tuple(sorted(users)))

    def _put_purchase(self, purchase: Purchase) -> None:
        self.purchases[purchase.purchase_id] = purchase
        self.due[purchase.purchase_id] = self._due(purchase)

    def _apply_user(self, user: UserWrite) -> None:
        if user.expected_version == 0:
            self.profiles[user.user_id] = _Profile(
                user.new_app_account_token,
                refunds=user.refunds_added,
                flagged_at=user.flagged_at,
                merged_into=user.merged_into,
                aliases=list(user.aliases_added),
            )
            self.tokens[user.new_app_account_token] = user.user_id
        else:
            profile = self.profiles[user.user_id]
            profile.version += 1
            profile.refunds += user.refunds_added
            profile.flagged_at = None if user.flag_cleared else user.flagged_at or profile.flagged_at
            profile.merged_into = user.merged_into or profile.merged_into
            profile.aliases += user.aliases_added
        copies = self.copies.setdefault(user.user_id, {})
        entitlements = self.entitlements.setdefault(user.user_id, {})
        for purchase in user.put_purchases:
            copies[purchase.purchase_id] = purchase
        for purchase_id in user.delete_purchase_ids:
            copies.pop(purchase_id, None)
        for entitlement in user.put_entitlements:
            entitlements[entitlement.entitlement_id] = entitlement
        for entitlement_id in user.delete_entitlement_ids:
            entitlements.pop(entitlement_id, None)

    # -- drift scan ---------------------------------------------------------------------------------

    def _due(self, purchase: Purchase) -> str:
        slot = due(purchase, self._recheck)
        return f"{due_shard(purchase.purchase_id):04d}#{int(not slot.ends)}#{_time(slot.at)}#{purchase.purchase_id}"

    def due_page(
        self, now: datetime, shard: int, ends: bool, after: str | None = None, limit: int = 500
    ) -> tuple[list[str], str | None]:
        prefix = f"{shard:04d}#{int(not ends)}#"
        until = f"{prefix}{_time(now)}#~"
        keys = sorted(k for k in self.due.values() if k.startswith(prefix) and k <= until and (after is None or k > after))
        page = keys[:limit]
        return [key.split("#", 3)[3] for key in page], page[-1] if len(keys) > limit else None


    def mark_checked(self, purchase: Purchase, at: datetime) -> bool:
        stored = self.purchases.get(purchase.purchase_id)
        if stored is None or stored.version != purchase.version:
            return False
        self.purchases[purchase.purchase_id] = replace(stored, checked_at=at)
        self.due[purchase.purchase_id] = self._due(purchase.with_changes(checked_at=at))
        return True

    def spend_budget(self, name: str, wanted: int, limit: int) -> int:
        granted = max(0, min(wanted, limit - self.budgets.get(name, 0)))
        self.budgets[name] = self.budgets.get(name, 0) + granted
        return granted

    def save_report(self, report_id: str, fields: dict[str, Any]) -> None:
        self._reports.setdefault(report_id, {}).update(_json(fields))

    def add_to_report(self, report_id: str, counts: dict[str, int], examples: Sequence[dict], max_examples: int = 20) -> None:
        report = self._reports.setdefault(report_id, {})
        if counts:
            totals = report["counts"]  # the scan creates it; DynamoDB refuses to ADD into a missing map
            for name, value in counts.items():
                totals[name] = totals.get(name, 0) + value
        if examples and len(report.get("examples", ())) < max_examples:
            report.setdefault("examples", []).extend(_json(list(examples)))

    def report(self, report_id: str) -> dict[str, Any] | None:
        """One scan report (as `DynamoRepository.report`, for the console)."""
        return self._reports.get(report_id)

    def reports(self, limit: int = 5) -> list[dict[str, Any]]:
        """The latest scan reports, newest first (as `DynamoRepository.reports`, for the console)."""
        return [self._reports[rid] for rid in sorted(self._reports, reverse=True)[:limit]]

    def cursor(self, name: str) -> str | None:
        return self.cursors.get(name)

    def set_cursor(self, name: str, value: str) -> None:
        self.cursors[name] = value

    # -- replay -------------------------------------------------------------------------------------

    def replay_steps(self, purchase_id: str) -> tuple[tuple[Step, ...], int]:
        history = sorted(self._history(purchase_id), key=lambda e: e.index_sort)
        return split_entries(event.replay_entry() for event in history)

    def replay_input(self, progress: Callable[[int], None] | None = None) -> ReplayInput:
        steps: dict[str, list[Step]] = {}
        unrecorded: dict[str, int] = {}
        for event in self.events.values():
            entry = event.replay_entry()
            if isinstance(entry, Step):
                steps.setdefault(entry.purchase_id, []).append(entry)
            elif entry and event.purchase_id:
                unrecorded[event.purchase_id] = unrecorded.get(event.purchase_id, 0) + 1
        users = {uid: self.load_user(uid) for uid in sorted({*self.profiles, *self.copies, *self.entitlements})}
        if progress:
            progress(self.item_count())
        return ReplayInput({pid: tuple(s) for pid, s in steps.items()}, unrecorded, dict(self.purchases), users)

    def item_count(self) -> int:
        """How many items the table would hold (an event's body is an item of its own)."""
        return sum(1 for event in self.events.values() if event.body is not None) + sum(
            map(
                len,
                (
                    self.events, self.purchases, self.profiles, self.tokens, self.payment_refs, self.customers,
                    self._reports, self.cursors, *self.copies.values(), *self.entitlements.values(), *self.audit.values(),
                ),
            )
        )  # fmt: skip


def _audit_key(record: AuditRecord, position: int) -> str:
    return f"{_time(record.at)}#{record.source}#{record.event_id}#{record.action.value}#{position:03d}"


# ------------------------------------------------------------------------------------------ store APIs


class _StoreApi:
    """What the store API fakes share: the calls made, and an outage or refusal to answer with."""

    def __init__(self) -> None:
        self.calls: list[tuple] = []
        self.failure: StoreApiError | None = None  # raised by every call while set

    def _call(self, *call: Any) -> None:
        self.calls.append(call)
        if self.failure is not None:
            raise self.failure

    def fail(self, status: int | None = 503, retryable: bool | None = None) -> None:
        """Answer every call with a failure: an outage (5xx, no answer) is retryable, a refusal not."""
        retryable = status is None or status >= 500 or status == 429 if retryable is None else retryable
        self.failure = StoreApiError(f"store answered {status}", retryable=retryable, status=status)

    def recover(self) -> None:
        self.failure = None


def _unknown(what: str) -> StoreApiError:
    return StoreApiError(f"store answered 404: {what} is not known to the store", retryable=False, status=404)


class FakeStripeApi(_StoreApi):
    """The Stripe reads (`StripeApi`), from what a test put in its dicts."""

    def __init__(self) -> None:
        super().__init__()
        self.subscriptions: dict[str, dict] = {}
        self.line_items: dict[str, list[dict]] = {}  # checkout session → its line items
        self.payments: dict[str, str] = {}  # payment intent → the subscription it paid
        self.sessions: dict[str, dict] = {}  # checkout session, as Stripe sends it (nothing expanded)
        self.refunds: list[dict] = []  # refunds as Stripe lists them, their charge expanded
        self.disputes: list[dict] = []

    def subscription(self, subscription_id: str) -> Mapping:
        self._call("subscription", subscription_id)
        if subscription_id not in self.subscriptions:
            raise _unknown(f"subscription {subscription_id}")
        return self.subscriptions[subscription_id]

    def checkout_line_items(self, session_id: str) -> list[Mapping]:
        self._call("checkout_line_items", session_id)
        return list(self.line_items.get(session_id, []))

    def subscription_for_payment(self, payment_intent_id: str) -> str | None:
        self._call("subscription_for_payment", payment_intent_id)
        return self.payments.get(payment_intent_id)

    def refunds_since(self, created_from: datetime) -> Iterator[Mapping]:
        self._call("refunds", created_from)
        return _newest_first(self.refunds, created_from)

    def disputes_since(self, created_from: datetime) -> Iterator[Mapping]:
        self._call("disputes", created_from)
        return _newest_first(self.disputes, created_from)

    def checkout_session(self, session_id: str) -> Mapping:
        """The session with its subscription and line items expanded, as `StripeApiClient` asks for it."""
        self._call("checkout_session", session_id)
        if session_id not in self.sessions:
            raise _unknown(f"checkout session {session_id}")
        session = dict(self.sessions[session_id])
        if session.get("subscription") in self.subscriptions:
            session["subscription"] = self.subscriptions[session["subscription"]]
        session["line_items"] = {"object": "list", "data": list(self.line_items.get(session_id, [])), "has_more": False}
        return session


def _newest_first(items: list[dict], created_from: datetime) -> Iterator[Mapping]:
    """A Stripe list: created at or after `created_from`, newest first."""
    since = int(created_from.timestamp())
    return iter(sorted((i for i in items if i["created"] >= since), key=lambda i: i["created"], reverse=True))


class FakePlayApi(_StoreApi):
    """The Play Developer API calls (`PlayApi`): purchases by token, acknowledgements flip their state,
    voided purchases listed within the window on `voidedTimeMillis`."""

    def __init__(self) -> None:
        super().__init__()
        self.subscriptions: dict[tuple[str, str], dict] = {}  # (package, token) → SubscriptionPurchaseV2
        self.products: dict[tuple[str, str, str], dict] = {}  # (package, product, token) → ProductPurchase
        self.voided: list[dict] = []  # VoidedPurchase items
        self.acknowledged: list[tuple[str, str, str]] = []  # (package, product or subscription, token)

    def get_subscription_v2(self, package_name: str, token: str) -> dict:
        self._call("get_subscription_v2", package_name, token)
        if (package_name, token) not in self.subscriptions:
            raise _unknown("the purchase token")
        return self.subscriptions[(package_name, token)]

    def acknowledge_subscription(self, package_name: str, subscription_id: str, token: str) -> None:
        self._call("acknowledge_subscription", package_name, subscription_id, token)
        resource = self.subscriptions.get((package_name, token))
        if resource is None:
            raise _unknown("the purchase token")
        resource["acknowledgementState"] = "ACKNOWLEDGEMENT_STATE_ACKNOWLEDGED"
        self.acknowledged.append((package_name, subscription_id, token))

    def get_product(self, package_name: str, product_id: str, token: str) -> dict:
        self._call("get_product", package_name, product_id, token)
        if (package_name, product_id, token) not in self.products:
            raise _unknown("the purchase token")
        return self.products[(package_name, product_id, token)]

    def acknowledge_product(self, package_name: str, product_id: str, token: str) -> None:
        self._call("acknowledge_product", package_name, product_id, token)
        resource = self.products.get((package_name, product_id, token))
        if resource is None:
            raise _unknown("the purchase token")
        resource["acknowledgementState"] = 1
        self.acknowledged.append((package_name, product_id, token))

    def iter_voided_purchases(
        self, package_name: str, start_time: datetime | int | None = None, end_time: datetime | int | None = None
    ) -> Iterator[Mapping]:
        self._call("iter_voided_purchases", package_name, start_time, end_time)
        start, end = _millis(start_time), _millis(end_time)
        for item in self.voided:
            at = int(item.get("voidedTimeMillis") or 0)
            if (start is None or at >= start) and (end is None or at <= end):
                yield item


def _millis(moment: datetime | int | None) -> int | None:
    return int(moment.timestamp() * 1000) if isinstance(moment, datetime) else moment


class FakeAppStoreApi(_StoreApi):
    """The App Store Server API (`AppStoreApi`): each transaction id's current (transaction, renewal
    info, status), as the client returns them verified; each account's transaction history (every
    transaction id of the account → the same list, as Apple answers for any of them)."""

    def __init__(self) -> None:
        super().__init__()
        self.current: dict[str, tuple[Mapping, Mapping | None, int | None]] = {}
        self.asked: list[dict[str, Any]] = []  # where each lookup was told to look (app, environment)
        self.history: dict[str, list[Mapping]] = {}

    def add_history(self, *transactions: Mapping) -> None:
        """One account's history: findable from any of its transaction ids."""
        account = list(transactions)
        for transaction in transactions:
            self.history[str(transaction["transactionId"])] = account

    def iter_transaction_history(
        self, transaction_id: str, *, app: str | None = None, environment: str | None = None
    ) -> Iterator[Mapping[str, Any]]:
        self._call("iter_transaction_history", transaction_id)
        self.asked.append({"transaction_id": transaction_id, "app": app, "environment": environment})
        if transaction_id not in self.history:
            raise _unknown(f"transaction {transaction_id}")
        yield from self.history[transaction_id]

    def current_transaction(
        self,
        transaction_id: str | None,
        transaction: Mapping[str, Any] | None = None,
        app: str | None = None,
        environment: str | None = None,
    ) -> tuple[Mapping[str, Any], Mapping[str, Any] | None, int | None]:
        self._call("current_transaction", transaction_id)
        self.asked.append({"transaction_id": transaction_id, "app": app, "environment": environment})
        key = transaction_id or (transaction or {}).get("transactionId")
        if key in self.current:
            return self.current[key]
        if transaction is not None:
            return transaction, None, None
        known = (tx for tx in self.history.get(str(key), ()) if str(tx["transactionId"]) == str(key))
        found = next(known, None)  # every transaction of an account's history is known to Apple
        if found is not None:
            return found, None, None
        raise _unknown(f"transaction {transaction_id}")


# ------------------------------------------------------------------------------------------ verifiers


def apple_verifier(environment: str = "Production", apps: Mapping[str, int | None] | None = None):
    """The real App Store verifier, trusting the generated test chain (`tests.support.apple`); `apps`:
    bundle id → app Apple id (default: the one test app)."""
    from parity.webhooks.apple import SignedDataVerifier
    from tests.support import apple

    apps = apps or {apple.BUNDLE_ID: apple.APP_APPLE_ID}
    return SignedDataVerifier([apple.default_chain().root], list(apps), environment, list(apps.values()))


def push_verifier():
    """The real Pub/Sub push verifier, reading Google's certificates from memory (`tests.support.google`)."""
    from parity.webhooks.google import PubSubPushVerifier
    from parity.webhooks.google_certs import CertsCache
    from tests.support import google

    return PubSubPushVerifier(
        google.AUDIENCE, google.SERVICE_ACCOUNT, certs=CertsCache("https://certs.test/oauth2/v1/certs", google.StaticCertsRequest())
    )
