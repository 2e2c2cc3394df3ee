"""What the operator console reads and does beyond the user report: find a customer, show one stored
event, the health of the system (activity, drift, dead letters, silence), and the actions on dead
letters and on a user's purchases (a reconcile now).

Every action is recorded in the event log (source `admin`, with the operator as `actor`), as manual
associations and merges are.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, NamedTuple

from ..domain import limits
from ..domain.errors import InvalidInput, NotFound, PurchaseNotFound, UserNotFound
from ..domain.limits import loads
from ..observability import logger
from ..ports import StoredEvent
from .drift_scan import check_message, report_id_for

if TYPE_CHECKING:
    from ..ports import BatchQueue, Clock, DriftRepository, EventLog
    from ..ports.operations import Activity, DeadLetterMessage, DeadLetterQueues, EventRecord, OperatorReads

ADMIN = "admin"
STORES = ("stripe", "app_store", "play_store", "manual")
WATCHED_SOURCES = ("stripe", "app_store", "play_store")  # the stores that send notifications
MAX_HOURS = 24 * 14
MAX_DEAD_LETTERS = 50
EMAIL_HINT = (
    "Parity keeps no email addresses (users are linked by id, never by email): find the customer in "
    "Stripe (or your own user directory), then search its user id or subscription id (sub_...)."
)


class Match(NamedTuple):
    """One answer of a lookup: the user found, how, and the purchase that led there."""

    user_id: str | None  # None: a purchase nobody holds
    matched: str  # userId, appAccountToken, purchaseId, customer
    purchase_id: str | None = None


class Lookup(NamedTuple):
    query: str
    matches: list[Match]
    hint: str | None = None


class EventDetail(NamedTuple):
    record: EventRecord
    body: Any  # the verified body as JSON when it is JSON, else its text; None when it is gone


@dataclass(frozen=True)
class Health:
    now: datetime
    hours: int
    activity: Activity
    reports: list[dict[str, Any]]
    dead_letters: list[Any]  # DeadLetterQueueState
    dlq_history: dict[str, list[tuple[datetime, float]]]
    notes: list[str] = field(default_factory=list)


class ReconcileRequest(NamedTuple):
    report_id: str
    purchase_ids: list[str]


class Operations:
    def __init__(
        self,
        repository: DriftRepository,
        event_log: EventLog,
        reads: OperatorReads,
        dead_letters: DeadLetterQueues | None,
        reconcile_queue: BatchQueue | None,
        clock: Clock,
        scan_budget: int = 200_000,
    ) -> None:
        self._repo = repository
        self._log = event_log
        self._reads = reads
        self._dlqs = dead_letters
        self._reconcile = reconcile_queue
        self._clock = clock
        self._budget = scan_budget

    # -- finding a customer --------------------------------------------------------------------------

    def lookup(self, query: str) -> Lookup:
        """Users matching a user id, an appAccountToken, a purchase id (with or without its store's
        prefix: `sub_...`, an original transaction id) or a Stripe customer id."""
        text = query.strip()
        if not text or len(text) > 512:
            raise InvalidInput("Search for a user id, an appAccountToken, a purchase id or a customer id.", "invalid_query")
        matches: list[Match] = []
        if limits.is_user_id(text):
            user = self._repo.load_user(text)
            if user.exists:
                matches.append(Match(user.merged_into or user.user_id, "userId"))
        if _uuid(text):
            owner = self._reads.user_for_token(text.lower())
            if owner:
                matches.append(Match(owner, "appAccountToken"))
        candidates = [text] if text.split(":", 1)[0] in STORES else [f"{store}:{text}" for store in STORES]
        for purchase in self._repo.get_purchases(candidates).values():
            owners = purchase.owner_ids or (None,)
            matches += [Match(owner, "purchaseId", purchase.purchase_id) for owner in owners]
        if text.startswith("cus_"):
            linked = self._reads.user_for_customer(text)
            if linked:
                matches.append(Match(linked, "customer"))
        unique = list(dict.fromkeys(matches))
        return Lookup(text, unique, EMAIL_HINT if "@" in text and not unique else None)

    def known_user(self, user_id: str) -> str:
        """The user id (the one merged into, for an alias); UserNotFound when the user was never seen
        (so that an operator's read creates no account)."""
        user = self._repo.load_user(user_id)
        if not user.exists:
            raise UserNotFound(f"No user {user_id!r} is known.")
        return user.merged_into or user_id

    def event(self, source: str, event_id: str) -> EventDetail:
        """One stored event: its verified body, what processing made of it, its replay step."""
        record = self._reads.event_record(source, event_id)
        if record is None:
            raise NotFound(f"No event {source}/{event_id} is stored.")
        raw = self._log.get_event_body(source, event_id)
        body: Any = None
        if raw is not None:
            try:
                body = loads(raw)
            except ValueError:
                body = raw.decode("utf-8", "replace")
        return EventDetail(record, body)

    # -- health ---------------------------------------------------------------------------------------

    def health(self, hours: int = 48) -> Health:
        """Activity of the last `hours`, entitlements by store and state, the drift reports, the DLQs."""
        if not 1 <= hours <= MAX_HOURS:
            raise InvalidInput(f"hours must be 1 to {MAX_HOURS}.", "invalid_request")
        now = self._clock.now()
        since = (now - timedelta(hours=hours)).replace(minute=0, second=0, microsecond=0)
        activity = self._reads.activity(since, now, self._budget)
        notes = [] if activity.complete else [f"The table holds more than {self._budget} items: counts are partial."]
        states, history = [], {}
        if self._dlqs is None:
            notes.append("No dead-letter queue is configured here.")
        else:
            states = self._dlqs.states()
            try:
                history = self._dlqs.depth_history(since)
            except Exception as error:  # noqa: BLE001 - the chart is missing, the page still answers
                logger.warning("DLQ depth history unavailable", extra={"error": str(error)})
                notes.append("The DLQ depth history is unavailable (CloudWatch did not answer).")
        return Health(now, hours, activity, self._reads.reports(14), states, history, notes)

    # -- dead letters -----------------------------------------------------------------------------------

    def _queues(self) -> DeadLetterQueues:
        if self._dlqs is None:
            raise NotFound("No dead-letter queue is configured here.")
        return self._dlqs

    def dead_letters(self, max_messages: int = 20) -> list[tuple[DeadLetterMessage, EventRecord | None]]:
        """The dead letters of every DLQ (none consumed), each with the event log's record of its event."""
        if not 1 <= max_messages <= MAX_DEAD_LETTERS:
            raise InvalidInput(f"max must be 1 to {MAX_DEAD_LETTERS}.", "invalid_request")
        queues = self._queues()
        letters = [letter for state in queues.states() for letter in queues.peek(state.name, max_messages)]
        return [
            (letter, self._reads.event_record(letter.source, letter.event_id) if letter.source and letter.event_id else None)
            for letter in letters
        ]

    def redrive(self, queue: str, actor: str):
        outcome = self._queues().redrive(queue)
        self._record("dlq.redriven", queue, {"action": "redrive", "queue": queue, "method": outcome.method,
                                             "moved": outcome.moved, "actor": actor})  # fmt: skip
        logger.info("dead letters redriven", extra={"queue": queue, "actor": actor, "moved": outcome.moved})
        return outcome

    def purge(self, queue: str, actor: str) -> int:
        purged = self._queues().purge(queue)
        self._record("dlq.purged", queue, {"action": "purge", "queue": queue, "purged": purged, "actor": actor})
        logger.info("dead letters purged", extra={"queue": queue, "actor": actor, "purged": purged})
        return purged

    # -- reconcile now ----------------------------------------------------------------------------------

    def reconcile(self, user_id: str | None, purchase_id: str | None, actor: str) -> ReconcileRequest:
        """Queue store checks of one purchase, or of every purchase a user holds, under a new report
        (`status: manual`); the reconcile worker makes them as it makes the nightly scan's."""
        if self._reconcile is None:
            raise NotFound("No reconcile queue is configured here.")
        if purchase_id:
            if self._repo.get_purchase(purchase_id) is None:
                raise PurchaseNotFound(f"No purchase {purchase_id!r} is known.")
            ids = [purchase_id]
        else:
            user = self._repo.load_user(user_id or "")
            if user.merged_into:
                user = self._repo.load_user(user.merged_into)
            if not user.exists:
                raise UserNotFound(f"No user {user_id!r} is known.")
            ids = [p.purchase_id for p in user.purchases]
        report_id = report_id_for(self._clock.now())
        if ids:
            self._repo.save_report(report_id, {"reportId": report_id, "selected": len(ids), "status": "manual", "counts": {}})
            bodies = [check_message(pid, report_id) for pid in ids]
            for start in range(0, len(bodies), 10):
                self._reconcile.send_batch(bodies[start : start + 10])
        self._record("reconcile.requested", purchase_id or user_id or "", {"action": "reconcile", "userId": user_id,
                     "purchaseIds": ids, "reportId": report_id, "actor": actor})  # fmt: skip
        return ReconcileRequest(report_id, ids)

    def _record(self, event_type: str, routing_key: str, body: dict, now: datetime | None = None) -> None:
        """The operator's action in the event log (source `admin`), marked processed at once."""
        event_id = f"{event_type}:{uuid.uuid4()}"
        raw = json.dumps(body, separators=(",", ":")).encode()
        self._log.append(StoredEvent(ADMIN, event_id, event_type, routing_key, now or self._clock.now(), raw))
        self._log.mark_processed(ADMIN, event_id, "applied")


def _uuid(text: str) -> bool:
    try:
        uuid.UUID(text)
    except ValueError:
        return False
    return len(text) == 36
