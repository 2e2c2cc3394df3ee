"""What a change of purchases does to their users: the purchase copies each user's partition holds, the
entitlement projection, refund counters and flags, and double billing.

Shared by event processing and the operator actions (manual association, merge), so that every path
that moves a purchase keeps the user's side the same way.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Collection, Mapping, MutableMapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, TypeVar

from ..changes import change_detail, double_billing_notice, review_notice
from ..domain.entitlements import (
    Catalog,
    Entitlement,
    EntitlementChange,
    diff_entitlements,
    double_billing,
    entitlements_with_history,
)
from ..domain.errors import VersionConflictError
from ..domain.model import Purchase, State
from ..domain.ownership import Action, AuditRecord
from ..domain.users import UserState, refunds_added
from ..observability import logger, metrics
from ..ports import UserWrite

if TYPE_CHECKING:
    from ..ports import Repository

DEFAULT_REFUND_THRESHOLD = 3
MAX_CONFLICT_RETRIES = 4

T = TypeVar("T")

# One purchase before and after a change (None before: a new purchase).
Move = tuple[Purchase | None, Purchase]


def retry_on_conflict(attempt_once: Callable[[int], T]) -> T:
    """Run `attempt_once(attempt)` again (it reads afresh) while a conditional write finds that
    someone else wrote first; the last conflict is raised."""
    for attempt in range(1, MAX_CONFLICT_RETRIES + 1):
        try:
            return attempt_once(attempt)
        except VersionConflictError:
            if attempt == MAX_CONFLICT_RETRIES:
                raise
            logger.info("version conflict, retrying", extra={"attempt": attempt})
    raise AssertionError("unreachable")


@dataclass(frozen=True)
class Projection:
    users: tuple[UserWrite, ...]
    changes: tuple[EntitlementChange, ...]
    notices: tuple[dict, ...]  # user events beyond entitlement changes (flags, double billing)
    audit: tuple[AuditRecord, ...]

    def change_details(self, cause: tuple[str, str]) -> tuple[dict, ...]:
        """The events a commit of this projection publishes: the entitlement changes, then the notices."""
        source, event_id = cause
        return tuple(change_detail(change, cause=f"{source}:{event_id}") for change in self.changes) + self.notices


class Projector:
    def __init__(self, repository: Repository, catalog: Catalog, refund_threshold: int = DEFAULT_REFUND_THRESHOLD):
        self._repo = repository
        self._catalog = catalog
        self._threshold = refund_threshold

    @property
    def catalog(self) -> Catalog:
        return self._catalog

    def project(
        self,
        moves: Sequence[Move],
        now: datetime,
        cause: tuple[str, str],
        loaded: MutableMapping[str, UserState] | None = None,
        history: Mapping[str, Mapping[str, Entitlement]] | None = None,
        against_stored: bool = False,
        only: Collection[str] | None = None,
    ) -> Projection:
        """The writes for every user who held or holds one of the moved purchases, and for the users
        whose projection of one of them is still pending (`Purchase.pending_users`).

        `cause`: (source, event id) of the change; `loaded`: users already read on the way (reused, and
        completed with those read here); `history`: more past entitlements per user (a merged user's).
        Changes are found against the stored projection judged now (an access that ended by time is no
        change of this event's), or, `against_stored`, as stored (the sweep publishes those endings).
        `only`: project these users alone (a batch of pending ones).

        Refunds are counted against the purchase before the move, except for a pending user: their own
        copy is what they last saw (the refunds since then were never counted for them), so counting
        from it counts each refund once, however many writes it takes to reach them.
        """
        loaded = {} if loaded is None else loaded
        affected = sorted(
            {
                uid
                for before, after in moves
                for uid in (*(before.owner_ids if before else ()), *(before.pending_users if before else ()), *after.owner_ids)
            }
        )
        if only is not None:
            affected = [uid for uid in affected if uid in only]
        parts = []
        for user_id in affected:
            user = loaded.get(user_id) or self._repo.load_user(user_id)
            loaded[user_id] = user
            past = (history or {}).get(user_id) or {}
            parts.append(self._project_user(user_id, user, moves, now, cause, past, against_stored))
        return Projection(
            users=tuple(write for part in parts for write in part.users),
            changes=tuple(change for part in parts for change in part.changes),
            notices=tuple(notice for part in parts for notice in part.notices),
            audit=tuple(record for part in parts for record in part.audit),
        )

    def _project_user(
        self,
        user_id: str,
        user: UserState,
        moves: Sequence[Move],
        now: datetime,
        cause: tuple[str, str],
        history: Mapping[str, Entitlement],
        against_stored: bool,
    ) -> Projection:
        """One user's part of `project`: their copies of the moved purchases, their entitlements, the
        refunds counted against them, and what it is worth telling (a review flag, double billing)."""
        held = {p.purchase_id: p for p in user.purchases}
        puts, deletes, refunds = [], [], 0
        for before, after in moves:
            if user_id in after.owner_ids:
                seen = held.get(after.purchase_id)
                pending = before is not None and user_id in before.pending_users and seen is not None
                held[after.purchase_id] = after
                puts.append(after)
                refunds += refunds_added(seen if pending else before, after)
            else:
                held.pop(after.purchase_id, None)
                deletes.append(after.purchase_id)
        old = dict(user.entitlements) if against_stored else {eid: e.at(now) for eid, e in user.entitlements.items()}
        past = {**{eid: e.at(now) for eid, e in history.items()}, **old}
        changes = diff_entitlements(user_id, old, entitlements_with_history(held.values(), past, self._catalog, now))
        revoked = sum(1 for c in changes if c.new and c.new.state is State.REVOKED and not (c.old and c.old.state is State.REVOKED))
        if revoked:
            metrics.add_metric(name="EntitlementsRevoked", unit="Count", value=revoked)
        flagged = user.due_for_review(refunds, self._threshold)
        told = [self._review_flag(user_id, user.refunds + refunds, now, cause)] if flagged else []
        told += self._double_billing(user_id, user, held.values(), now, cause)
        write = UserWrite(
            user_id=user_id,
            expected_version=user.version,
            new_app_account_token=None if user.exists else str(uuid.uuid4()),
            put_purchases=tuple(puts),
            delete_purchase_ids=tuple(deletes),
            put_entitlements=tuple(c.new for c in changes if c.new is not None),
            refunds_added=refunds,
            flagged_at=now if flagged else None,
        )
        return Projection((write,), tuple(changes), tuple(n for n, _ in told), tuple(r for _, r in told))

    def _review_flag(self, user_id: str, total: int, now: datetime, cause: tuple[str, str]) -> tuple[dict, AuditRecord]:
        """(notice, audit line) of a user flagged for review: `total` refunds or chargebacks."""
        logger.warning("user flagged for review: refunds and chargebacks", extra={"user_id": user_id, "refunds": total})
        metrics.add_metric(name="UsersFlaggedForReview", unit="Count", value=1)
        notice = review_notice(user_id, total, self._threshold, cause)
        return notice, AuditRecord(user_id, Action.FLAGGED, now, *cause, detail=f"{total} refunds or chargebacks")

    def _double_billing(
        self, user_id: str, user: UserState, held: Collection[Purchase], now: datetime, cause: tuple[str, str]
    ) -> list[tuple[dict, AuditRecord]]:
        """(notice, audit line) of each entitlement the user now pays for twice that they did not before."""
        found = []
        billed_before = double_billing(user.purchases, self._catalog, now)
        for entitlement_id, purchase_ids in double_billing(held, self._catalog, now).items():
            if billed_before.get(entitlement_id) == purchase_ids:
                continue
            logger.warning("double billing", extra={"user_id": user_id, "entitlement": entitlement_id})
            metrics.add_metric(name="DoubleBillingDetected", unit="Count", value=1)
            notice = double_billing_notice(user_id, entitlement_id, purchase_ids, cause)
            detail = f"{entitlement_id}: {', '.join(purchase_ids)}"
            found.append((notice, AuditRecord(user_id, Action.DOUBLE_BILLING, now, *cause, detail=detail)))
        return found
