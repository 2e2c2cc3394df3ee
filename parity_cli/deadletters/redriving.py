"""Moving dead letters back to their source queue: an SQS move task, else one by one (never losing one)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from parity.adapters.dead_letters import (  # noqa: F401 - shared with the admin routes
    DEDUP_PREFIX,
    UNSUPPORTED_CODES,
    dedup_id,
    move_task_unsupported,
)
from parity_cli.deadletters.queues import DeadLetterQueue, receive_page, release
from parity_cli.errors import CliError
from parity_cli.progress import Progress

REDRIVE_HOLD_SECONDS = 60  # one-by-one: time to send and delete a page of ten
POLL_SECONDS = 2.0  # ListMessageMoveTasks polling
FINISHED = ("COMPLETED", "FAILED", "CANCELLED")


@dataclass
class RedriveResult:
    name: str
    dlq: str
    source_queue: str | None
    method: str  # "move-task" or "one-by-one"; "none": nothing to move
    status: str  # COMPLETED, FAILED, CANCELLED (as SQS says), or INTERRUPTED
    moved: int = 0
    to_move: int | None = None
    seconds: float = 0.0
    task_handle: str | None = None
    failure_reason: str | None = None
    fallback_reason: str | None = None  # why the move task was not used
    failed_again: int = 0  # one by one: resent messages that came back to the DLQ during the run (left there)
    notes: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        return {
            "name": data.pop("name"),
            "dlq": data.pop("dlq"),
            "sourceQueue": data.pop("source_queue"),
            "method": data.pop("method"),
            "status": data.pop("status"),
            "moved": data.pop("moved"),
            "toMove": data.pop("to_move"),
            "seconds": round(data.pop("seconds"), 3),
            "taskHandle": data.pop("task_handle"),
            "failureReason": data.pop("failure_reason"),
            "fallbackReason": data.pop("fallback_reason"),
            "failedAgain": data.pop("failed_again"),
        }


def redrive(
    ctx,
    dlq: DeadLetterQueue,
    *,
    method: str = "auto",
    max_messages: int | None = None,
    rate: int | None = None,
    poll_seconds: float | None = None,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
    hold_seconds: int = REDRIVE_HOLD_SECONDS,
) -> RedriveResult:
    """Move `dlq`'s messages back to its source queue. `method`: "auto" (the move task, else one by
    one), "move-task" or "one-by-one"; `max_messages` moves at most that many (one by one)."""
    poll_seconds = POLL_SECONDS if poll_seconds is None else poll_seconds
    if not dlq.source_url or not dlq.source_arn:
        raise CliError(f"{dlq.name}: the DLQ's source queue is unknown", "no_source_queue", 2)
    result = RedriveResult(dlq.name, dlq.queue_name, dlq.source_name, method, "COMPLETED", to_move=dlq.visible)
    started = clock()
    if dlq.visible + dlq.in_flight + dlq.delayed == 0:
        result.method = "none"
        return result
    if max_messages is not None and method == "auto":
        method = "one-by-one"  # a move task moves everything
    progress = ctx.output.progress(f"redrive {dlq.name}", total=dlq.visible or None)
    try:
        if method in ("auto", "move-task"):
            try:
                _move_task(ctx, dlq, result, progress, rate, poll_seconds, sleep)
                return result
            except CliError:
                raise
            except Exception as error:  # noqa: BLE001 - NotImplementedError from moto in-process, ClientError on AWS
                reason = move_task_unsupported(error)
                if reason is None or method == "move-task":
                    raise
                result.fallback_reason = f"StartMessageMoveTask is not available: {reason}"
                ctx.output.note(f"{dlq.name}: {result.fallback_reason}; moving messages one by one")
        result.method = "one-by-one"
        _one_by_one(ctx.client("sqs"), dlq, result, progress, max_messages, hold_seconds)
        return result
    finally:
        result.seconds = clock() - started
        progress.close()


def _move_task(ctx, dlq, result: RedriveResult, progress: Progress, rate, poll_seconds, sleep) -> None:
    result.method = "move-task"
    kwargs: dict[str, Any] = {"SourceArn": dlq.arn, "DestinationArn": dlq.source_arn}
    if rate:
        kwargs["MaxNumberOfMessagesPerSecond"] = rate
    # One attempt: an endpoint without the action answers at once, and that answer is the point.
    handle = ctx.client("sqs", attempts=1).start_message_move_task(**kwargs)["TaskHandle"]
    result.task_handle = handle
    sqs = ctx.client("sqs")
    last = None
    try:
        while True:
            tasks = sqs.list_message_move_tasks(SourceArn=dlq.arn, MaxResults=10).get("Results", [])
            task = next((t for t in tasks if t.get("TaskHandle") == handle), tasks[0] if tasks else None)
            if task is None:
                raise CliError(f"{dlq.name}: SQS lists no move task for {dlq.arn}", "move_task_missing")
            result.status = task.get("Status", "RUNNING")
            result.moved = int(task.get("ApproximateNumberOfMessagesMoved", 0))
            if task.get("ApproximateNumberOfMessagesToMove") is not None:
                result.to_move = int(task["ApproximateNumberOfMessagesToMove"])
            result.failure_reason = task.get("FailureReason")
            seen = (result.status, result.moved, result.to_move)
            progress.update(result.moved, total=result.to_move or None, status=result.status, force=seen != last)
            last = seen
            if result.status in FINISHED:
                return
            sleep(poll_seconds)
    except KeyboardInterrupt:
        result.status = "INTERRUPTED"
        raise CliError(
            f"{dlq.name}: stopped watching; the move task goes on in SQS (cancel it with "
            f"`aws sqs cancel-message-move-task --task-handle {handle}`)",
            "interrupted",
            130,
        ) from None


def _resend_arguments(message: dict, dlq: DeadLetterQueue) -> dict[str, Any]:
    kwargs: dict[str, Any] = {"QueueUrl": dlq.source_url, "MessageBody": message["Body"]}
    attributes = {}
    for name, value in (message.get("MessageAttributes") or {}).items():
        attributes[name] = {k: v for k, v in value.items() if k in ("DataType", "StringValue", "BinaryValue")}
    if attributes:
        kwargs["MessageAttributes"] = attributes
    if dlq.fifo:
        group = (message.get("Attributes") or {}).get("MessageGroupId")
        if not group:
            raise CliError(f"{dlq.name}: dead letter {message['MessageId']} has no MessageGroupId", "no_group")
        kwargs["MessageGroupId"] = group
        kwargs["MessageDeduplicationId"] = dedup_id(message["MessageId"])
    return kwargs


def _one_by_one(sqs, dlq, result: RedriveResult, progress: Progress, max_messages, hold_seconds) -> None:
    """Receive, send to the source queue, then (only then) delete from the DLQ."""
    from botocore.exceptions import BotoCoreError, ClientError

    resent: set[str] = set()  # message ids our sends got: seen in the DLQ again, they failed again
    while max_messages is None or result.moved < max_messages:
        wanted = 10 if max_messages is None else max_messages - result.moved
        page = receive_page(sqs, dlq.url, wanted, hold_seconds, message_attributes=True)
        if not page:
            break
        held = list(page)
        try:
            again = [m for m in page if m["MessageId"] in resent]
            fresh = [m for m in page if m["MessageId"] not in resent][:wanted]
            result.failed_again = max(result.failed_again, len(again))
            if not fresh:
                break
            for message in fresh:
                try:
                    sent = sqs.send_message(**_resend_arguments(message, dlq))
                except (ClientError, BotoCoreError) as error:
                    result.status = "FAILED"
                    result.failure_reason = f"sending {message['MessageId']} to {dlq.source_name}: {error}"
                    return
                resent.add(sent["MessageId"])
                try:
                    sqs.delete_message(QueueUrl=dlq.url, ReceiptHandle=message["ReceiptHandle"])
                except (ClientError, BotoCoreError) as error:
                    result.status = "FAILED"
                    result.failure_reason = (
                        f"{message['MessageId']} was sent to {dlq.source_name} but not deleted from the DLQ "
                        f"({error}); run the redrive again (a FIFO queue deduplicates the resend; processing "
                        "is idempotent anyway)"
                    )
                    return
                held.remove(message)
                result.moved += 1
                progress.update(result.moved)
        finally:
            release(sqs, dlq.url, held)
    result.status = "COMPLETED"
