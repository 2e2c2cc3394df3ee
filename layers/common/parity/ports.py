"""The ports: what the services need from the outside world, as Protocols.

Adapters in `parity.adapters` implement them against AWS and the stores; tests use in-memory fakes.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from .domain.entitlements import Entitlement
from .domain.model import PaymentRef, Purchase
from .domain.ownership import AuditRecord
from .domain.replay import Step
from .domain.users import UserState


@dataclass(frozen=True)
class StoredEvent:
    """One verified store event as the event log keeps it (the raw body, byte for byte)."""

    source: str
    event_id: str
    event_type: str
    routing_key: str
    received_at: datetime
    body: bytes


@dataclass(frozen=True)
class AppendResult:
    stored: bool  # False: the event was there already
    processed: bool  # the stored event was already processed (nothing left to do)


@dataclass(frozen=True)
class PurchaseRead:
    purchase: Purchase | None
    customer_user: str | None = None  # the user a store customer is linked to
    token_user: str | None = None  # the user an appAccountToken was issued to


@dataclass(frozen=True)
class UserWrite:
    """The writes for one user in a commit."""

    user_id: str
    expected_version: int  # 0: the profile does not exist yet and is created (with a new token)
    new_app_account_token: str | None = None
    put_purchases: tuple[Purchase, ...] = ()
    delete_purchase_ids: tuple[str, ...] = ()
    put_entitlements: tuple[Entitlement, ...] = ()
    delete_entitlement_ids: tuple[str, ...] = ()
    refunds_added: int = 0  # refunds and chargebacks counted against the user
    flagged_at: datetime | None = None  # set: the user is flagged for review from then on
    merged_into: str | None = None  # set: this user id becomes an alias of that one
    aliases_added: tuple[str, ...] = ()  # user ids merged into this one


@dataclass(frozen=True)
class PurchaseWrite:
    purchase: Purchase  # its `version` is the new version
    expected_version: int  # 0: the purchase must not exist yet


@dataclass(frozen=True)
class PendingUpdate:
    """A change of a purchase's pending users (`Purchase.pending_users`) without a new version:
    conditional on the version the users' projections were computed from."""

    purchase_id: str
    version: int
    add: tuple[str, ...] = ()  # their projections are still to be written
    remove: tuple[str, ...] = ()  # their projections are written by this commit


@dataclass(frozen=True)
class Commit:
    """Everything one processed event (or operator action) changes, written in one transaction.

    A commit holding more items than one transaction takes is split by `services.bounded.BoundedWriter`:
    the event and the purchases first, the users' projections after, in batches (`pending`).
    """

    source: str
    event_id: str
    purchases: tuple[PurchaseWrite, ...] = ()
    users: tuple[UserWrite, ...] = ()
    payment_refs: tuple[PaymentRef, ...] = ()  # refs of the first purchase
    audit: tuple[AuditRecord, ...] = ()
    token_moves: tuple[tuple[str, str], ...] = ()  # (appAccountToken, user id it now resolves to)
    change_details: tuple[Mapping, ...] = field(default=())  # recorded on the event for re-publishing
    completes_event: bool = True  # False: one step of a longer action (a merge moved in chunks)
    outcome: str = "applied"  # what the event log records (`claim_refused`: applied, its claim refused)
    step: Step | None = None  # the purchase write, as replay folds it again (`domain.replay`)
    pending: tuple[PendingUpdate, ...] = ()
    purchase_id: str | None = None  # the purchase the event concerns when it writes none (a refused claim)


@dataclass(frozen=True)
class EventSummary:
    """A stored event as operators see it (the body stays in the log)."""

    source: str
    event_id: str
    event_type: str
    received_at: datetime | None
    processed_at: datetime | None
    outcome: str | None
    purchase_id: str | None


@dataclass(frozen=True)
class ReplayInput:
    """What a replay folds and compares: each purchase's recorded steps, the count of its events that
    wrote it without recording a step, and the purchases and users as stored."""

    steps: Mapping[str, tuple[Step, ...]]
    unrecorded: Mapping[str, int]
    purchases: Mapping[str, Purchase]
    users: Mapping[str, UserState]


class EventLog(Protocol):
    def append(self, event: StoredEvent) -> AppendResult:
        """Store the event unless its id is known (conditional put: the idempotency guard)."""

    def mark_processed(self, source: str, event_id: str, outcome: str, purchase_id: str | None = None) -> bool:
        """Record that the event needed no state change; False when it was processed already."""

    def recorded_changes(self, source: str, event_id: str) -> tuple[Mapping, ...]:
        """The change events recorded when the event was applied (none if it changed nothing)."""

    def get_event_body(self, source: str, event_id: str) -> bytes | None:
        """The stored raw body (for queue messages too large to carry it), None when unknown."""

    def park(self, source: str, event_id: str) -> bool:
        """Record an event whose purchase is still unknown as unresolved, processable later; False when
        it was processed already."""

    def parked(self, since: datetime) -> Iterator[tuple[str, str]]:
        """(source, event id) of the unresolved events received since `since`, still unprocessed."""


class Repository(Protocol):
    def find_payment(self, refs: Sequence[str], source: str = "stripe") -> PaymentRef | None:
        """The purchase an earlier event recorded for any of these payment refs (first match wins):
        Stripe invoices, payment intents and charges; Play purchase tokens of one chain."""

    def read_purchase(
        self, purchase_id: str, customer_ref: str | None = None, app_account_token: str | None = None
    ) -> PurchaseRead:
        """The purchase, and the users linked to the customer / the token when asked (one request)."""

    def link_customer(self, source: str, event_id: str, customer_ref: str, user_id: str) -> None: ...

    def load_user(self, user_id: str) -> UserState:
        """Profile, purchases and entitlement projection in one Query."""

    def create_profile(self, user_id: str, app_account_token: str) -> UserState:
        """Issue the user's appAccountToken once (conditional); returns the profile that won."""

    max_commit_items: int  # the most items one commit may hold (DynamoDB: 100 per transaction)

    def commit(self, commit: Commit) -> None:
        """Write a processed event atomically. Raises DuplicateEventError or VersionConflictError.

        `completes_event` False: the event is not marked processed; the commit's change details are
        added to those recorded on it (`recorded_changes` returns both)."""

    def commit_size(self, commit: Commit) -> int:
        """How many items `commit` writes (at most `max_commit_items` in one commit)."""

    def get_purchase(self, purchase_id: str) -> Purchase | None:
        """The canonical purchase record (consistent read)."""

    def get_purchases(self, purchase_ids: Sequence[str]) -> dict[str, Purchase]:
        """The canonical purchase records (one BatchGetItem per hundred)."""

    def audit_trail(self, user_id: str, limit: int = 100) -> tuple[AuditRecord, ...]:
        """The user's audit trail, newest first."""

    def purchase_events(self, purchase_id: str, limit: int = 50) -> tuple[EventSummary, ...]:
        """The stored events applied to a purchase, newest first."""


class Queue(Protocol):
    def send(self, body: str, group: str, dedup_id: str) -> None: ...


class RetryQueue(Protocol):
    """The queue a function consumes, as far as retrying a failed message goes."""

    def retry_later(self, receipt_handle: str, delay_seconds: int) -> None:
        """Deliver the received message again in `delay_seconds` (at most 12 h) instead of at the end of
        the queue's visibility timeout; each delivery counts towards the queue's `maxReceiveCount`."""


class ChangePublisher(Protocol):
    def publish(self, details: Sequence[Mapping]) -> None:
        """Publish `entitlement.changed` events (details from `changes.change_detail`)."""


class Clock(Protocol):
    def now(self) -> datetime: ...


class PlayApi(Protocol):
    """The Play Developer API calls Parity makes (`parity.adapters.play_api.PlayDeveloperApi`)."""

    def get_subscription_v2(self, package_name: str, token: str) -> dict: ...

    def acknowledge_subscription(self, package_name: str, subscription_id: str, token: str) -> None: ...

    def get_product(self, package_name: str, product_id: str, token: str) -> dict: ...

    def acknowledge_product(self, package_name: str, product_id: str, token: str) -> None: ...

    def iter_voided_purchases(
        self, package_name: str, start_time: datetime | int | None = None, end_time: datetime | int | None = None
    ) -> Iterator[Mapping]:
        """`purchases.voidedpurchases.list` (subscriptions included, quantity-based partial refunds not),
        every page of the window; the window filters on when Google's systems saw the purchase voided."""


class StripeApi(Protocol):
    """The few Stripe API reads Parity makes to converge on Stripe's truth."""

    def subscription(self, subscription_id: str) -> Mapping: ...

    def checkout_line_items(self, session_id: str) -> list[Mapping]:
        """The line items of a Checkout Session (webhooks do not carry them)."""

    def subscription_for_payment(self, payment_intent_id: str) -> str | None:
        """The subscription paid by this payment intent (through its invoice payment), if any."""

    def checkout_session(self, session_id: str) -> Mapping:
        """A Checkout Session with its subscription and line items expanded (a Stripe receipt)."""
