"""Bounded writes: every commit fits one DynamoDB transaction, however many users a purchase touches.

A commit holds the event marker, the purchases it writes and, for each user concerned, the profile, the
user's copy of the purchase and the entitlements (about three items a user). A purchase shared by many
users would need more than one transaction takes (100 items). `BoundedWriter.commit` then writes first
what defines the change: the event marker, the purchases, payment refs, token moves, the claim's audit
lines and the users that fit, the claimant first; every other user concerned is recorded on the purchase
(`Purchase.pending_users`, in the same transaction). `complete` then brings the pending users up to date
from the canonical purchase, in batches of one transaction each, conditional on the purchase's version
and on each user's profile version; a batch removes its users from the pending set and records its
change events on the event (re-published when the event is delivered again).

Exact, whatever crashes or races: a pending user's projection is recomputed from what their partition
holds, so a refund is counted against them once, when their copy first shows it (`Projector.project`); a
batch computed from a purchase that has moved on is cancelled and computed again; a later write of the
purchase covers its pending users itself. Who completes: the writer right after the first transaction;
a redelivery of the event (the processor finds the purchase pending); the drift scan (a pending purchase
is due at once); any later event of the purchase.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, MutableMapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import TYPE_CHECKING

from ..domain.errors import VersionConflictError
from ..domain.model import Purchase
from ..domain.ownership import Action
from ..domain.users import UserState
from ..observability import logger, metrics
from ..ports import Commit, PendingUpdate, PurchaseWrite, UserWrite
from .projection import MAX_CONFLICT_RETRIES, Projector

if TYPE_CHECKING:
    from ..ports import ChangePublisher, Repository

# Audit lines a user's projection writes (recomputed when a pending user is completed); the others are
# the claim's and are written with the purchase.
PROJECTION_ACTIONS = frozenset({Action.FLAGGED, Action.DOUBLE_BILLING})


@dataclass(frozen=True)
class Written:
    """What `BoundedWriter.commit` wrote in its one transaction."""

    commit: Commit  # its change details are the ones to publish now
    pending: tuple[Purchase, ...] = ()  # purchases written with users still pending


class BoundedWriter:
    def __init__(self, repository: Repository, projector: Projector, publisher: ChangePublisher | None = None) -> None:
        self._repo = repository
        self._projector = projector
        self._publisher = publisher

    # -- the first transaction ----------------------------------------------------------------------

    def commit(self, commit: Commit, first: Iterable[str | None] = (), anchor: Purchase | None = None) -> Written:
        """Write `commit` in one transaction, deferring the users that do not fit.

        `first`: users written in this transaction whatever it costs (the claimant, the users a merge
        moves between): their writes define the change. `anchor`: for a commit that writes no purchase
        (the sweep of one purchase), the purchase whose pending set records the deferred users.
        Raises DuplicateEventError and VersionConflictError as `Repository.commit` does.
        """
        limit = self._repo.max_commit_items
        whole = self._with_pending(commit, set(), anchor)
        if self._repo.commit_size(whole) <= limit:
            self._repo.commit(whole)
            return Written(whole)
        written_ids = {w.purchase.purchase_id for w in commit.purchases}
        # A user whose write concerns no purchase written here has nowhere to be recorded as pending.
        unanchored = [
            w.user_id
            for w in commit.users
            if anchor is None and not written_ids & {*(p.purchase_id for p in w.put_purchases), *w.delete_purchase_ids}
        ]
        order = [uid for uid in dict.fromkeys((*first, *unanchored)) if uid]
        required = set(order)
        by_id = {write.user_id: write for write in commit.users}
        order += [write.user_id for write in commit.users if write.user_id not in required]
        deferred = set(by_id)
        for user_id in order:
            if user_id not in by_id:
                continue
            deferred.discard(user_id)
            if user_id in required:
                continue
            if self._repo.commit_size(self._with_pending(commit, deferred, anchor)) > limit:
                deferred.add(user_id)
        written = self._with_pending(commit, deferred, anchor)
        size = self._repo.commit_size(written)
        if size > limit:
            raise ValueError(f"a commit's required part is {size} items, more than one transaction takes ({limit})")
        logger.info(
            "commit split: users' projections pending", extra={"event_id": commit.event_id, "pending": len(deferred)}
        )
        metrics.add_metric(name="CommitsSplit", unit="Count", value=1)
        self._repo.commit(written)
        pending = tuple(w.purchase for w in written.purchases if w.purchase.pending_users)
        if anchor is not None and deferred:
            pending += (replace(anchor, pending_users=tuple(sorted({*anchor.pending_users, *deferred}))),)
        return Written(written, pending)

    def write(
        self,
        commit: Commit,
        now: datetime,
        loaded: MutableMapping[str, UserState] | None = None,
        first: Iterable[str | None] = (),
        anchor: Purchase | None = None,
    ) -> None:
        """The whole of a write: `commit`, then `finish`. Raises as `commit` does, before anything is
        published."""
        self.finish(self.commit(commit, first, anchor), now, loaded)

    def finish(self, written: Written, now: datetime, loaded: MutableMapping[str, UserState] | None = None) -> None:
        """What follows a commit: its change events published, then the users it left pending completed
        (`loaded`: users read since its purchases were)."""
        if written.commit.change_details and self._publisher is not None:
            self._publisher.publish(written.commit.change_details)
        for pending in written.pending:
            self.complete(pending, now, (written.commit.source, written.commit.event_id), loaded)

    def _with_pending(self, commit: Commit, deferred: set[str], anchor: Purchase | None) -> Commit:
        """`commit` without the `deferred` users' writes, change events and projection audit lines, with
        each purchase it writes recording them as pending (every other user concerned is written here)."""
        concerns: dict[str, set[str]] = {}
        for write in commit.users:
            if write.user_id in deferred:
                for pid in (*(p.purchase_id for p in write.put_purchases), *write.delete_purchase_ids):
                    concerns.setdefault(pid, set()).add(write.user_id)
        purchases = {
            w.purchase.purchase_id: replace(w.purchase, pending_users=tuple(sorted(concerns.get(w.purchase.purchase_id, ()))))
            for w in commit.purchases
        }
        users = tuple(
            write._replace(put_purchases=tuple(purchases.get(p.purchase_id, p) for p in write.put_purchases))
            for write in commit.users
            if write.user_id not in deferred
        )
        pending = commit.pending
        if anchor is not None and deferred:
            # (Users written here may stay listed: completing them again finds nothing to do.)
            pending += (PendingUpdate(anchor.purchase_id, anchor.version, add=tuple(sorted(deferred))),)
        elif anchor is not None and anchor.pending_users:
            # Every user concerned is written here, the pending ones among them (Projector.project).
            written = tuple(u for u in anchor.pending_users if any(w.user_id == u for w in commit.users))
            if written:
                pending += (PendingUpdate(anchor.purchase_id, anchor.version, remove=written),)
        return commit._replace(
            purchases=tuple(PurchaseWrite(purchases[w.purchase.purchase_id], w.expected_version) for w in commit.purchases),
            users=users,
            audit=tuple(r for r in commit.audit if not (r.user_id in deferred and r.action in PROJECTION_ACTIONS)),
            change_details=tuple(d for d in commit.change_details if d.get("userId") not in deferred),
            pending=pending,
        )

    # -- the pending users --------------------------------------------------------------------------

    def complete(
        self,
        purchase: Purchase | str,
        now: datetime,
        cause: tuple[str, str],
        loaded: MutableMapping[str, UserState] | None = None,
    ) -> tuple[Mapping, ...]:
        """Write the projections still pending for a purchase (given as read, or by id: read here), in
        batches that each fit one transaction; publishes and returns their change events.

        `loaded`: users read since the purchase was (reused for the first batch). A batch that finds the
        purchase or a user written meanwhile is computed again from fresh reads.
        """
        current = purchase if isinstance(purchase, Purchase) else self._repo.get_purchase(purchase)
        loaded = dict(loaded or {})
        published: list[Mapping] = []
        conflicts = 0
        while current is not None and current.pending_users:
            batch = self._batch(current, now, cause, loaded)
            try:
                self._repo.commit(batch)
            except VersionConflictError:
                conflicts += 1
                if conflicts >= MAX_CONFLICT_RETRIES:
                    raise
                logger.info("pending batch conflicted; reading again", extra={"purchase_id": current.purchase_id})
                loaded = {}
                current = self._repo.get_purchase(current.purchase_id)
                continue
            done = set(batch.pending[0].remove)
            if batch.change_details and self._publisher is not None:
                self._publisher.publish(batch.change_details)
            published += batch.change_details
            current = replace(current, pending_users=tuple(u for u in current.pending_users if u not in done))
        return tuple(published)

    def _batch(
        self, purchase: Purchase, now: datetime, cause: tuple[str, str], loaded: MutableMapping[str, UserState]
    ) -> Commit:
        """The next batch of a purchase's pending users that fits one transaction (at least one user)."""
        limit = self._repo.max_commit_items
        projection = self._projector.project([(purchase, purchase)], now, cause, loaded, only=purchase.pending_users)
        source, event_id = cause
        details_of = _by_user(projection.change_details(cause))
        audit_of: dict[str, list] = {}
        for record in projection.audit:
            audit_of.setdefault(record.user_id, []).append(record)
        written = [w.user_id for w in projection.users]
        # A pending user the projection has nothing for (neither holds it nor has a copy) is just done.
        idle = tuple(u for u in purchase.pending_users if u not in written)

        def commit_of(users: list[UserWrite]) -> Commit:
            ids = [w.user_id for w in users]
            return Commit(
                source,
                event_id,
                users=tuple(users),
                audit=tuple(r for uid in ids for r in audit_of.get(uid, ())),
                change_details=tuple(d for uid in ids for d in details_of.get(uid, ())),
                completes_event=False,
                pending=(PendingUpdate(purchase.purchase_id, purchase.version, remove=(*idle, *ids)),),
            )

        chosen: list[UserWrite] = []
        for write in projection.users:
            if chosen and self._repo.commit_size(commit_of([*chosen, write])) > limit:
                break
            chosen.append(write)
        return commit_of(chosen)


def _by_user(details: Iterable[Mapping]) -> dict[str | None, list[Mapping]]:
    out: dict[str | None, list[Mapping]] = {}
    for detail in details:
        out.setdefault(detail.get("userId"), []).append(detail)
    return out
