"""Account erasure (`DELETE /v1/users/{userId}`, `DELETE /v1/admin/users/{userId}`, `parity user erase`).

What the contract asks: the user's purchases stay as store records that belong to no one; their profile,
entitlements, links (appAccountToken, Stripe customer) and the personal data of the audit trail and of
the stored event bodies are gone; one audit line without personal data records that an erasure
happened. A later read starts a new, empty account with a new appAccountToken; a store notification
carrying the old token attaches the purchase to no one (its lookup is deleted); Stripe objects that name
the user id literally still name it, so a user id that signs up again gets its running subscriptions.

The account is the one behind the id: a merged id erases the user it was merged into, with every id
merged into that user. Each step is idempotent, so an erasure interrupted half way is finished by
asking again, and erasing twice changes nothing the second time.

Each purchase is released by an event of its own (`erasure:<id>:<purchaseId>`, its replay step the
released purchase as written): a replay rebuilds it, once the bodies are gone, from the steps alone.
Event ids, replay steps and the erasure's own lines name no one beyond the opaque user id they key.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import replace
from datetime import datetime
from typing import TYPE_CHECKING

from ..changes import erased_notice
from ..domain.grants import end_grant, is_grant
from ..domain.ownership import Action, AuditRecord, release
from ..domain.replay import Step
from ..domain.users import UserState
from ..observability import logger, metrics
from ..ports import Commit, PurchaseWrite, StoredEvent
from .bounded import BoundedWriter
from .projection import Projector, retry_on_conflict

if TYPE_CHECKING:
    from ..ports import ChangePublisher, Clock, ErasureRepository

ADMIN = "admin"
ERASED = "(erased user)"  # what other users' audit lines name instead of an erased user
MAX_LINES = 1000  # audit lines and purchase events read per account or purchase
SELF = "user"  # the actor of an erasure the user asked for themselves (their id is not kept)


class Erasure:
    def __init__(self, repository: ErasureRepository, publisher: ChangePublisher, projector: Projector, clock: Clock) -> None:
        self._repo = repository
        self._publisher = publisher
        self._projector = projector
        self._writer = BoundedWriter(repository, projector, publisher)
        self._clock = clock

    def erase(self, user_id: str, actor: str = SELF) -> bool:
        """Erase the account behind `user_id`; False when there was nothing (left) to erase."""
        accounts = self._accounts(user_id)
        ids = [account.user_id for account in accounts]
        trails = {uid: self._repo.audit_trail(uid, MAX_LINES) for uid in ids}
        if not any(a.exists for a in accounts) and all(r.action is Action.ERASED for t in trails.values() for r in t):
            return False
        erasure_id = uuid.uuid4().hex
        events = {(r.source, r.event_id) for trail in trails.values() for r in trail if r.action is not Action.ERASED}
        for account in accounts:
            for copy in account.purchases:
                events |= {(e.source, e.event_id) for e in self._repo.purchase_events(copy.purchase_id, MAX_LINES)}
                self._release(copy.purchase_id, account.user_id, erasure_id)
        others = {other for trail in trails.values() for r in trail for other in r.other_user_ids} - set(ids)
        for other in sorted(others):
            for uid in ids:
                self._repo.replace_audit_mentions(other, uid, ERASED)
        for source, event_id in sorted(events):
            self._repo.erase_event_body(source, event_id)
        for account in accounts:
            tokens = [account.app_account_token] if account.app_account_token else []
            customers = sorted({p.customer_ref for p in account.purchases if p.customer_ref})
            self._repo.erase_account(account.user_id, tokens, customers, ids)
        self._record_erasure(accounts[0].user_id, ids, erasure_id, actor)
        metrics.add_metric(name="AccountsErased", unit="Count", value=1)
        logger.info("account erased", extra={"erasure_id": erasure_id, "purchases": sum(len(a.purchases) for a in accounts)})
        return True

    def _accounts(self, user_id: str) -> list[UserState]:
        """The account behind `user_id` first (the user it was merged into), then every id merged into it."""
        first = self._repo.load_user(user_id)
        target = self._repo.load_user(first.merged_into) if first.merged_into else first
        accounts = {target.user_id: target, first.user_id: first}
        for alias in target.aliases:
            accounts.setdefault(alias, self._repo.load_user(alias))
        return list(accounts.values())

    def _release(self, purchase_id: str, user_id: str, erasure_id: str) -> None:
        """The purchase no longer held by (nor linked to) the user, by an event of its own; a manual
        grant ends with the account. The other owners' copies are brought up to date."""
        event_id = f"erasure:{erasure_id}:{purchase_id}"
        cause = (ADMIN, event_id)

        def attempt(number: int) -> None:
            now = self._clock.now()
            current = self._repo.get_purchase(purchase_id)
            if current is None or user_id not in (*current.owner_ids, *current.pending_users, current.linked_user):
                return  # only the user's copy is left: erasing the partition deletes it
            released = release(current, user_id)
            released = replace(end_grant(released, now) if is_grant(released) else released, version=current.version + 1)
            body = json.dumps({"action": "release", "purchaseId": purchase_id}).encode()
            self._repo.append(StoredEvent(ADMIN, event_id, "purchase.released", purchase_id, now, body))
            loaded: dict[str, UserState] = {}
            projection = self._projector.project([(current, released)], now, cause, loaded)
            self._writer.write(
                Commit(
                    source=ADMIN,
                    event_id=event_id,
                    purchases=(PurchaseWrite(released, current.version),),
                    users=tuple(w for w in projection.users if w.user_id != user_id),
                    audit=tuple(r for r in projection.audit if r.user_id != user_id),
                    change_details=tuple(d for d in projection.change_details(cause) if d.get("userId") != user_id),
                    step=Step(purchase_id, released.version, put=released),
                ),
                now,
                loaded,
            )

        retry_on_conflict(attempt)

    def _record_erasure(self, user_id: str, ids: list[str], erasure_id: str, actor: str) -> None:
        """One audit line per erased id, with nothing but the time, the actor and the erasure's id,
        and the `user.erased` notice for the app's backend."""
        now: datetime = self._clock.now()
        event_id = f"erasure:{erasure_id}"
        self._repo.append(StoredEvent(ADMIN, event_id, "user.erased", "erasure", now, b'{"action":"erase"}'))
        lines = tuple(AuditRecord(uid, Action.ERASED, now, ADMIN, event_id, actor=actor) for uid in ids)
        notice = erased_notice(user_id, (ADMIN, event_id))
        self._repo.commit(Commit(source=ADMIN, event_id=event_id, audit=lines, change_details=(notice,)))
        self._publisher.publish([notice])
