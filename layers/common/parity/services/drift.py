"""The drift scan: the third layer of sync, after webhooks and receipts.

`DriftScan` (nightly, EventBridge schedule) selects the purchases due for a check from the due index
(no table scan) and fans them out over the reconcile queue, ten per message batch. `Reconciler` (the
queue's worker) asks each purchase's store for its truth and applies it through the processor, the
same path as webhooks, so ordering and idempotency hold; a purchase no store can be asked about is
swept (access past its end is written and published as ended). The scan's report counts what was
found and repaired, by kind of drift, with a few examples.
"""

from __future__ import annotations

import json
import uuid
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from ..domain import apple, google
from ..domain.drift import REPAIRABLE, DriftKind, drift_between
from ..domain.errors import StoreApiError
from ..domain.model import Purchase, PurchaseUpdate, Store
from ..domain.stripe import subscription_snapshot
from ..domain.timeutil import rfc3339
from ..observability import logger, metrics
from ..ports import StoredEvent
from .processing import EventProcessor
from .stripe_catchup import StripePaymentsCatchUp
from .updates import Outcome

if TYPE_CHECKING:
    from ..ports import AppStoreApi, BatchQueue, Clock, DriftRepository, DriftStore, EventLog, PlayApi, StripeApi

RECONCILE = "reconcile"  # the event log source of what a check fetched, and of sweeps
PURCHASE, PLAY_VOIDED, STRIPE_PAYMENTS = "purchase", "play_voided", "stripe_payments"  # reconcile message kinds
CATCH_UPS = {PLAY_VOIDED: "play_store", STRIPE_PAYMENTS: "stripe"}  # the store each catch-up asks
VOIDED_CURSOR = "play_voided"
VOIDED_WINDOW = timedelta(days=30)  # how far back Google lists voided purchases
VOIDED_OVERLAP = timedelta(hours=1)  # re-read across runs: Google lists voids with some delay
EXAMPLES_PER_BATCH = 3
NOT_ASKED = "not_asked_"  # report counts `not_asked_<store>`: checks swept because that store has no API here


def check_message(purchase_id: str, report_id: str) -> str:
    """The reconcile queue's body asking for one purchase's check under a scan report."""
    return json.dumps({"kind": PURCHASE, "purchaseId": purchase_id, "reportId": report_id})


def report_id_for(now: datetime) -> str:
    """Report ids sort by time (`20261122T030000Z-1a2b3c`)."""
    return f"{now:%Y%m%dT%H%M%SZ}-{uuid.uuid4().hex[:6]}"


class DriftScan:
    """Selects what may have drifted and queues it; the report is completed by the workers."""

    def __init__(
        self, repository: DriftStore, queue: BatchQueue, clock: Clock, requeue_parked: Callable[[], int] | None = None
    ) -> None:
        self._repo = repository
        self._queue = queue
        self._clock = clock
        self._requeue_parked = requeue_parked  # EventIntake.requeue_parked: unresolved events, again

    def run(self, progress=None) -> dict[str, Any]:
        """Queue every purchase due by now (and the Play voided-purchases catch-up); returns the new
        report's id and how many purchases were selected. `progress(n)` is called as they are queued."""
        now = self._clock.now()
        report_id = report_id_for(now)
        self._repo.save_report(report_id, {"reportId": report_id, "startedAt": rfc3339(now), "status": "selecting", "counts": {}})
        selected, batch = 0, [json.dumps({"kind": kind, "reportId": report_id}) for kind in CATCH_UPS]
        for purchase_id in self._repo.due_purchases(now):
            batch.append(check_message(purchase_id, report_id))
            selected += 1
            if len(batch) == 10:  # SendMessageBatch takes ten
                self._queue.send_batch(batch)
                batch = []
                if progress:
                    progress(selected)
        if batch:
            self._queue.send_batch(batch)
        requeued = self._requeue_parked() if self._requeue_parked else 0
        self._repo.save_report(
            report_id,
            {"selected": selected, "unresolvedRequeued": requeued, "status": QUEUED, "queuedAt": rfc3339(self._clock.now())},
        )
        complete_if_done(self._repo, report_id, self._clock.now())
        metrics.add_metric(name="DriftScanSelected", unit="Count", value=selected)
        logger.info("drift scan queued", extra={"report_id": report_id, "selected": selected, "unresolved_requeued": requeued})
        return {"reportId": report_id, "selected": selected, "unresolvedRequeued": requeued}


@dataclass(frozen=True)
class Check:
    """What checking one purchase (or the voided catch-up) found."""

    subject: str  # a purchase id, or "play_voided"
    status: str  # checked | swept | unknown | missing | not_configured | caught_up (the Stripe catch-up)
    kinds: frozenset[DriftKind] = frozenset()
    repaired: bool = False
    changes: int = 0  # entitlement changes published
    detail: Mapping[str, Any] = field(default_factory=dict)


class Reconciler:
    def __init__(
        self,
        repository: DriftRepository,
        event_log: EventLog,
        processor: EventProcessor,
        clock: Clock,
        app_store: AppStoreApi | None = None,
        play: PlayApi | None = None,
        play_package: str | Sequence[str] | None = None,
        stripe: StripeApi | None = None,
    ) -> None:
        self._repo = repository
        self._log = event_log
        self._processor = processor
        self._clock = clock
        self._app_store = app_store
        self._play = play
        # The apps' package names (GOOGLE_PACKAGE_NAME), the first for purchases stored without one.
        self._play_packages = (play_package,) if isinstance(play_package, str) else tuple(play_package or ())
        self._stripe = stripe

    def handle(self, message: Mapping[str, Any]) -> Check:
        """One reconcile message. A store outage raises (SQS retries, then the DLQ)."""
        if message.get("kind") == PLAY_VOIDED:
            return self.catch_up_voided(message["reportId"])
        if message.get("kind") == STRIPE_PAYMENTS:
            return self.catch_up_stripe()
        return self.check(message["purchaseId"], message.get("reportId") or "manual")

    # -- one purchase -------------------------------------------------------------------------------

    def check(self, purchase_id: str, report_id: str) -> Check:
        """Ask the purchase's store for its truth and apply it (or sweep it when no store can be asked)."""
        before = self._repo.get_purchase(purchase_id)
        if before is None:
            return Check(purchase_id, "missing")
        now, event_id = self._clock.now(), f"{report_id}:{purchase_id}"
        try:
            outcome = self._apply_truth(before, event_id, now)
        except StoreApiError as error:
            if error.retryable:
                raise
            if not error.unknown_at_store:
                raise  # refused for another reason (credentials): the DLQ shows it
            self._repo.mark_checked(before, now)
            return Check(purchase_id, "unknown", frozenset({DriftKind.UNKNOWN}), detail={"reason": str(error)})
        status = "checked"
        if outcome is None:  # no store API for this purchase (or a manual grant: no store to ask)
            status, outcome = "swept", self._processor.sweep(before, RECONCILE, event_id)
        after = self._repo.get_purchase(purchase_id) or before
        if after.pending_users:  # a write that crashed between its batches: its users are completed here
            self._processor.complete_pending(after, RECONCILE, event_id)
        # A manual grant is what an operator said: nothing drifts (an unowned one is an erased user's).
        kinds = set() if after.store is Store.MANUAL else set(drift_between(before, after))
        if status == "swept" and any(c.old and c.old.active and not (c.new and c.new.active) for c in outcome.changes):
            kinds.add(DriftKind.STALE_ACCESS)
        self._repo.mark_checked(after, now)
        return Check(
            purchase_id,
            status,
            frozenset(kinds),
            repaired=bool(kinds & REPAIRABLE) and outcome.status == "applied",
            changes=len(outcome.changes),
            detail=_example(before, after),
        )

    def _apply_truth(self, purchase: Purchase, event_id: str, now: datetime) -> Outcome | None:
        """The store's current truth about the purchase, applied; None when its store cannot be asked."""
        key = purchase.store_key
        if purchase.store is Store.MANUAL:
            return None
        if purchase.store is Store.APP_STORE and self._app_store is not None:
            # Asked in the purchase's own app and environment (a Sandbox purchase: the Sandbox API).
            transaction, renewal, status = self._app_store.current_transaction(
                key, app=purchase.app, environment=purchase.environment
            )
            self._record(event_id, "app_store.transaction", purchase, {"transaction": transaction, "renewal": renewal, "status": status}, now)
            apple_facts = apple.normalize_transaction(transaction, renewal, status)
            return self._processor.apply(replace(apple_facts.update_for(None), event_id=event_id), source=RECONCILE)
        if purchase.store is Store.PLAY_STORE and self._play is not None and self._play_packages:
            package = purchase.app or self._play_packages[0]
            if purchase.expires_at is None and purchase.product_id:  # a one-time product
                resource = self._play.get_product(package, purchase.product_id, key)
                facts = google.product_facts(key, purchase.product_id, resource, now, event_id)
            else:
                resource = self._play.get_subscription_v2(package, key)
                facts = google.subscription_facts(key, resource, now, event_id)
            self._record(event_id, "play_store.purchase", purchase, resource, now)
            outcome = self._processor.apply_play(facts, app=package)
            if facts.needs_acknowledgement:  # a purchase left unacknowledged would be refunded by Google
                self._processor.acknowledge_play(facts, purchase.product_id, package)
            return outcome
        if purchase.store is Store.STRIPE and self._stripe is not None and key.startswith("sub_"):
            subscription = self._stripe.subscription(key)
            self._record(event_id, "stripe.subscription", purchase, subscription, now)
            snapshot, _ = subscription_snapshot(subscription, now, self._processor.stripe_grace)
            update = PurchaseUpdate(Store.STRIPE, key, event_id, now, snapshot=snapshot)
            return self._processor.apply(update, source=RECONCILE)
        return None

    def _record(self, event_id: str, event_type: str, purchase: Purchase, fetched: Any, now: datetime) -> None:
        """What the store said, in the event log next to webhooks (state can be rebuilt from it)."""
        body = json.dumps({"purchaseId": purchase.purchase_id, "fetched": fetched}, default=str).encode()
        self._log.append(StoredEvent(RECONCILE, event_id, event_type, purchase.purchase_id, now, body))

    # -- Google refunds no notification reported ----------------------------------------------------

    def catch_up_voided(self, report_id: str) -> Check:
        """Apply every purchase Google lists as voided since the last catch-up (refunds and chargebacks
        whose notification was lost): each revokes once, by its order id."""
        if self._play is None or not self._play_packages:
            return Check(PLAY_VOIDED, "not_configured")
        now = self._clock.now()
        since = self._repo.cursor(VOIDED_CURSOR)
        start = max(now - VOIDED_WINDOW, (datetime.fromisoformat(since) - VOIDED_OVERLAP) if since else now - VOIDED_WINDOW)
        revoked, listed = [], 0
        voided = ((package, item) for package in self._play_packages for item in self._play.iter_voided_purchases(package, start, now))
        for package, item in voided:
            listed += 1
            token = item.get("purchaseToken")
            if not token or self._repo.find_payment([token], source="play_store") is None:
                continue  # a purchase Parity never saw
            at = datetime.fromtimestamp(int(item.get("voidedTimeMillis") or 0) / 1000, tz=now.tzinfo)
            facts = google.voided_facts(item, at, f"voided:{item.get('orderId') or token}")
            if self._processor.apply_play(facts, app=package).status == "applied":
                revoked.append(token)
        self._repo.set_cursor(VOIDED_CURSOR, now.isoformat())
        kinds = frozenset({DriftKind.REFUNDED}) if revoked else frozenset()
        return Check(PLAY_VOIDED, "checked", kinds, repaired=bool(revoked), detail={"listed": listed, "revoked": len(revoked)})

    # -- Stripe refunds and disputes no webhook reported ------------------------------------------------

    def catch_up_stripe(self) -> Check:
        """Apply the refunds and disputes Stripe lists since the last catch-up (`services.stripe_catchup`)."""
        if self._stripe is None:
            return Check(STRIPE_PAYMENTS, "not_configured")
        found = StripePaymentsCatchUp(self._repo, self._log, self._processor, self._clock, self._stripe).run(RECONCILE)
        kinds = frozenset({DriftKind.REFUNDED}) if found.repaired else frozenset()
        detail = {"listed": found.listed, "revoked": len(found.repaired), "unknown": found.unknown}
        return Check(STRIPE_PAYMENTS, "caught_up", kinds, repaired=bool(found.repaired), detail=detail)

    # -- the report ---------------------------------------------------------------------------------

    def report(self, report_id: str, checks: Sequence[Check], errors: int = 0) -> None:
        """Add a batch's checks to the scan's report (one update per batch) and to the metrics."""
        counts: Counter[str] = Counter()
        examples: list[dict] = []
        for check in checks:
            counts[check.status] += 1
            counts.update(kind.value for kind in check.kinds)
            counts["repaired"] += check.repaired
            store = check.subject.split(":", 1)[0]
            if check.status == "swept" and store != Store.MANUAL.value:
                counts[f"{NOT_ASKED}{store}"] += 1  # no API for that store here: only time was applied
            if check.kinds and len(examples) < EXAMPLES_PER_BATCH:
                examples.append({"subject": check.subject, "kinds": sorted(k.value for k in check.kinds), **check.detail})
        counts["errors"] += errors
        found = sum(1 for check in checks if check.kinds)
        if found:
            metrics.add_metric(name="DriftFound", unit="Count", value=found)
        for name, value in counts.items():
            if value and not name.startswith(NOT_ASKED):
                metrics.add_metric(name=_metric_name(name), unit="Count", value=value)
        self._repo.add_to_report(report_id, {k: v for k, v in counts.items() if v}, examples)
        complete_if_done(self._repo, report_id, self._clock.now())


CHECK_STATUSES = ("checked", "swept", "unknown", "missing", "not_configured", "errors")
QUEUED, MANUAL, COMPLETE = "queued", "manual", "complete"  # report statuses (and "selecting" before)


def complete_if_done(repo: DriftStore, report_id: str, now: datetime) -> bool:
    """Mark a report `complete` once the workers have reported as many checks as were queued (a scan's
    Play catch-up is one more); whoever sees it so first (the last worker, or the scan itself when the
    workers were quicker than it) marks it. One more read per batch."""
    report = repo.report(report_id)
    if not report or report.get("status") not in (QUEUED, MANUAL):
        return False
    expected = int(report.get("selected") or 0) + (1 if report.get("status") == QUEUED else 0)
    if checks_reported(report.get("counts") or {}) < expected:
        return False
    repo.save_report(report_id, {"status": COMPLETE, "completedAt": rfc3339(now)})
    logger.info("drift scan report complete", extra={"report_id": report_id})
    return True


def checks_reported(counts: Mapping[str, Any]) -> int:
    """Checks the workers reported (each check has one status; a failed one counts as an error)."""
    return sum(int(counts.get(status, 0)) for status in CHECK_STATUSES)


def _metric_name(count: str) -> str:
    """`state_differs` → `DriftStateDiffers`; statuses and totals → `Reconcile<Name>`."""
    camel = "".join(part.title() for part in count.split("_"))
    return f"Drift{camel}" if count in {k.value for k in DriftKind} else f"Reconcile{camel}"


def _example(before: Purchase, after: Purchase) -> dict[str, Any]:
    """What an operator needs to see of a drift: the state and period before and after the check."""
    return {
        "before": {"state": before.state.value, "expiresAt": rfc3339(before.expires_at)},
        "after": {"state": after.state.value, "expiresAt": rfc3339(after.expires_at)},
    }
