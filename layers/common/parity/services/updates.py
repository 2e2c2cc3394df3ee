"""Applying one normalized purchase update: the write path every store event, receipt and check shares.

Read the purchase, apply the ordering rule, decide ownership (the strategy), recompute each affected
user's entitlements, write it all in one conditional transaction (`BoundedWriter`), then publish what
changed. A conflicting writer makes it read again and retry.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime
from typing import TYPE_CHECKING, NamedTuple

from ..changes import purchase_completed
from ..domain import limits
from ..domain.entitlements import EntitlementChange
from ..domain.errors import DuplicateEventError, MalformedEventError, StaleEventError
from ..domain.model import Purchase, PurchaseUpdate, State
from ..domain.ownership import Action, AuditRecord, Refusal, Strategy, claim_records
from ..domain.purchases import apply_update
from ..domain.replay import Step, settle_owners
from ..domain.users import UserState
from ..observability import logger, metrics
from ..ports import Commit, PurchaseRead, PurchaseWrite
from ..settings import DEFAULT_MAX_SHARED_OWNERS
from .bounded import BoundedWriter
from .projection import Projector, retry_on_conflict

if TYPE_CHECKING:
    from ..ports import ChangePublisher, Clock, EventLog, Repository


class Outcome(NamedTuple):
    status: str  # applied | stale | duplicate | ignored | customer_linked | unresolved | rejected
    purchase_id: str | None = None
    changes: tuple[EntitlementChange, ...] = ()
    claim_refused: bool = False  # the update's claimant was refused by the strategy or a manual owner
    refusal: Refusal | None = None  # why the claim was refused
    purchase: Purchase | None = None  # the purchase as written (applied), at its new version


class Claim(NamedTuple):
    """Who owns a purchase after an update, and the audit lines that say how it was decided."""

    purchase: Purchase  # with its owners settled
    claimant: str | None
    customer_owner: str | None  # nobody claimed: the user the store customer is linked to owns it
    linked: str | None  # the user verified store data links the purchase to
    audit: tuple[AuditRecord, ...] = ()
    refused: bool = False
    refusal: Refusal | None = None  # why it was refused, when known


class UpdateApplier:
    """The one write path of purchase updates, whoever read them (store events, receipts, checks)."""

    def __init__(
        self,
        repository: Repository,
        event_log: EventLog,
        publisher: ChangePublisher,
        projector: Projector,
        strategy: Strategy,
        clock: Clock,
        max_shared_owners: int | None = DEFAULT_MAX_SHARED_OWNERS,
    ) -> None:
        """`max_shared_owners`: under ALL, the most users one purchase is shared with (None: no bound)."""
        self._repo = repository
        self._log = event_log
        self._publisher = publisher
        self._projector = projector
        self._writer = BoundedWriter(repository, projector, publisher)
        self._strategy = strategy
        self._clock = clock
        self._max_owners = max_shared_owners if strategy is Strategy.ALL else None

    def apply(self, update: PurchaseUpdate, source: str, owner_hint: str | None = None) -> Outcome:
        """Apply one normalized update; retried on optimistic-lock conflicts with fresh reads.

        `owner_hint`: a user believed to own the purchase; their partition holds a copy of it, so one
        Query reads both (the canonical item's version condition catches a stale belief). An update
        with an id beyond the input limits raises MalformedEventError before anything is read.
        """
        problem = limits.update_problem(update)
        if problem:
            raise MalformedEventError(problem)
        return retry_on_conflict(lambda attempt: self._apply_once(update, source, owner_hint if attempt == 1 else None))

    def finish_without_change(self, source: str, event_id: str, status: str, purchase_id: str | None = None) -> Outcome:
        """Record the event as processed with nothing to write (`status`: ignored, stale, ...); an event
        processed before is a duplicate, whose recorded changes are published again (that attempt may
        have died before publishing)."""
        if not self._log.mark_processed(source, event_id, status, purchase_id):
            status = "duplicate"
            recorded = self._log.recorded_changes(source, event_id)
            if recorded:
                self._publisher.publish(recorded)
        metrics.add_metric(name=f"Events{status.title()}", unit="Count", value=1)
        return Outcome(status, purchase_id)

    def complete_pending(self, purchase: Purchase | str, source: str, event_id: str) -> tuple[Mapping, ...]:
        """Write the users' projections a purchase still has pending (see `services.bounded`), for the
        drift scan; returns the change events published."""
        return self._writer.complete(purchase, self._clock.now(), (source, event_id))

    def sweep(self, purchase: Purchase, source: str, event_id: str) -> Outcome:
        """Bring the owners' entitlements of a purchase no store can be asked about up to date with
        time: access past its end is never granted (the read rule), and this writes and publishes it."""

        def once(attempt: int) -> Outcome:
            current = purchase if attempt == 1 else (self._repo.get_purchase(purchase.purchase_id) or purchase)
            now, loaded = self._clock.now(), dict[str, UserState]()
            projection = self._projector.project([(current, current)], now, (source, event_id), loaded, against_stored=True)
            if not projection.changes and not projection.notices and not current.pending_users:
                return Outcome("unchanged", current.purchase_id)
            details = projection.change_details((source, event_id))
            try:
                self._writer.write(
                    Commit(source, event_id, users=projection.users, change_details=details), now, loaded, anchor=current
                )
            except DuplicateEventError as duplicate:
                if duplicate.recorded_changes:
                    self._publisher.publish(duplicate.recorded_changes)
                return Outcome("duplicate", current.purchase_id)
            return Outcome("applied", current.purchase_id, projection.changes)

        return retry_on_conflict(once)

    # -- one attempt --------------------------------------------------------------------------------

    def _apply_once(self, update: PurchaseUpdate, source: str, owner_hint: str | None) -> Outcome:
        now = self._clock.now()
        read, loaded = self._read_completed(update, owner_hint, now, source)
        current = read.purchase
        try:
            purchase = apply_update(current, update)
        except StaleEventError:
            if current is None or not update.payment_refs:
                return self.finish_without_change(source, update.event_id, "stale", update.purchase_id)
            purchase = current  # nothing new about the purchase, but its payments are worth recording
        claim = self._claim(update, read, purchase, loaded, now, source)
        if current is not None and claim.purchase == current and not update.payment_refs and not claim.audit:
            return self.finish_without_change(source, update.event_id, "stale", update.purchase_id)
        if claim.refused and current is not None and claim.purchase == current:
            return self._refuse(update, current, source, claim)
        return self._write(update, source, current, claim, loaded, now)

    def _read_completed(
        self, update: PurchaseUpdate, owner_hint: str | None, now: datetime, source: str
    ) -> tuple[PurchaseRead, dict[str, UserState]]:
        """`_read`, after completing the users' projections an earlier write left pending (this event
        again, or a later one that read a copy of it), from the canonical purchase."""
        read, loaded = self._read(update, owner_hint)
        if read.purchase is not None and read.purchase.pending_users:
            self._writer.complete(read.purchase.purchase_id, now, (source, update.event_id))
            read, loaded = self._read(update, None)
        return read, loaded

    def _read(self, update: PurchaseUpdate, owner_hint: str | None) -> tuple[PurchaseRead, dict[str, UserState]]:
        """The stored purchase with the users its links name (asked only when they may matter), and the
        users already loaded on the way."""
        if owner_hint and update.claimant in (None, owner_hint):
            owner = self._repo.load_user(owner_hint)
            copy = next((p for p in owner.purchases if p.purchase_id == update.purchase_id), None)
            if copy is not None:
                return PurchaseRead(copy), {owner_hint: owner}
        # Another user's claim: the links the store data carries are read with the purchase, to judge it.
        return self._repo.read_purchase(update.purchase_id, update.customer_ref, update.app_account_token), {}

    def _canonical(self, user_id: str, loaded: dict[str, UserState]) -> str:
        """The user behind `user_id`: itself, or the user it was merged into (a link to a merged id
        lands on the merged user). The user read here is reused by the projection."""
        user = loaded.get(user_id) or self._repo.load_user(user_id)
        loaded[user_id] = user
        return user.merged_into or user_id

    def _parties(
        self, update: PurchaseUpdate, read: PurchaseRead, purchase: Purchase, loaded: dict[str, UserState]
    ) -> tuple[str | None, str | None]:
        """The claimant, and the user verified store data links the purchase to (merged ids followed).

        Store data names a user literally (Stripe), by a token Parity issued (appAccountToken,
        obfuscatedExternalAccountId) or by its customer's link. With no claim from a caller, the user it
        names is the claimant. A link stored earlier is resolved again only when someone else claims.
        """

        def resolve(user_id: str) -> str:
            return user_id if user_id in purchase.owner_ids else self._canonical(user_id, loaded)

        named = update.linked_user or read.token_user
        claimant = update.claimant or named
        claimant = resolve(claimant) if claimant else None
        linked = named or read.customer_user
        if linked is None and purchase.linked_user and claimant and claimant != purchase.linked_user:
            linked = purchase.linked_user  # an earlier link, perhaps to a user merged since
        return claimant, resolve(linked) if linked else None

    def _claim(
        self,
        update: PurchaseUpdate,
        read: PurchaseRead,
        purchase: Purchase,
        loaded: dict[str, UserState],
        now: datetime,
        source: str,
    ) -> Claim:
        """The purchase's owners after the update: its claim judged by the strategy, or, when nobody
        claims an unowned purchase, the user its store customer is linked to."""
        claimant, linked = self._parties(update, read, purchase, loaded)
        customer_owner = None
        if not claimant and not purchase.owner_ids and read.customer_user:
            customer_owner = self._canonical(read.customer_user, loaded)  # no claim yet: the customer's user owns it
        settled, decision = settle_owners(
            purchase, claimant, customer_owner, self._strategy, linked, update.id_only_claim, self._max_owners
        )
        claim = Claim(settled, claimant, customer_owner, linked)
        if decision is None or not claimant:  # a decision is made for a claimant only
            if not customer_owner:
                return claim
            line = AuditRecord(customer_owner, Action.CLAIMED, now, source, update.event_id, purchase.purchase_id, detail="customer link")
            return claim._replace(audit=(line,))
        if decision.refused:
            logger.warning("claim refused", extra={"purchase_id": purchase.purchase_id, "strategy": self._strategy.value})
            metrics.add_metric(name="ClaimsRefused", unit="Count", value=1)
        elif decision.action is Action.TOOK_OVER:
            metrics.add_metric(name="ClaimsTransferred", unit="Count", value=1)
        audit = claim_records(
            purchase.owner_ids, decision.owner_ids, claimant, decision, purchase.purchase_id, now,
            source, update.event_id, self._strategy,
        )  # fmt: skip
        refusal = decision.refusal if decision.refused else None
        return claim._replace(audit=audit, refused=decision.refused, refusal=refusal)

    def _write(
        self,
        update: PurchaseUpdate,
        source: str,
        current: Purchase | None,
        claim: Claim,
        loaded: dict[str, UserState],
        now: datetime,
    ) -> Outcome:
        """The purchase at its next version, its users' projections and the claim's audit lines, in one
        commit (conditional on the version read), then published."""
        expected = current.version if current else 0
        credited = self._credit(claim.purchase, update)
        purchase = replace(claim.purchase, version=expected + 1, credited_to=credited or claim.purchase.credited_to)
        step = Step(
            purchase.purchase_id, purchase.version, update, claim.claimant, claim.customer_owner, self._strategy,
            claim.linked, max_owners=self._max_owners, credited_to=credited,
        )  # fmt: skip
        projection = self._projector.project([(current, purchase)], now, (source, update.event_id), loaded)
        details = projection.change_details((source, update.event_id))
        if credited and update.delivery is not None:
            details += (purchase_completed(purchase, credited, update.delivery, (source, update.event_id)),)
            metrics.add_metric(name="ConsumablesCompleted", unit="Count", value=1)
        try:
            written = self._writer.commit(
                Commit(
                    source=source,
                    event_id=update.event_id,
                    purchases=(PurchaseWrite(purchase, expected),),
                    users=projection.users,
                    payment_refs=update.payment_refs,
                    audit=claim.audit + projection.audit,
                    change_details=details,
                    outcome="claim_refused" if claim.refused else "applied",
                    step=step,
                ),
                first=(claim.claimant, claim.customer_owner, *purchase.owner_ids[:1]),
            )
        except DuplicateEventError as duplicate:
            # Processed before; if that attempt died before publishing, its changes go out now.
            metrics.add_metric(name="EventsDuplicate", unit="Count", value=1)
            if duplicate.recorded_changes:
                self._publisher.publish(duplicate.recorded_changes)
            return Outcome("duplicate", purchase.purchase_id)
        metrics.add_metric(name="EventsApplied", unit="Count", value=1)
        self._writer.finish(written, now, loaded)
        stored = None if written.pending else written.commit.purchases[0].purchase  # as written: no batch after
        return Outcome("applied", purchase.purchase_id, projection.changes, claim.refused, claim.refusal, stored)

    def _credit(self, purchase: Purchase, update: PurchaseUpdate) -> str | None:
        """The user a consumable delivered by this update is credited to (`purchase.completed`), once per
        purchase: its owner, the first time it is delivered, owned and not revoked; else None."""
        if update.delivery is None or purchase.credited_to is not None or not purchase.owner_ids:
            return None
        if purchase.state in (State.PENDING, State.REVOKED) or not self._projector.catalog.is_consumable(purchase):
            return None
        return purchase.owner_ids[0]

    def _refuse(self, update: PurchaseUpdate, current: Purchase, source: str, claim: Claim) -> Outcome:
        """A refused claim that changes nothing else: the event and its audit lines (and the payments it
        names) are all it writes; the purchase and its owners' projections stay as they are (a refusal
        costs a few items, not a write per owner). Outcome `refused`: nothing for a replay to fold."""
        try:
            self._repo.commit(
                Commit(
                    source=source,
                    event_id=update.event_id,
                    payment_refs=tuple(replace(ref, owner_ids=current.owner_ids) for ref in update.payment_refs),
                    audit=claim.audit,
                    outcome="refused",
                    purchase_id=update.purchase_id,
                )
            )
        except DuplicateEventError:
            metrics.add_metric(name="EventsDuplicate", unit="Count", value=1)
            return Outcome("duplicate", update.purchase_id)
        return Outcome("refused", update.purchase_id, claim_refused=True, refusal=claim.refusal)
