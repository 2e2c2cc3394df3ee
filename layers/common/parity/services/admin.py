"""Operator actions: manual association, user merge, and the report of one user.

Each action is stored in the event log (source `admin`) like a store event, so that history can be
replayed, and written with the same conditional writes and user projection as webhooks.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import replace
from datetime import datetime
from typing import TYPE_CHECKING

from ..changes import merge_notice, review_notice
from ..domain.catalog import Catalog
from ..domain.entitlements import double_billing, entitlements_with_history
from ..domain.errors import InvalidInput, MergeRefused, PurchaseNotFound, UserNotFound
from ..domain.ownership import Action, AuditRecord, assign, merge_owner
from ..domain.replay import Step
from ..domain.users import UserState
from ..observability import logger, metrics
from ..operator_results import Assignment, MergeResult, UserReport
from ..ports import Commit, PurchaseWrite, StoredEvent, UserWrite
from .bounded import BoundedWriter
from .projection import Projection, Projector, retry_on_conflict

if TYPE_CHECKING:
    from ..ports import ChangePublisher, Clock, EventLog, Repository

ADMIN = "admin"
# Purchases moved per merge transaction: each costs about four items of DynamoDB's hundred.
MERGE_CHUNK = 15
OWNERSHIP_ACTIONS = frozenset(Action) - {
    Action.REFUSED, Action.CLAIM_REFUSED, Action.FLAGGED, Action.DOUBLE_BILLING, Action.FLAG_CLEARED, Action.ERASED,
}  # fmt: skip


class Administration:
    def __init__(
        self,
        repository: Repository,
        event_log: EventLog,
        publisher: ChangePublisher,
        projector: Projector,
        catalog: Catalog,
        clock: Clock,
        refund_threshold: int,
    ) -> None:
        self._repo = repository
        self._log = event_log
        self._projector = projector
        self._writer = BoundedWriter(repository, projector, publisher)
        self._catalog = catalog
        self._clock = clock
        self._threshold = refund_threshold

    # -- manual association -------------------------------------------------------------------------

    def assign_owner(self, purchase_id: str, user_id: str, actor: str, reason: str | None = None) -> Assignment:
        """Make `user_id` the purchase's only owner; claims no longer move it until another association."""
        now = self._clock.now()
        first_read = self._repo.get_purchases([purchase_id]).get(purchase_id)
        if first_read is None:
            raise PurchaseNotFound(f"No purchase {purchase_id!r} is known.")
        event_id = f"owner:{purchase_id}:{uuid.uuid4()}"
        body = {"action": "assign_owner", "purchaseId": purchase_id, "userId": user_id, "actor": actor, "reason": reason}
        self._record(event_id, "purchase.owner_assigned", purchase_id, body, now)

        def attempt(number: int) -> Assignment:
            current = first_read if number == 1 else self._repo.get_purchases([purchase_id])[purchase_id]
            loaded: dict[str, UserState] = {}
            owner = self._canonical(user_id, loaded)
            if current.manual_owner and current.owner_ids == (owner,):
                self._log.mark_processed(ADMIN, event_id, "unchanged", purchase_id)
                return Assignment(current, current.owner_ids)
            purchase = replace(assign(current, owner), version=current.version + 1)
            audit = [AuditRecord(owner, Action.ASSIGNED, now, ADMIN, event_id, purchase_id, current.owner_ids, actor=actor, detail=reason)]
            audit += [
                AuditRecord(lost, Action.LOST, now, ADMIN, event_id, purchase_id, (owner,), actor=actor, detail=reason)
                for lost in current.owner_ids
                if lost != owner
            ]
            projection = self._projector.project([(current, purchase)], now, (ADMIN, event_id), loaded)
            step = Step(purchase_id, purchase.version, assigned_owner=owner)
            self._commit(
                event_id, [PurchaseWrite(purchase, current.version)], projection, projection.users, audit,
                step=step, first=(owner,), loaded=loaded,
            )  # fmt: skip
            metrics.add_metric(name="ManualAssociations", unit="Count", value=1)
            logger.info("purchase manually associated", extra={"purchase_id": purchase_id, "actor": actor})
            return Assignment(purchase, current.owner_ids)

        return retry_on_conflict(attempt)

    # -- merge --------------------------------------------------------------------------------------

    def merge(self, into_user: str, from_user: str, actor: str, reason: str | None = None) -> MergeResult:
        """Merge `from_user` into `into_user`: purchases, claims and appAccountTokens move, and
        `from_user` becomes an alias (its reads and links land on `into_user`).

        Idempotent: merging again finishes an interrupted merge or changes nothing. Purchases move in
        chunks (DynamoDB transactions hold a hundred items); the alias is set by the first one, so that
        nothing lands on `from_user` meanwhile.
        """
        if into_user == from_user:
            raise InvalidInput("A user cannot be merged into itself.", "invalid_merge")
        moved, done = 0, False
        while not done:
            target, count, done = retry_on_conflict(lambda _: self._merge_step(into_user, from_user, actor, reason))
            moved += count
        return MergeResult(target, from_user, moved)

    def _merge_step(self, into_user: str, from_user: str, actor: str, reason: str | None) -> tuple[str, int, bool]:
        """One transaction of a merge: (the user merged into, purchases moved, whether it is finished)."""
        now = self._clock.now()
        source, target = self._merge_parties(into_user, from_user)
        starting = source.merged_into is None
        if not starting and not source.purchases and not source.entitlements:
            return target.user_id, 0, True  # merged before: nothing to do
        event_id = f"merge:{from_user}:{target.user_id}"
        cause = (ADMIN, event_id)
        if starting:
            body = {"action": "merge", "userId": target.user_id, "fromUserId": from_user, "actor": actor, "reason": reason}
            self._record(event_id, "user.merged", target.user_id, body, now)

        chunk = source.purchases[:MERGE_CHUNK]
        done = len(source.purchases) <= MERGE_CHUNK
        canonical = self._repo.get_purchases([p.purchase_id for p in chunk])
        moves = [
            (current, replace(merge_owner(current, from_user, target.user_id), version=current.version + 1))
            for current in canonical.values()
            if from_user in current.owner_ids
        ]
        loaded = {from_user: source, target.user_id: target}
        projection = self._projector.project(moves, now, cause, loaded, history={target.user_id: source.entitlements})
        stale_copies = tuple(p.purchase_id for p in chunk if p.purchase_id not in {m[1].purchase_id for m in moves})
        aliases = [self._repo.load_user(alias) for alias in source.aliases] if starting else []
        writes, notices, audit = self._merged_users(source, target, aliases, projection, stale_copies, done, now, cause)
        tokens = [u.app_account_token for u in (source, *aliases) if starting and u.app_account_token]
        if starting:
            audit += [
                AuditRecord(from_user, Action.MERGED_INTO, now, ADMIN, event_id, None, (target.user_id,), actor=actor, detail=reason),
                AuditRecord(target.user_id, Action.MERGED_FROM, now, ADMIN, event_id, None, (from_user,), actor=actor, detail=reason),
            ]
        self._commit(
            event_id,
            [PurchaseWrite(purchase, current.version) for current, purchase in moves],
            projection,
            writes,
            audit,
            token_moves=tuple((token, target.user_id) for token in tokens),
            completes_event=done,
            extra_details=notices + ((merge_notice(from_user, target.user_id, cause),) if done else ()),
            first=(target.user_id, from_user, *(alias.user_id for alias in aliases)),
            loaded=loaded,
        )
        if starting:
            metrics.add_metric(name="UsersMerged", unit="Count", value=1)
            logger.info("users merged", extra={"from_user": from_user, "user_id": target.user_id, "actor": actor})
        return target.user_id, len(moves), done

    def _merge_parties(self, into_user: str, from_user: str) -> tuple[UserState, UserState]:
        """The user merged and the user merged into (the one behind an alias: aliases never chain);
        raises UserNotFound or MergeRefused for a merge that cannot be."""
        source = self._repo.load_user(from_user)
        if not source.exists:
            raise UserNotFound(f"No user {from_user!r} is known.")
        target = self._repo.load_user(into_user)
        if target.merged_into:
            target = self._repo.load_user(target.merged_into)
        if target.user_id == from_user:
            raise MergeRefused(f"{into_user!r} was merged into {from_user!r}: merging back would make a cycle.", "merge_cycle")
        if source.merged_into and source.merged_into != target.user_id:
            raise MergeRefused(f"{from_user!r} was merged into {source.merged_into!r} already.", "already_merged")
        return source, target

    def _merged_users(
        self,
        source: UserState,
        target: UserState,
        aliases: list[UserState],
        projection: Projection,
        stale_copies: tuple[str, ...],
        done: bool,
        now: datetime,
        cause: tuple[str, str],
    ) -> tuple[tuple[UserWrite, ...], tuple[dict, ...], list[AuditRecord]]:
        """The user writes of one merge step beyond the projection's: the source becomes an alias (its
        stale copies and, at the end, its entitlements deleted), the target takes its aliases, refunds
        and perhaps a review flag, and earlier aliases of the source point at the target. With the
        notices and audit lines of a flag."""
        starting = source.merged_into is None
        writes = {write.user_id: write for write in projection.users}
        from_user = source.user_id
        writes[from_user] = (writes.get(from_user) or UserWrite(from_user, source.version))._replace(
            merged_into=target.user_id,
            put_entitlements=(),
            delete_purchase_ids=(*(writes[from_user].delete_purchase_ids if from_user in writes else ()), *stale_copies),
            delete_entitlement_ids=tuple(source.entitlements) if done else (),
        )
        target_write = writes.get(target.user_id) or UserWrite(
            target.user_id, target.version, new_app_account_token=None if target.exists else str(uuid.uuid4())
        )
        carried = source.refunds if starting else 0  # one person's refunds, wherever they were counted
        flag = target_write.flagged_at
        notices: tuple[dict, ...] = ()
        audit: list[AuditRecord] = []
        if flag is None and target.due_for_review(carried, self._threshold):
            flag, total = now, target.refunds + carried
            notices = (review_notice(target.user_id, total, self._threshold, cause),)
            audit.append(AuditRecord(target.user_id, Action.FLAGGED, now, *cause, detail=f"{total} refunds or chargebacks"))
            metrics.add_metric(name="UsersFlaggedForReview", unit="Count", value=1)
        writes[target.user_id] = target_write._replace(
            aliases_added=(from_user, *source.aliases) if starting else (),
            refunds_added=target_write.refunds_added + carried,
            flagged_at=flag,
        )
        for alias in aliases:  # users merged into `from_user` before now resolve to the target directly
            writes[alias.user_id] = UserWrite(alias.user_id, alias.version, merged_into=target.user_id)
        return tuple(writes.values()), notices, audit

    # -- report -------------------------------------------------------------------------------------

    def user_report(self, user_id: str) -> UserReport:
        """Purchases (with the stored events behind each), claims, refusals and flags of one user; an
        alias reports the user it was merged into."""
        now = self._clock.now()
        user = self._repo.load_user(user_id)
        if user.merged_into:
            user = self._repo.load_user(user.merged_into)
        if not user.exists:
            raise UserNotFound(f"No user {user_id!r} is known.")
        trail = sorted(
            (record for uid in (user.user_id, *user.aliases) for record in self._repo.audit_trail(uid)),
            key=lambda record: record.at,
            reverse=True,
        )
        return UserReport(
            user,
            entitlements_with_history(user.purchases, user.entitlements, self._catalog, now),
            {p.purchase_id: self._repo.purchase_events(p.purchase_id) for p in user.purchases},
            claims=[r for r in trail if r.action in OWNERSHIP_ACTIONS],
            refusals=[r for r in trail if r.action in (Action.REFUSED, Action.CLAIM_REFUSED)],
            double_billing=double_billing(user.purchases, self._catalog, now),
            refund_threshold=self._threshold,
            catalog=self._catalog,
            now=now,
            flag_history=[r for r in trail if r.action in (Action.FLAGGED, Action.FLAG_CLEARED)],
        )

    # -- shared -------------------------------------------------------------------------------------

    def _canonical(self, user_id: str, loaded: dict[str, UserState]) -> str:
        user = self._repo.load_user(user_id)
        loaded[user_id] = user
        return user.merged_into or user_id

    def _record(self, event_id: str, event_type: str, routing_key: str, body: dict, now: datetime) -> None:
        """The operator action in the event log (idempotent: a merge resumed finds it stored)."""
        raw = json.dumps(body, separators=(",", ":")).encode()
        self._log.append(StoredEvent(ADMIN, event_id, event_type, routing_key, now, raw))

    def _commit(
        self,
        event_id: str,
        purchases: list[PurchaseWrite],
        projection: Projection,
        users,
        audit: list[AuditRecord],
        token_moves: tuple[tuple[str, str], ...] = (),
        completes_event: bool = True,
        extra_details: tuple[dict, ...] = (),
        step: Step | None = None,
        first: tuple[str, ...] = (),
        loaded: dict[str, UserState] | None = None,
    ) -> None:
        """One transaction; the co-owners that do not fit (a purchase shared by many users) are brought
        up to date right after, in batches (`BoundedWriter`)."""
        self._writer.write(
            Commit(
                source=ADMIN,
                event_id=event_id,
                purchases=tuple(purchases),
                users=tuple(users),
                audit=tuple(audit) + projection.audit,
                token_moves=token_moves,
                change_details=projection.change_details((ADMIN, event_id)) + extra_details,
                completes_event=completes_event,
                step=step,
            ),
            self._clock.now(),
            loaded,
            first=first,
        )
