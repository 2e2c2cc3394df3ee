"""The records the storage ports exchange about purchases and users: reads, the writes of one commit, a
replay's input. Those about stored events are in `events` (what a webhook's intake needs alone)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:  # annotations only: building a record loads no domain module
    from ..domain.entitlements import Entitlement
    from ..domain.model import PaymentRef, Purchase
    from ..domain.ownership import AuditRecord
    from ..domain.replay import Step
    from ..domain.users import UserState


class PurchaseRead(NamedTuple):
    """A purchase as read to apply an update, with the users its store links name."""

    purchase: Purchase | None
    customer_user: str | None = None  # the user a store customer is linked to
    token_user: str | None = None  # the user an appAccountToken was issued to


class UserWrite(NamedTuple):
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
    flag_cleared: bool = False  # an operator cleared the review flag
    merged_into: str | None = None  # set: this user id becomes an alias of that one
    aliases_added: tuple[str, ...] = ()  # user ids merged into this one


class PurchaseWrite(NamedTuple):
    """A purchase put in a commit, conditional on the version it was computed from."""

    purchase: Purchase  # its `version` is the new version
    expected_version: int  # 0: the purchase must not exist yet


class PendingUpdate(NamedTuple):
    """A change of a purchase's pending users (`Purchase.pending_users`) without a new version:
    conditional on the version the users' projections were computed from."""

    purchase_id: str
    version: int
    add: tuple[str, ...] = ()  # their projections are still to be written
    remove: tuple[str, ...] = ()  # their projections are written by this commit


class Commit(NamedTuple):
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
    change_details: tuple[Mapping, ...] = ()  # recorded on the event for re-publishing
    completes_event: bool = True  # False: one step of a longer action (a merge moved in chunks)
    outcome: str = "applied"  # what the event log records (`claim_refused`: applied, its claim refused)
    step: Step | None = None  # the purchase write, as replay folds it again (`domain.replay`)
    pending: tuple[PendingUpdate, ...] = ()
    purchase_id: str | None = None  # the purchase the event concerns when it writes none (a refused claim)


class ReplayInput(NamedTuple):
    """What a replay folds and compares: each purchase's recorded steps, the count of its events that
    wrote it without recording a step, and the purchases and users as stored."""

    steps: Mapping[str, tuple[Step, ...]]
    unrecorded: Mapping[str, int]
    purchases: Mapping[str, Purchase]
    users: Mapping[str, UserState]
