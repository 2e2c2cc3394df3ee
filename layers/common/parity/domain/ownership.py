"""Who may use a purchase: the ALL / FIRST / LAST strategies, manual association, and the audit trail.

A claim is a user presenting a purchase (a receipt, or a store event carrying the user's link). The
strategy decides what a claim by someone who does not hold the purchase yet does; a manual association
by an operator outranks every claim until another manual association.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from typing import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:  # annotations only: settings read `Strategy` without loading the purchase model
    from .model import Purchase


class Strategy(str, Enum):
    ALL = "ALL"  # every claimant gets access
    FIRST = "FIRST"  # the first claimant keeps it; later claims are refused
    LAST = "LAST"  # the latest claimant takes it over


class Action(str, Enum):
    """What happened to one user's hold on one purchase (one line of the audit trail)."""

    CLAIMED = "claimed"  # became the owner of an unowned purchase
    SHARED = "shared"  # joined the owners (ALL)
    TOOK_OVER = "took_over"  # took the purchase from its owners (LAST)
    LOST = "lost"  # an owner who lost the purchase to another user (LAST, manual association, merge)
    REFUSED = "refused"  # a claim refused (FIRST, or a manual owner holds it)
    CLAIM_REFUSED = "claim_refused"  # the owner's side of a refusal: someone else claimed their purchase
    ASSIGNED = "assigned"  # made the owner by an operator (manual association)
    MERGED_INTO = "merged_into"  # this user id became an alias of another
    MERGED_FROM = "merged_from"  # another user id was merged into this one
    FLAGGED = "flagged_for_review"  # refunds and chargebacks reached the threshold
    DOUBLE_BILLING = "double_billing"  # access to one entitlement paid in two stores at once
    GRANTED = "granted"  # an operator granted an entitlement by hand (a manual grant)
    GRANT_REVOKED = "grant_revoked"  # an operator ended a manual grant
    FLAG_CLEARED = "flag_cleared"  # an operator cleared the refund-abuse review flag
    ERASED = "erased"  # the account was erased (the line holds nothing else about the person)


class Refusal(str, Enum):
    """Why a claim was refused."""

    HELD = "held"  # the first claimant keeps it (FIRST), or an operator chose its owner
    LINKED = "linked"  # verified store data names another user
    UNPROVEN = "unproven"  # an id alone, for a purchase someone holds or the store data links
    TOO_MANY_OWNERS = "too_many_owners"  # ALL: the purchase is shared with the most users allowed


class ClaimDecision(NamedTuple):
    owner_ids: tuple[str, ...]
    accepted: bool
    action: Action | None = None  # the claimant's line in the audit trail; None when nothing changed
    refusal: Refusal | None = None

    @property
    def refused(self) -> bool:
        return not self.accepted


def decide_claim(
    purchase: Purchase, claimant: str, strategy: Strategy, id_only: bool = False, max_owners: int | None = None
) -> ClaimDecision:
    """The owners of `purchase` after `claimant` claims it.

    A manual association outranks every claim: only the manually chosen owner's claims are accepted.
    Then verified store data: a purchase linked to a user (`linked_user`) is theirs alone, whatever the
    strategy. A claim that shows only an id (`id_only`) proves nothing, so it takes nothing from anyone:
    it is honoured for the linked user, or for a purchase nobody holds or is linked to. `max_owners`:
    under ALL, the most users one purchase is shared with (None: no bound).
    """
    owners = purchase.owner_ids
    if claimant in owners:
        return ClaimDecision(owners, accepted=True)
    if purchase.manual_owner:
        return _refused(owners, Refusal.HELD)
    if purchase.linked_user and purchase.linked_user != claimant:
        return _refused(owners, Refusal.LINKED)
    if id_only and purchase.linked_user != claimant and owners:
        return _refused(owners, Refusal.UNPROVEN)
    if not owners:
        return ClaimDecision((claimant,), accepted=True, action=Action.CLAIMED)
    if strategy is Strategy.FIRST:
        return _refused(owners, Refusal.HELD)
    if strategy is Strategy.ALL:
        if max_owners is not None and len(owners) >= max_owners:
            return _refused(owners, Refusal.TOO_MANY_OWNERS)
        return ClaimDecision((*owners, claimant), accepted=True, action=Action.SHARED)
    return ClaimDecision((claimant,), accepted=True, action=Action.TOOK_OVER)


def _refused(owners: tuple[str, ...], refusal: Refusal) -> ClaimDecision:
    return ClaimDecision(owners, accepted=False, action=Action.REFUSED, refusal=refusal)


def assign(purchase: Purchase, user_id: str) -> Purchase:
    """A manual association: `user_id` alone holds the purchase, and claims no longer move it."""
    return purchase.with_changes(owner_ids=(user_id,), manual_owner=True)


def merge_owner(purchase: Purchase, from_user: str, into_user: str) -> Purchase:
    """The purchase after `from_user` is merged into `into_user` (a manual association stays one)."""
    owners = tuple(dict.fromkeys(into_user if owner == from_user else owner for owner in purchase.owner_ids))
    return purchase.with_changes(owner_ids=owners)


def release(purchase: Purchase, user_id: str) -> Purchase:
    """The purchase once `user_id`'s account is erased: a store record that no longer names them (a
    manual association to them ends with it; what the store data says of them is forgotten)."""
    owners = tuple(owner for owner in purchase.owner_ids if owner != user_id)
    return purchase.with_changes(
        owner_ids=owners,
        manual_owner=purchase.manual_owner and bool(owners),
        linked_user=None if purchase.linked_user == user_id else purchase.linked_user,
        pending_users=tuple(u for u in purchase.pending_users if u != user_id),
    )


@dataclass(frozen=True)
class AuditRecord:
    """One line of a user's audit trail: who, what, when, and the stored event behind it."""

    user_id: str
    action: Action
    at: datetime
    source: str  # the event log source: stripe | app_store | play_store | admin
    event_id: str
    purchase_id: str | None = None
    other_user_ids: tuple[str, ...] = ()  # the owners who refused or lost it, the user it went to
    strategy: Strategy | None = None
    actor: str | None = None  # the operator, for manual associations and merges
    detail: str | None = None


def claim_records(
    before: tuple[str, ...],
    after: tuple[str, ...],
    claimant: str,
    decision: ClaimDecision,
    purchase_id: str,
    at: datetime,
    source: str,
    event_id: str,
    strategy: Strategy,
) -> tuple[AuditRecord, ...]:
    """The audit lines of one claim: the claimant's, and each owner's it concerned. A claim refused
    because the purchase is shared with the most users allowed concerns no owner (a line each would
    cost a write per owner for every further claimant): only the claimant's line says so."""
    if decision.action is None:
        return ()

    def record(user_id: str, action: Action, others: tuple[str, ...], detail: str | None = None) -> AuditRecord:
        return AuditRecord(user_id, action, at, source, event_id, purchase_id, others, strategy, detail=detail)

    if decision.refusal is Refusal.TOO_MANY_OWNERS:
        return (record(claimant, Action.REFUSED, before, Refusal.TOO_MANY_OWNERS.value),)
    if decision.refused:
        return (record(claimant, Action.REFUSED, before), *(record(o, Action.CLAIM_REFUSED, (claimant,)) for o in before))
    lost = tuple(owner for owner in before if owner not in after)
    return (record(claimant, decision.action, before), *(record(o, Action.LOST, (claimant,)) for o in lost))
