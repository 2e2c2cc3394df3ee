"""SQS batches with partial failures (the event source mapping's `ReportBatchItemFailures`).

Each record is handled on its own; the answer names the failed ones, and SQS hands back only those. On
a FIFO queue the records after a failed one in its message group are not started: they fail with it
(`SkippedInGroup`), so one purchase's events stay in order while the other groups go on. When every record
failed the invocation fails (`BatchFailed`), so that Lambda's `Errors` metric sees a consumer that can
process nothing.

This is what Powertools' batch utility (`SqsFifoPartialProcessor(skip_group_on_error=True)`,
`BatchProcessor`) does; it is not used because importing it loads asyncio and the data classes of every
event source: about 86 M instructions, a tenth of a function's cold-start baseline (docs/BENCHMARKS.md).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any


class BatchFailed(Exception):
    """Every record of the batch failed."""


class SkippedInGroup(Exception):
    """A FIFO record not started: an earlier record of its message group failed in this batch."""


class QueueRecord:
    """One SQS record of a Lambda event, as the consumers read it."""

    __slots__ = ("_raw",)

    def __init__(self, raw: Mapping[str, Any]) -> None:
        self._raw = raw

    @property
    def message_id(self) -> str:
        return self._raw["messageId"]

    @property
    def body(self) -> str:
        return self._raw.get("body") or ""

    @property
    def receipt_handle(self) -> str:
        return self._raw["receiptHandle"]

    @property
    def message_group_id(self) -> str | None:
        return (self._raw.get("attributes") or {}).get("MessageGroupId")

    @property
    def receive_count(self) -> int:
        return int((self._raw.get("attributes") or {}).get("ApproximateReceiveCount") or 1)


Handler = Callable[[QueueRecord, Any], object]
OnFailure = Callable[[QueueRecord, BaseException], None]


def process_batch(event: Mapping[str, Any], handle: Handler, on_failure: OnFailure, context: Any = None) -> dict:
    """`handle(record, context)` for each record in order; `on_failure(record, error)` for each that
    raised, or was skipped behind its group's failed record (`SkippedInGroup`). Returns the partial batch
    response."""
    records = [QueueRecord(raw) for raw in event.get("Records") or ()]
    failures: list[dict[str, str]] = []
    failed_groups: set[str] = set()
    first_error: BaseException | None = None
    for record in records:
        group = record.message_group_id
        try:
            if group is not None and group in failed_groups:
                raise SkippedInGroup(f"not started: a previous record of message group {group!r} failed in this batch")
            handle(record, context)
        except Exception as error:  # noqa: BLE001 - a record's failure is reported, not raised
            if group is not None:
                failed_groups.add(group)
            first_error = first_error or error
            on_failure(record, error)
            failures.append({"itemIdentifier": record.message_id})
    if records and len(failures) == len(records):
        raise BatchFailed(f"All {len(records)} records failed; the first: {first_error!r}")
    return {"batchItemFailures": failures}
