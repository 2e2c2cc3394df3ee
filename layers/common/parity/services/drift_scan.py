"""The drift scan's selection: which purchases are checked with their store tonight, queued for the
reconcile workers (`services.drift.Reconciler`).

The schedule starts a scan (`DriftScan.start`): it creates the report, queues the catch-ups (Play voided
purchases, Stripe refunds and disputes) and the events parked unresolved, and queues one message per
shard of the due index on the shard queue, whose consumer (`DriftScan.scan_shard`, the same function)
selects that shard alone: at 10 M purchases the night is queued by many invocations at once instead of
one. A shard that does not finish in its invocation's time queues its own continuation (where its
index read stopped) and ends; SQS retries a shard whose invocation failed (selecting twice queues a
purchase twice: its second check finds it checked). Within a shard, purchases whose access should
have ended come first, then the rolling slice, oldest due first; checks of a store with a daily quota
(Play) spend the shard's share of `DRIFT_PLAY_CHECKS_PER_DAY` in that order, and what does not fit
stays due for the next night (`deferred` in the report).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

from ..domain.drift import DUE_SHARDS, budgeted, shard_budget
from ..domain.timeutil import rfc3339
from ..observability import logger, metrics
from ..settings import DEFAULT_PLAY_CHECKS_PER_DAY

if TYPE_CHECKING:
    from ..ports import BatchQueue, Clock, DriftStore

PURCHASE, PLAY_VOIDED, STRIPE_PAYMENTS = "purchase", "play_voided", "stripe_payments"  # reconcile message kinds
CATCH_UPS = {PLAY_VOIDED: "play_store", STRIPE_PAYMENTS: "stripe"}  # the store each catch-up asks
PAGE = 500  # due-index ids read per Query
SHARD_MARGIN_MS = 60_000  # a shard invocation with less time left hands the rest to its continuation


def check_message(purchase_id: str, report_id: str) -> str:
    """The reconcile queue's body asking for one purchase's check under a scan report."""
    return json.dumps({"kind": PURCHASE, "purchaseId": purchase_id, "reportId": report_id})


def report_id_for(now: datetime) -> str:
    """Report ids sort by time (`20261122T030000Z-1a2b3c`)."""
    return f"{now:%Y%m%dT%H%M%SZ}-{uuid.uuid4().hex[:6]}"


def budget_name(day: str, shard: int) -> str:
    """The budget one shard spends on one day (`play:2026-11-22:7`)."""
    return f"play:{day}:{shard}"


class DriftScan:
    """Selects what may have drifted and queues it; the report is completed by the workers."""

    def __init__(
        self,
        repository: DriftStore,
        queue: BatchQueue,
        clock: Clock,
        requeue_parked: Callable[[], int] | None = None,
        shard_queue: BatchQueue | None = None,
        play_checks_per_day: int = DEFAULT_PLAY_CHECKS_PER_DAY,
        shards: int = DUE_SHARDS,
        page: int = PAGE,
    ) -> None:
        """`queue`: the reconcile queue. `shard_queue`: where the schedule's start fans out one message
        per shard (None: `start` selects every shard itself, as the console's scan does)."""
        self._repo = repository
        self._queue = queue
        self._clock = clock
        self._requeue_parked = requeue_parked  # EventIntake.requeue_parked: unresolved events, again
        self._shard_queue = shard_queue
        self._per_day = play_checks_per_day
        self._shards = shards
        self._page = page

    def start(self) -> dict[str, Any]:
        """The schedule's scan: the report, the catch-ups, and one message per shard on the shard queue
        (without one, every shard is selected here, as `run` does)."""
        if self._shard_queue is None:
            return self.run()
        report_id, day = self._begin()
        shards = [json.dumps({"reportId": report_id, "day": day, "shard": n}) for n in range(self._shards)]
        for start in range(0, len(shards), 10):
            self._shard_queue.send_batch(shards[start : start + 10])
        requeued = self._requeue()
        self._repo.save_report(report_id, {"shards": self._shards, "unresolvedRequeued": requeued, "status": FANNED_OUT})
        complete_if_done(self._repo, report_id, self._clock.now())
        logger.info("drift scan fanned out", extra={"report_id": report_id, "shards": self._shards})
        return {"reportId": report_id, "shards": self._shards, "unresolvedRequeued": requeued}

    def run(self, progress: Callable[[int], None] | None = None) -> dict[str, Any]:
        """A whole scan in this process (the console's `parity scan`): every shard selected in turn.
        Returns the report's id and how many purchases were queued; `progress(n)` as they are."""
        report_id, day = self._begin()
        selected = 0
        for shard in range(self._shards):
            done = self.scan_shard({"reportId": report_id, "day": day, "shard": shard}, progress=progress, before=selected)
            selected += done["selected"]
        requeued = self._requeue()
        self._repo.save_report(
            report_id,
            {"selected": selected, "unresolvedRequeued": requeued, "status": QUEUED, "queuedAt": rfc3339(self._clock.now())},
        )
        complete_if_done(self._repo, report_id, self._clock.now())
        logger.info("drift scan queued", extra={"report_id": report_id, "selected": selected, "unresolved_requeued": requeued})
        return {"reportId": report_id, "selected": selected, "unresolvedRequeued": requeued}

    def scan_shard(
        self,
        message: dict[str, Any],
        time_left_ms: Callable[[], int] | None = None,
        progress: Callable[[int], None] | None = None,
        before: int = 0,
    ) -> dict[str, Any]:
        """Select one shard (`{"reportId", "day", "shard"}`, and where an earlier invocation stopped):
        its due pass, then its rolling slice, checks queued ten per batch. Stops early, queuing its
        continuation on the shard queue, when `time_left_ms()` falls under the margin."""
        report_id, day, shard = message["reportId"], message["day"], int(message["shard"])
        now = self._clock.now()
        ends, after = bool(message.get("ends", True)), message.get("after")
        selected = deferred = 0
        continued = False  # the shard's selection goes on in another invocation
        while True:
            if time_left_ms is not None and self._shard_queue is not None and time_left_ms() < SHARD_MARGIN_MS:
                self._shard_queue.send_batch([json.dumps({**message, "ends": ends, "after": after})])
                continued = True
                break
            ids, after = self._repo.due_page(now, shard, ends, after, self._page)
            queued = self._within_budget(ids, budget_name(day, shard))
            deferred += len(ids) - len(queued)
            bodies = [check_message(pid, report_id) for pid in queued]
            for start in range(0, len(bodies), 10):  # SendMessageBatch takes ten
                self._queue.send_batch(bodies[start : start + 10])
            selected += len(queued)
            if progress and queued:
                progress(before + selected)
            if after is None:
                if not ends:
                    break
                ends = False  # the due pass is done: the rolling slice
        counts = {name: n for name, n in (("selected", selected), ("deferred", deferred)) if n}
        if not continued:
            counts[SHARDS_DONE] = 1
        if counts:
            self._repo.add_to_report(report_id, counts, [])
        if not continued:
            complete_if_done(self._repo, report_id, self._clock.now())
        metrics.add_metric(name="DriftScanSelected", unit="Count", value=selected)
        if deferred:
            metrics.add_metric(name="DriftScanDeferred", unit="Count", value=deferred)
        return {"reportId": report_id, "shard": shard, "selected": selected, "deferred": deferred}

    def _within_budget(self, ids: list[str], budget: str) -> list[str]:
        """The ids to check now: every unbudgeted one, and the budgeted ones the day's share still covers
        (in order: the index's, oldest due first)."""
        wanted = sum(1 for pid in ids if budgeted(pid))
        if not wanted:
            return ids
        granted = self._repo.spend_budget(budget, wanted, shard_budget(self._per_day, self._shards))
        kept = []
        for pid in ids:
            if budgeted(pid):
                if not granted:
                    continue
                granted -= 1
            kept.append(pid)
        return kept

    def _begin(self) -> tuple[str, str]:
        """A new report, and the catch-ups queued under it; returns its id and the budget's day."""
        now = self._clock.now()
        report_id = report_id_for(now)
        self._repo.save_report(report_id, {"reportId": report_id, "startedAt": rfc3339(now), "status": "selecting", "counts": {}})
        self._queue.send_batch([json.dumps({"kind": kind, "reportId": report_id}) for kind in CATCH_UPS])
        return report_id, now.date().isoformat()

    def _requeue(self) -> int:
        return self._requeue_parked() if self._requeue_parked else 0


CHECK_STATUSES = ("checked", "swept", "unknown", "missing", "not_configured", "caught_up", "errors")
# Report statuses (and "selecting" before): a scan selected in one process is `queued`, one fanned out per
# shard `fanned_out` (complete once every shard has selected), the console's checks of chosen purchases `manual`.
QUEUED, FANNED_OUT, MANUAL, COMPLETE = "queued", "fanned_out", "manual", "complete"
SHARDS_DONE = "shards_selected"  # report count: shards whose selection has ended


def complete_if_done(repo: DriftStore, report_id: str, now: datetime) -> bool:
    """Mark a report `complete` once the workers have reported as many checks as were queued (a scan's
    catch-ups are one each); whoever sees it so first (the last worker, or the scan itself when the
    workers were quicker than it) marks it. One more read per batch."""
    report = repo.report(report_id)
    if not report or report.get("status") not in (QUEUED, FANNED_OUT, MANUAL):
        return False
    counts = report.get("counts") or {}
    if report["status"] == FANNED_OUT:
        if int(counts.get(SHARDS_DONE, 0)) < int(report.get("shards") or 0):
            return False  # some shard is still selecting: the total is not known yet
        selected = int(counts.get("selected", 0))
    else:
        selected = int(report.get("selected") or 0)
    expected = selected + (0 if report["status"] == MANUAL else len(CATCH_UPS))
    if checks_reported(counts) < expected:
        return False
    repo.save_report(report_id, {"status": COMPLETE, "completedAt": rfc3339(now)})
    logger.info("drift scan report complete", extra={"report_id": report_id})
    return True


def checks_reported(counts: Mapping[str, Any]) -> int:
    """Checks the workers reported (each check has one status; a failed one counts as an error)."""
    return sum(int(counts.get(status, 0)) for status in CHECK_STATUSES)
