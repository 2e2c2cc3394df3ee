"""Support actions of operators: manual grants (promotions, App Review demo accounts, goodwill), their
revocation, and clearing a refund-abuse review flag.

Each action is stored in the event log (source `admin`) like a store event, audited with its actor and
reason, and written through the same conditional commits and user projection as every other change:
a grant's entitlements are published as `entitlement.changed` like any other.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import replace
from datetime import datetime
from typing import TYPE_CHECKING

from ..domain.catalog import Catalog
from ..domain.errors import GrantNotFound, InvalidInput, UnknownEntitlement, UserNotFound
from ..domain.grants import end_grant, is_grant, manual_grant
from ..domain.model import Purchase, State
from ..domain.ownership import Action, AuditRecord
from ..domain.replay import Step
from ..domain.timeutil import rfc3339
from ..domain.users import UserState
from ..observability import logger, metrics
from ..ports import Commit, PurchaseWrite, StoredEvent, UserWrite
from .bounded import BoundedWriter
from .projection import Projector, retry_on_conflict

if TYPE_CHECKING:
    from ..ports import ChangePublisher, Clock, EventLog, Repository

ADMIN = "admin"


class Support:
    def __init__(
        self,
        repository: Repository,
        event_log: EventLog,
        publisher: ChangePublisher,
        projector: Projector,
        catalog: Catalog,
        clock: Clock,
    ) -> None:
        self._repo = repository
        self._log = event_log
        self._projector = projector
        self._writer = BoundedWriter(repository, projector, publisher)
        self._catalog = catalog
        self._clock = clock

    @property
    def catalog(self) -> Catalog:
        return self._catalog

    # -- manual grants ------------------------------------------------------------------------------

    def grant(
        self, user_id: str, entitlement: str, expires_at: datetime | None, actor: str, reason: str | None = None
    ) -> Purchase:
        """Grant `entitlement` to the user until `expires_at` (None: until revoked): a new purchase
        `manual:<id>` they hold as a manual association. Raises UnknownEntitlement for an entitlement no
        catalog product grants, InvalidInput for an end already past."""
        if entitlement not in self._catalog.entitlement_ids:
            raise UnknownEntitlement(f"No product of the catalog grants {entitlement!r}.")
        now = self._clock.now()
        if expires_at is not None and expires_at <= now:
            raise InvalidInput("expiresAt is not in the future.", "invalid_request")
        grant_id = uuid.uuid4().hex
        event_id = f"grant:{grant_id}"
        until = rfc3339(expires_at) or "revoked"
        body = {"action": "grant", "userId": user_id, "entitlement": entitlement, "expiresAt": rfc3339(expires_at)}
        self._record(event_id, "grant.created", f"manual:{grant_id}", {**body, "actor": actor, "reason": reason}, now)

        def attempt(number: int) -> Purchase:
            loaded: dict[str, UserState] = {}
            owner = self._canonical(user_id, loaded)
            purchase = replace(manual_grant(grant_id, entitlement, owner, expires_at, now), version=1)
            cause = (ADMIN, event_id)
            projection = self._projector.project([(None, purchase)], now, cause, loaded)
            detail = f"{entitlement} until {until}" + (f": {reason}" if reason else "")
            line = AuditRecord(owner, Action.GRANTED, now, ADMIN, event_id, purchase.purchase_id, actor=actor, detail=detail)
            self._writer.write(
                Commit(
                    source=ADMIN,
                    event_id=event_id,
                    purchases=(PurchaseWrite(purchase, 0),),
                    users=projection.users,
                    audit=(line, *projection.audit),
                    change_details=projection.change_details(cause),
                    step=Step(purchase.purchase_id, purchase.version, put=purchase),
                ),
                now,
                loaded,
                first=(owner,),
            )
            return purchase

        granted = retry_on_conflict(attempt)
        metrics.add_metric(name="ManualGrants", unit="Count", value=1)
        logger.info("manual grant", extra={"purchase_id": granted.purchase_id, "entitlement": entitlement, "actor": actor})
        return granted

    def revoke(self, user_id: str, purchase_id: str, actor: str, reason: str | None = None) -> Purchase:
        """End a manual grant the user holds (`revoked` from now on); revoking it again changes nothing.
        Raises GrantNotFound when the user holds no grant of that id."""

        def attempt(number: int) -> Purchase:
            now = self._clock.now()
            current = self._repo.get_purchase(purchase_id)
            loaded: dict[str, UserState] = {}
            owner = self._canonical(user_id, loaded)
            if current is None or not is_grant(current) or owner not in current.owner_ids:
                raise GrantNotFound(f"{user_id!r} holds no manual grant {purchase_id!r}.")
            if current.store_state is State.REVOKED:
                return current
            event_id = f"revoke:{current.store_key}"
            body = {"action": "revoke", "userId": user_id, "purchaseId": purchase_id, "actor": actor, "reason": reason}
            self._record(event_id, "grant.revoked", purchase_id, body, now)
            ended = replace(end_grant(current, now), version=current.version + 1)
            cause = (ADMIN, event_id)
            projection = self._projector.project([(current, ended)], now, cause, loaded)
            line = AuditRecord(owner, Action.GRANT_REVOKED, now, ADMIN, event_id, purchase_id, actor=actor, detail=reason)
            self._writer.write(
                Commit(
                    source=ADMIN,
                    event_id=event_id,
                    purchases=(PurchaseWrite(ended, current.version),),
                    users=projection.users,
                    audit=(line, *projection.audit),
                    change_details=projection.change_details(cause),
                    step=Step(purchase_id, ended.version, put=ended),
                ),
                now,
                loaded,
                first=(owner,),
            )
            logger.info("manual grant revoked", extra={"purchase_id": purchase_id, "actor": actor})
            return ended

        return retry_on_conflict(attempt)

    # -- refund-abuse flag --------------------------------------------------------------------------

    def clear_flag(self, user_id: str, actor: str, reason: str | None = None) -> UserState:
        """Clear the user's refund-abuse review flag (their refunds stay counted: a further refund
        flags them again). Clearing a flag that is not set changes nothing."""

        event_id = f"flag-cleared:{uuid.uuid4().hex}"

        def attempt(number: int) -> UserState:
            now = self._clock.now()
            user = self._repo.load_user(user_id)
            if user.merged_into:
                user = self._repo.load_user(user.merged_into)
            if not user.exists:
                raise UserNotFound(f"No user {user_id!r} is known.")
            if user.flagged_at is None:
                return user
            body = {"action": "clear_flag", "userId": user.user_id, "actor": actor, "reason": reason}
            self._record(event_id, "user.flag_cleared", user.user_id, body, now)
            line = AuditRecord(user.user_id, Action.FLAG_CLEARED, now, ADMIN, event_id, actor=actor, detail=reason)
            write = UserWrite(user.user_id, user.version, flag_cleared=True)
            self._repo.commit(Commit(source=ADMIN, event_id=event_id, users=(write,), audit=(line,)))
            logger.info("review flag cleared", extra={"user_id": user.user_id, "actor": actor})
            return replace(user, flagged_at=None, version=user.version + 1)

        return retry_on_conflict(attempt)

    # -- shared -------------------------------------------------------------------------------------

    def _canonical(self, user_id: str, loaded: dict[str, UserState]) -> str:
        user = self._repo.load_user(user_id)
        loaded[user_id] = user
        return user.merged_into or user_id

    def _record(self, event_id: str, event_type: str, routing_key: str, body: dict, now: datetime) -> None:
        """The operator action in the event log (idempotent: a retried action finds it stored)."""
        raw = json.dumps(body, separators=(",", ":")).encode()
        self._log.append(StoredEvent(ADMIN, event_id, event_type, routing_key, now, raw))
