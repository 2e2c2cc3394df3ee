"""The normalized purchase: one record per store lifecycle, whatever the store.

A purchase keeps what its store last said about it (`store_state`, the period and grace ends) next to
the facts Parity learned on the side (refunds and disputes as `revocations`, the users who claimed it).
Its effective `state` and whether it grants access are derived from those, never stored twice.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import Enum


class Store(str, Enum):
    STRIPE = "stripe"
    APP_STORE = "app_store"
    PLAY_STORE = "play_store"
    MANUAL = "manual"


class State(str, Enum):
    ACTIVE = "active"
    TRIALING = "trialing"
    GRACE_PERIOD = "grace_period"
    BILLING_RETRY = "billing_retry"
    ON_HOLD = "on_hold"
    PAUSED = "paused"
    PENDING = "pending"
    EXPIRED = "expired"
    REVOKED = "revoked"


ACCESS_STATES = frozenset({State.ACTIVE, State.TRIALING, State.GRACE_PERIOD})


def access_end(state: State, expires_at: datetime | None, grace_ends_at: datetime | None) -> datetime | None:
    """When access ends (None: never), assuming the state grants it: the grace end while in grace."""
    if state is State.GRACE_PERIOD and grace_ends_at is not None:
        return grace_ends_at
    return expires_at


def access_granted(state: State, end: datetime | None, now: datetime) -> bool:
    """The access rule of the contract: active, trialing or in grace, and not past its end."""
    return state in ACCESS_STATES and (end is None or end > now)


def effective_state(state: State, end: datetime | None, lapses_to: State | None, now: datetime) -> State:
    """The state as of `now`: a state granting access whose end has passed without a word from the store
    is the one the store said it would fall into (`lapses_to`: a Stripe grace → billing_retry, a paused
    collection → paused); without one, the stored state stands (the read rule still ends access)."""
    if lapses_to is not None and state in ACCESS_STATES and end is not None and end <= now:
        return lapses_to
    return state


class Ownership(str, Enum):
    """How a user holds a purchase: first claimant, co-claimant (strategy ALL), set by an operator, or
    an Apple Family Sharing member's purchase (the member's own transaction of what a relative bought)."""

    OWNER = "owner"
    SHARED = "shared"
    MANUAL = "manual"
    FAMILY = "family"


@dataclass(frozen=True)
class Revocation:
    """A refund or dispute withdrawing the access paid by one payment.

    `covers_until` is the end of the period that payment paid for; the purchase stays revoked until the
    store reports a period ending later (a later payment). None means the whole purchase (one-time).
    Several events speak about the same `ref` (a dispute opened, then won); the latest by `at` wins.
    """

    ref: str
    covers_until: datetime | None
    active: bool
    at: datetime
    refund: bool = True  # a refund or chargeback (counted against the user); False: a revocation (Family Sharing)


@dataclass(frozen=True)
class Purchase:
    store: Store
    store_key: str
    product_id: str | None
    store_state: State
    expires_at: datetime | None
    event_time: datetime
    grace_ends_at: datetime | None = None
    will_renew: bool = False
    environment: str = "production"  # "sandbox": Apple Sandbox, a Play test purchase, Stripe test mode
    raw_state: str | None = None
    product_refs: tuple[str, ...] = ()
    # The state it falls into once its access end passes with no news from the store (`effective_state`).
    lapses_to: State | None = None
    app: str | None = None  # the bundle id or package name it was bought in (None: Stripe, manual)
    owner_ids: tuple[str, ...] = ()
    manual_owner: bool = False
    # The user verified store data names (appAccountToken, obfuscatedExternalAccountId, Stripe's
    # client_reference_id or metadata.user_id): only they may claim it (a manual association outranks it).
    linked_user: str | None = None
    revocations: tuple[Revocation, ...] = ()
    customer_ref: str | None = None
    snapshot_at: datetime | None = None  # store time of the last snapshot applied (event_time may be later)
    checked_at: datetime | None = None  # last checked with its store by the drift scan
    version: int = 0
    # Users whose copy and entitlements of this purchase are still to be written (a write touching more
    # users than one transaction holds brings them up to date in batches after the purchase).
    pending_users: tuple[str, ...] = ()
    family_shared: bool = False  # Apple Family Sharing: a member's access to what a relative bought
    consumable: bool = False  # the store says it is a consumable: recorded, never granting an entitlement
    credited_to: str | None = None  # a consumable's `purchase.completed` was published for this user (once)

    @property
    def purchase_id(self) -> str:
        return purchase_id(self.store, self.store_key)

    @property
    def state(self) -> State:
        """The store's state unless an active revocation covers the current period."""
        for revocation in self.revocations:
            if revocation.active and (
                revocation.covers_until is None
                or self.expires_at is None
                or self.expires_at <= revocation.covers_until
            ):
                return State.REVOKED
        return self.store_state

    @property
    def access_ends_at(self) -> datetime | None:
        return access_end(self.state, self.expires_at, self.grace_ends_at)

    def grants_access(self, now: datetime) -> bool:
        return access_granted(self.state, self.access_ends_at, now)

    def state_at(self, now: datetime) -> State:
        """The state reads show at `now` (`effective_state`): a grace whose end has passed is over."""
        return effective_state(self.state, self.access_ends_at, self.lapses_to, now)

    def ownership_of(self, user_id: str) -> Ownership:
        if self.manual_owner:
            return Ownership.MANUAL
        if self.family_shared:
            return Ownership.FAMILY
        return Ownership.OWNER if self.owner_ids[:1] == (user_id,) else Ownership.SHARED

    def with_changes(self, **changes) -> Purchase:
        return replace(self, **changes)


def purchase_id(store: Store, store_key: str) -> str:
    """`<store>:<store key>`, the id apps and operators see (e.g. `stripe:sub_123`)."""
    return f"{store.value}:{store_key}"


@dataclass(frozen=True)
class Snapshot:
    """What the store said the purchase looked like at `as_of` (a whole-state fact)."""

    store_state: State
    expires_at: datetime | None
    as_of: datetime
    grace_ends_at: datetime | None = None
    will_renew: bool | None = False  # None: the store did not say (the stored value stands)
    product_id: str | None = None
    product_refs: tuple[str, ...] = ()
    raw_state: str | None = None
    environment: str = "production"
    lapses_to: State | None = None  # the state once `expires_at` (or the grace end) has passed
    # The store's current period starts here and nothing says it was paid (Stripe: collection paused):
    # a purchase paid up to then keeps that end instead of taking the unpaid period's.
    unpaid_from: datetime | None = None


@dataclass(frozen=True)
class PaymentRef:
    """A store payment (Stripe invoice, payment intent, charge) that paid for a purchase's period."""

    ref: str
    purchase_id: str
    period_end: datetime | None
    owner_ids: tuple[str, ...] = ()  # the purchase's owners when the ref was recorded (a read hint)


@dataclass(frozen=True)
class Delivery:
    """A one-time purchase delivered by its store: what an app's backend credits once when it is a
    consumable (`purchase.completed`). `transaction_id` is the store's id of that payment (App Store
    transactionId, Play orderId)."""

    transaction_id: str
    quantity: int = 1
    purchased_at: datetime | None = None


@dataclass(frozen=True)
class PurchaseUpdate:
    """Everything one store event says about one purchase, normalized.

    Each fact has its own ordering: the snapshot and `paid_through` obey the store's event time (an older
    fact never overwrites a newer one); revocations are keyed by their ref and ordered per ref; a
    claim is decided by the ownership strategy.
    """

    store: Store
    store_key: str
    event_id: str
    occurred_at: datetime
    snapshot: Snapshot | None = None
    paid_through: datetime | None = None
    product_refs: tuple[str, ...] = ()  # products named by a payment (invoice lines), when no snapshot did
    payment_failed: bool = False
    # A failed renewal payment of the period starting at `failed_period_start`: grace until `grace_ends_at`.
    failed_period_start: datetime | None = None
    failed_period_end: datetime | None = None
    grace_ends_at: datetime | None = None
    revocation: Revocation | None = None
    claimant: str | None = None  # who claims it: a receipts caller, else the user the store data names
    app_account_token: str | None = None  # the store carried a user's token: a claim by that user
    linked_user: str | None = None  # the Parity user id the store data names literally (Stripe)
    # The claimant showed only an id (an App Store transactionId), no signed data: proof of nothing,
    # honoured only for a purchase linked to them or that nobody holds or is linked to.
    id_only_claim: bool = False
    customer_ref: str | None = None
    payment_refs: tuple[PaymentRef, ...] = field(default=())
    family_shared: bool | None = None  # Apple's inAppOwnershipType said FAMILY_SHARED (None: not said)
    consumable: bool | None = None  # the store says the product is a consumable (None: not said)
    delivery: Delivery | None = None  # a one-time purchase delivered (credited once if a consumable)
    # What the store data says of the whole lifecycle, whatever the event: the environment it lives in
    # and the app (bundle id, package name) it was bought in. None: not said (the stored value stands).
    environment: str | None = None
    app: str | None = None

    @property
    def purchase_id(self) -> str:
        return purchase_id(self.store, self.store_key)
