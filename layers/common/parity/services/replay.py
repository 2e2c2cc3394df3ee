"""Replay: rebuild state from the event log and compare it with what is stored (`parity replay`).

Each purchase is folded again from the steps its events recorded (`domain.replay`), and each user's
entitlements are computed again from the rebuilt purchases with the catalog in force; the differences
from the stored purchases and projections are the result. `apply` writes the rebuilt state through the
same conditional commit and user projection as every other writer, publishes what changed for the
users, and records the replay in the event log (source `admin`, type `state.replayed`).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import TYPE_CHECKING, Any

from ..changes import change_detail
from ..domain.catalog import Catalog
from ..domain.entitlements import EntitlementChange, diff_entitlements, entitlements_with_history
from ..domain.model import Purchase
from ..domain.replay import differences, rebuild
from ..domain.users import UserState
from ..ports import Commit, PurchaseWrite, ReplayInput, StoredEvent
from .admin import ADMIN
from .bounded import BoundedWriter
from .projection import Projector

if TYPE_CHECKING:
    from ..ports import ChangePublisher, Clock, ReplayRepository


@dataclass(frozen=True)
class PurchaseDifference:
    purchase_id: str
    stored: Purchase | None
    rebuilt: Purchase  # a purchase no event wrote is not rebuilt, so never differs
    fields: Mapping[str, tuple[Any, Any]]  # field → (stored, rebuilt)


@dataclass(frozen=True)
class Replay:
    """A replay's findings (nothing written yet)."""

    purchases: int  # purchases rebuilt and compared
    steps: int  # steps folded
    users: int  # users compared
    differing: tuple[PurchaseDifference, ...] = ()
    entitlements: Mapping[str, tuple[EntitlementChange, ...]] = field(default_factory=dict)  # user → changes
    unreplayable: Mapping[str, int] = field(default_factory=dict)  # purchase → events without a step
    rebuilt: Mapping[str, Purchase] = field(default_factory=dict)

    @property
    def consistent(self) -> bool:
        return not self.differing and not self.entitlements


class Replayer:
    def __init__(
        self, repository: ReplayRepository, catalog: Catalog, clock: Clock, publisher: ChangePublisher | None = None
    ) -> None:
        self._repo = repository
        self._catalog = catalog
        self._clock = clock
        self._projector = Projector(repository, catalog)
        self._writer = BoundedWriter(repository, self._projector, publisher)

    # -- reading ------------------------------------------------------------------------------------

    def user(self, user_id: str) -> Replay:
        """Rebuild the purchases a user holds or held (their audit trail says which), and the user's
        entitlements: a handful of Queries, no table scan."""
        user = self._repo.load_user(user_id)
        if user.merged_into:
            user = self._repo.load_user(user.merged_into)
        ids = {p.purchase_id for p in user.purchases}
        for uid in (user.user_id, *user.aliases):
            ids |= {r.purchase_id for r in self._repo.audit_trail(uid, limit=1000) if r.purchase_id}
        stored = self._repo.get_purchases(sorted(ids))
        steps, unrecorded = {}, {}
        for purchase_id in sorted(ids):
            steps[purchase_id], count = self._repo.replay_steps(purchase_id)
            if count:
                unrecorded[purchase_id] = count
        owners = {o for s in steps.values() for step in s for o in (step.claimant, step.customer_owner, step.assigned_owner) if o}
        users = {user.user_id: user}
        for owner in sorted(owners - {user.user_id}):
            users[owner] = self._repo.load_user(owner)
        return self._compare(ReplayInput(steps, unrecorded, stored, users), compare_users=[user.user_id])

    def everything(self, progress: Callable[[int], None] | None = None) -> Replay:
        """Rebuild every purchase and every user (one paged Scan of the table)."""
        found = self._repo.replay_input(progress)
        return self._compare(found, compare_users=sorted(found.users))

    def _compare(self, found: ReplayInput, compare_users: list[str]) -> Replay:
        now = self._clock.now()
        aliases = {uid: u.merged_into for uid, u in found.users.items() if u.merged_into}
        rebuilt: dict[str, Purchase] = {}
        differing = []
        for purchase_id in sorted(found.steps.keys() | found.purchases.keys()):
            if found.unrecorded.get(purchase_id):
                continue  # some of its history was never recorded as steps: not rebuilt, reported
            purchase = rebuild(found.steps.get(purchase_id, ()), aliases)
            stored = found.purchases.get(purchase_id)
            if purchase is None:
                continue  # no event wrote it (nothing to rebuild from)
            rebuilt[purchase_id] = purchase
            fields = differences(stored, purchase)
            if fields:
                differing.append(PurchaseDifference(purchase_id, stored, purchase, fields))
        entitlements = {}
        for user_id in compare_users:
            user = found.users.get(user_id)
            if user is None or user.merged_into:
                continue
            changes = self._user_changes(user, rebuilt, now)
            if changes:
                entitlements[user_id] = tuple(changes)
        return Replay(
            purchases=len(rebuilt),
            steps=sum(len(s) for s in found.steps.values()),
            users=len(compare_users),
            differing=tuple(differing),
            entitlements=entitlements,
            unreplayable=dict(found.unrecorded),
            rebuilt=rebuilt,
        )

    def _user_changes(self, user: UserState, rebuilt: Mapping[str, Purchase], now: datetime) -> list[EntitlementChange]:
        """The user's entitlements as stored (judged now) against those the rebuilt purchases give."""
        held = {p.purchase_id: p for p in user.purchases}  # purchases not rebuilt stand as stored
        for purchase_id, purchase in rebuilt.items():
            if user.user_id in purchase.owner_ids:
                held[purchase_id] = purchase
            else:
                held.pop(purchase_id, None)
        stored = {eid: e.at(now) for eid, e in user.entitlements.items()}
        return diff_entitlements(user.user_id, stored, entitlements_with_history(held.values(), stored, self._catalog, now))

    # -- writing ------------------------------------------------------------------------------------

    def apply(self, replay: Replay, actor: str = "parity replay") -> int:
        """Write the rebuilt state where it differs: each differing purchase (with its users' copies and
        projections), then each user whose projection alone differs. Conditional on the versions read:
        a purchase written meanwhile fails its commit (run the replay again). Returns the commits made."""
        run = uuid.uuid4().hex[:8]
        commits = 0
        fixed_users: set[str] = set()
        for difference in replay.differing:
            stored, purchase = difference.stored, difference.rebuilt
            expected = stored.version if stored else 0
            # Users still pending on the stored purchase are brought up to date with it (their own copy is
            # what they last saw).
            pending = stored.pending_users if stored else ()
            purchase = replace(
                purchase, version=expected + 1, checked_at=stored.checked_at if stored else None, pending_users=pending
            )
            event_id = f"replay:{run}:{difference.purchase_id}"
            fixed_users |= {*purchase.owner_ids, *(stored.owner_ids if stored else ())}
            # The stored owners are told, but a refund written back was counted when it happened:
            # as the projection sees it, the purchase had its revocations already.
            before = replace(purchase, owner_ids=stored.owner_ids if stored else ())
            self._write(event_id, difference.purchase_id, [(before, purchase)], [PurchaseWrite(purchase, expected)], actor, difference.fields)
            commits += 1
        for user_id in sorted(set(replay.entitlements) - fixed_users):
            user = self._repo.load_user(user_id)
            held = [replay.rebuilt.get(p.purchase_id, p) for p in user.purchases]
            self._write(f"replay:{run}:user:{user_id}", f"user:{user_id}", [(p, p) for p in held], [], actor, {"entitlements": True})
            commits += 1
        return commits

    def _write(self, event_id: str, subject: str, moves, purchases: list[PurchaseWrite], actor: str, fields) -> None:
        now = self._clock.now()
        body = json.dumps({"action": "replay", "subject": subject, "actor": actor, "fields": sorted(fields)}).encode()
        self._repo.append(StoredEvent(ADMIN, event_id, "state.replayed", subject, now, body))
        loaded: dict = {}
        projection = self._projector.project(moves, now, (ADMIN, event_id), loaded, against_stored=True)
        details = tuple(change_detail(c, cause=f"{ADMIN}:{event_id}") for c in projection.changes)
        self._writer.write(
            Commit(
                source=ADMIN,
                event_id=event_id,
                purchases=tuple(purchases),
                users=projection.users,
                audit=projection.audit,
                change_details=details,
            ),
            now,
            loaded,
        )
