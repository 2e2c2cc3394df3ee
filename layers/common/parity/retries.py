"""Failed queue records come back after a backoff, not after the queue's visibility timeout.

The queue consumers (the event processor, the reconcile worker) report failed records to Lambda
(`ReportBatchItemFailures`), which leaves them in flight; `Redelivery.failed` sets how long they stay
so (ChangeMessageVisibility, `parity.domain.redelivery.RetrySchedule`): hours apart while a store is
out, seconds to a minute for anything else. Within one invocation, once a store is found out, the
batch's later records for that store fail at once with the same error instead of waiting on their own
timeouts: one unreachable store costs one record's worth of time, and the function stays within its
timeout. A record that would not finish before the function's deadline is not started; it is handed
back at once (`OutOfTime`).

Each failed record is also counted in the consumer's own metric (`failure_metric`: `StoreEventsFailed`,
`ReconcileChecksFailed`): with partial batch failures the invocation succeeds while its records fail, so
Lambda's `Errors` metric never sees them; the template's failure alarms watch these counts.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from .domain.errors import OutOfTime, StoreApiError, UnknownPurchaseError
from .domain.redelivery import RetrySchedule
from .observability import logger, metrics

if TYPE_CHECKING:
    from .batch import QueueRecord
    from .ports import RetryQueue

# AWS answers that mean "later" (throttling, a service's own outage), whichever AWS service said it.
TRANSIENT_AWS_CODES = frozenset(
    {
        "ThrottlingException",
        "Throttling",
        "ProvisionedThroughputExceededException",
        "RequestLimitExceeded",
        "LimitExceededException",
        "InternalServerError",
        "InternalFailure",
        "InternalError",
        "ServiceUnavailable",
        "ServiceUnavailableException",
    }
)


def is_outage(error: BaseException | None) -> bool:
    """A failure that time will cure: a store that answered 5xx or 429, timed out or could not be
    reached (`StoreApiError(retryable=True)`), or an AWS service throttling or failing likewise. An
    event whose purchase is not known yet waits the same way: the events that make it known (an invoice
    naming a refunded charge's subscription) may themselves be waiting for a store."""
    if isinstance(error, StoreApiError):
        return error.retryable
    if isinstance(error, UnknownPurchaseError):
        return True
    try:
        from botocore.exceptions import ClientError, ConnectionError, HTTPClientError
    except ImportError:  # pragma: no cover - botocore ships with every Lambda runtime
        return False
    if isinstance(error, ClientError):
        return error.response.get("Error", {}).get("Code") in TRANSIENT_AWS_CODES
    return isinstance(error, (ConnectionError, HTTPClientError))


class Redelivery:
    """Per container: the queue the function consumes and the schedule. Per invocation (`begin`): the
    stores found out and the delay set for each FIFO group's failed record."""

    def __init__(
        self,
        queue: RetryQueue,
        schedule: RetrySchedule,
        record_budget_seconds: float,
        draw: Callable[[], float] = random.random,
        failure_metric: str | None = None,
    ) -> None:
        self._queue = queue
        self._failure_metric = failure_metric
        self._schedule = schedule
        self._budget_ms = record_budget_seconds * 1000
        self._draw = draw
        self._outages: dict[str, StoreApiError] = {}
        self._group_delays: dict[str, int] = {}

    @property
    def schedule(self) -> RetrySchedule:
        return self._schedule

    def begin(self) -> None:
        """A new batch: nothing known about the stores yet."""
        self._outages.clear()
        self._group_delays.clear()

    @contextmanager
    def attempt(self, store: str | None, lambda_context: Any = None) -> Iterator[None]:
        """Around one record's processing: refuse to start it when the deadline is near or its store was
        found out earlier in the batch; remember the store when it turns out to be out."""
        remaining = getattr(lambda_context, "get_remaining_time_in_millis", None)
        if remaining is not None and remaining() < self._budget_ms:
            raise OutOfTime(f"less than {self._budget_ms / 1000:g} s left before the function's timeout")
        if store is not None and store in self._outages:
            found = self._outages[store]
            raise StoreApiError(f"{store} is out (earlier in this batch: {found})", retryable=True, status=found.status)
        try:
            yield
        except StoreApiError as error:
            if store is not None and error.retryable:
                self._outages[store] = error
            raise

    def failed(self, record: QueueRecord, error: BaseException | None, skipped: bool = False) -> int | None:
        """Set when the failed record comes back; returns the delay (None when it could not be set: the
        queue's visibility timeout then applies). `skipped`: a FIFO record held back behind its group's
        failed record, which comes back with it. Never raises."""
        group = record.message_group_id
        receives = record.receive_count
        outage = is_outage(error)
        if skipped and group in self._group_delays:
            delay = self._group_delays[group]
        elif isinstance(error, OutOfTime):
            delay = 0
        else:
            delay = self._schedule.delay(receives, outage, self._draw())
        if group is not None and not skipped:
            self._group_delays[group] = delay
        # A record that failed (not one held back behind its group, nor one handed back unstarted), counted
        # before anything else can go wrong: the failure alarms must see it even when the delay cannot be set.
        if self._failure_metric and not skipped and not isinstance(error, OutOfTime):
            metrics.add_metric(name=self._failure_metric, unit="Count", value=1)
        try:
            self._queue.retry_later(record.receipt_handle, delay)
        except Exception as failure:  # noqa: BLE001 - the record is failed either way
            logger.warning("could not set the retry delay", extra={"error": type(failure).__name__})
            return None
        if not skipped:
            logger.info("retry scheduled", extra={"delay_s": delay, "receives": receives, "outage": outage})
            metrics.add_metric(name="RetriesAfterOutage" if outage else "RetriesAfterError", unit="Count", value=1)
        return delay
