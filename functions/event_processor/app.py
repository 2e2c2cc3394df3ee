"""Store-events queue consumer: one record at a time, partial batch failures, FIFO order per group."""

import json
from functools import cache

from parity import bootstrap
from parity.batch import QueueRecord, SkippedInGroup, process_batch
from parity.bodies import parse_receipt
from parity.domain.errors import RequestRefused
from parity.http import status_of
from parity.observability import lambda_entry, logger
from parity.services.ingest import RECEIPT_RETRY
from parity.settings import Settings

# The most a record's store calls can take (README, "Store outages": Stripe 3 requests of 2 x 3 s, or
# Play 2 calls of 2 x 3 s with a token fetch, ...): a record is not started with less time left.
RECORD_BUDGET_SECONDS = 25

settings = Settings.from_env()
repository = bootstrap.repository(settings)
service = bootstrap.event_processor(settings, repo=repository)
# Failed records are counted in StoreEventsFailed: the invocation succeeds while they fail
# (ReportBatchItemFailures), so Lambda's Errors metric never sees them (ProcessorErrorsAlarm).
redelivery = bootstrap.redelivery(settings, settings.aws.events_queue(), RECORD_BUDGET_SECONDS, "StoreEventsFailed")
# An event whose purchase is still unknown at this receive (UNRESOLVED_AFTER_RECEIVES) is parked as
# unresolved: it may concern a payment Parity never sold, or wait for an event that is still failing;
# the nightly scan and `parity dlq redrive` send it back.
UNRESOLVED_AFTER_RECEIVES = settings.redelivery.unresolved_after_receives


def failed(record: QueueRecord, error: BaseException) -> None:
    """Every record failed (raised, or skipped behind a failed record of its group: only that group waits,
    other purchases' events go on) is handed back after its backoff (`parity.retries`), and recorded on
    its event's log item, since SQS keeps no reason: `parity dlq show` reads it back."""
    redelivery.failed(record, error, skipped=isinstance(error, SkippedInGroup))
    record_failure(record, error)


def record_failure(record: QueueRecord, error: BaseException) -> None:
    """Never fails the batch: a failure to record is logged and forgotten."""
    try:
        message = json.loads(record.body)
        if not isinstance(message, dict):
            return
        source, event_id = message.get("source"), message.get("eventId")
        if not isinstance(source, str) or not isinstance(event_id, str) or source == RECEIPT_RETRY:
            return  # no event-log item to write on (a queued receipt retry is not in the log)
        repository.record_failure(source, event_id, error)
    except Exception as failure:  # noqa: BLE001
        logger.warning("could not record the failure", extra={"error": type(failure).__name__})


@cache
def receipts():
    """Built on the first queued receipt only: it imports the store verifiers and API clients."""
    return bootstrap.receipt_service(settings)


def record_handler(record: QueueRecord, lambda_context=None) -> str:
    try:
        message = json.loads(record.body)
        with redelivery.attempt(store_of(message), lambda_context):
            if message["source"] == RECEIPT_RETRY:
                return retry_receipt(message)
            final = record.receive_count >= UNRESOLVED_AFTER_RECEIVES
            outcome = service.process_message(message, final_attempt=final)
        logger.info("event processed", extra={"status": outcome.status, "purchase_id": outcome.purchase_id, "changes": len(outcome.changes)})
        return outcome.status
    finally:
        # The service labels the logger with the record's event; those keys must not label the next
        # record's lines (a receipt retry appends none) nor the next invocation's.
        logger.remove_keys(["store", "event_id", "event_type"])


def store_of(message) -> str | None:
    """The store a message's processing may call (a queued receipt names it in its body)."""
    if not isinstance(message, dict):
        return None
    if message.get("source") == RECEIPT_RETRY:
        try:
            return json.loads(message.get("body") or "{}").get("store")
        except (ValueError, AttributeError):
            return None
    return message.get("source")


def retry_receipt(message: dict) -> str:
    """A receipt the store could not confirm in time: validated and claimed now (or retried again)."""
    body = message["body"].encode("utf-8")
    try:
        outcome = receipts().submit(message["userId"], parse_receipt(body), body, queued=True)
    except RequestRefused as refused:  # the store answered after all, and said no: nothing to retry
        logger.warning("queued receipt refused", extra={"code": refused.code, "status": status_of(refused)})
        return refused.code
    logger.info("queued receipt claimed", extra={"status": outcome.status})
    return "claimed"


@lambda_entry
def lambda_handler(event, context):
    redelivery.begin()
    return process_batch(event, record_handler, failed, context)
