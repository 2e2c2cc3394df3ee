"""Reconcile-queue worker: checks each purchase with its store and repairs drift; each batch adds its
counts to the scan's report. Concurrency is capped by the event source (the stores' rate limits)."""

import contextlib
import json
from collections import defaultdict

from parity import bootstrap
from parity.batch import QueueRecord, process_batch
from parity.observability import lambda_entry, logger
from parity.retries import OutOfTime
from parity.services.drift_scan import CATCH_UPS
from parity.settings import Settings

# The most one check's store calls can take (README, "Store outages": the App Store's transaction and
# status reads, 2 attempts of 5 s with up to 5 s between): a check is not started with less time left.
RECORD_BUDGET_SECONDS = 35

settings = Settings.from_env()
reconciler = bootstrap.reconciler(settings)
# Failed checks are counted in ReconcileChecksFailed (ReconcileErrorsAlarm), as the processor's records.
redelivery = bootstrap.redelivery(settings, settings.aws.reconcile_queue(), RECORD_BUDGET_SECONDS, "ReconcileChecksFailed")


def store_of(message: dict) -> str | None:
    """The store a check asks: the purchase id's prefix (`app_store:...`); a catch-up's own store."""
    if message.get("kind") in CATCH_UPS:
        return CATCH_UPS[message["kind"]]
    purchase_id = message.get("purchaseId")
    return purchase_id.split(":", 1)[0] if isinstance(purchase_id, str) and ":" in purchase_id else None


def messages_of(event: dict) -> list[dict]:
    """The batch's check messages that parse (one that does not fails on its own, in `record_handler`)."""
    parsed = []
    for record in event.get("Records") or []:
        with contextlib.suppress(ValueError, TypeError):
            parsed.append(json.loads(record["body"]))
    return [m for m in parsed if isinstance(m, dict)]


@lambda_entry
def lambda_handler(event, context):
    checks, errors = defaultdict(list), defaultdict(int)
    reconciler.prefetch(messages_of(event))  # the batch's purchases: one read

    def record_handler(record: QueueRecord, lambda_context=None) -> str:
        message = json.loads(record.body)
        report_id = message.get("reportId") or "manual"
        try:
            with redelivery.attempt(store_of(message), lambda_context):
                check = reconciler.handle(message)
        except OutOfTime:
            raise  # not an error: handed back unstarted
        except Exception:
            errors[report_id] += 1
            raise
        logger.info("checked", extra={"subject": check.subject, "status": check.status, "drift": sorted(check.kinds)})
        checks[report_id].append(check)
        return check.status

    # A failed check comes back after its backoff (`parity.retries`): hours apart during a store outage.
    redelivery.begin()
    response = process_batch(event, record_handler, redelivery.failed, context)
    for report_id in checks.keys() | errors.keys():
        reconciler.report(report_id, checks[report_id], errors[report_id])
    return response
