"""The Stripe refunds and disputes catch-up, run by the drift scan: what a lost webhook left active.

The drift scan re-reads subscriptions, which a refund or a dispute does not change. So each scan also
lists the refunds and disputes Stripe created since the last catch-up (a cursor in the table; the
first run looks `FIRST_WINDOW` back), links each to its purchase the way the webhook would (the
payments Parity recorded, else the charge's payment intent → its invoice payment → the invoice's
subscription; a one-time purchase is keyed by its payment intent), and applies it through the
processor. A refund seen by both its webhook and the catch-up revokes once (one revocation ref per
charge or dispute), and each listed item is an event of its own in the log (`stripe_refund:<id>`,
`stripe_dispute:<id>:<status>`): the catch-up applies it once, however often it is listed.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from ..domain.model import PaymentRef
from ..domain.stripe import StripeFacts
from ..domain.stripe_payments import dispute_facts, refund_facts
from ..observability import logger, metrics
from ..ports import StoredEvent

if TYPE_CHECKING:
    from collections.abc import Mapping

    from ..ports import Clock, DriftRepository, EventLog, StripeApi
    from .processing import EventProcessor

CURSOR = "stripe_payments"
FIRST_WINDOW = timedelta(days=30)  # how far back the first catch-up lists
OVERLAP = timedelta(hours=1)  # listed again across runs: clocks differ, and what is listed twice applies once


@dataclass(frozen=True)
class CatchUp:
    """What one catch-up found: items listed, purchases revoked (or restored), items of no known purchase."""

    listed: int = 0
    repaired: tuple[str, ...] = ()
    unknown: int = 0


class StripePaymentsCatchUp:
    def __init__(
        self, repository: DriftRepository, event_log: EventLog, processor: EventProcessor, clock: Clock, stripe: StripeApi
    ) -> None:
        self._repo = repository
        self._log = event_log
        self._processor = processor
        self._clock = clock
        self._stripe = stripe

    def run(self, source: str) -> CatchUp:
        """List and apply the refunds and disputes created since the cursor (less `OVERLAP`), then move
        the cursor to this run's start. A Stripe outage raises before the cursor moves (retried)."""
        now = self._clock.now()
        since = self._repo.cursor(CURSOR)
        start = datetime.fromisoformat(since) - OVERLAP if since else now - FIRST_WINDOW
        listed, unknown, repaired = 0, 0, []
        items = [(refund, refund_facts(refund, now), "stripe.refund") for refund in self._stripe.refunds_since(start)]
        items += [(dispute, dispute_facts(dispute, now), "stripe.dispute") for dispute in self._stripe.disputes_since(start)]
        for fetched, facts, kind in items:
            listed += 1
            if facts is None:
                continue  # revokes nothing (a partial or failed refund)
            status = self._apply(facts, kind, fetched, source, now)
            unknown += status == "unknown"
            if status == "applied":
                repaired.append(facts.event_id)
        self._repo.set_cursor(CURSOR, now.isoformat())
        if repaired:
            metrics.add_metric(name="StripePaymentsCaughtUp", unit="Count", value=len(repaired))
        logger.info("stripe refunds and disputes caught up", extra={"listed": listed, "repaired": len(repaired), "unknown": unknown})
        return CatchUp(listed, tuple(repaired), unknown)

    def _apply(self, facts: StripeFacts, kind: str, fetched: Mapping, source: str, now: datetime) -> str:
        found = self._processor.stripe_purchase_of(facts)
        if found is None:
            return "unknown"  # a payment of nothing Parity holds
        body = json.dumps({"purchaseId": found.purchase_id, "fetched": fetched}, default=str).encode()
        if self._log.append(StoredEvent(source, facts.event_id, kind, found.purchase_id, now, body)).processed:
            return "known"
        update = facts.update_for(found.purchase_id.split(":", 1)[1], found.period_end)
        # Recorded, so that a parked webhook of the same payment finds its purchase when it comes back.
        refs = tuple(PaymentRef(ref, found.purchase_id, found.period_end) for ref in facts.payment_lookup)
        update = replace(update, payment_refs=refs)
        return self._processor.apply(update, source=source, owner_hint=next(iter(found.owner_ids), None)).status
