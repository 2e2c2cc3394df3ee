"""Dead-letter queues: list them, look at their messages without consuming them, move them back.

Looking (`peek`): messages are received and held out of sight for a short while (`HOLD_SECONDS`), so
that successive receives page through the queue, then made visible again at once; nothing is ever
deleted. Receiving bumps a message's receive count (a DLQ has no redrive policy: nothing follows from
it). On a FIFO queue SQS hands out a message group's messages in order and the later ones only after
the earlier ones are gone, so at most ten messages of one group can be seen.

SQS keeps no failure reason: the event processor writes it on the event's log item (`lastError`,
`lastErrorAt`, `failures`; `DynamoRepository.record_failure`), read back here with one BatchGetItem
per page of messages.

Moving back (`redrive`): SQS `StartMessageMoveTask` (DLQ → its source queue), polled with
`ListMessageMoveTasks` until it completes or fails. Where that API is missing (an emulator such as the
local stack's moto), messages move one by one: receive from the DLQ, send to the source queue, and only
after the send succeeded delete from the DLQ, so none is lost. On a FIFO queue the send keeps the
message group and takes a deduplication id derived from the dead letter's message id, so a redrive
interrupted between a send and its delete and run again within SQS's five-minute deduplication window
sends nothing twice; past the window the processor's processed-once guard makes a second copy harmless.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from typing import Any

from parity_cli.errors import CliError
from parity_cli.progress import Progress
from parity_cli.resources import QueuePair, queue_name_of

HOLD_SECONDS = 30  # how long `peek` keeps a page out of sight at most (released at once when done)
REDRIVE_HOLD_SECONDS = 60  # one-by-one: time to send and delete a page of ten
POLL_SECONDS = 2.0  # ListMessageMoveTasks polling
DEDUP_PREFIX = "redrive-"
FINISHED = ("COMPLETED", "FAILED", "CANCELLED")
# How a service that lacks an action says so. An emulator that does not know it may also answer a bare
# HTTP 500 with an HTML page instead of an AWS error (moto's server): see `move_task_unsupported`.
UNSUPPORTED_CODES = frozenset(
    {
        "InvalidAction",
        "UnknownOperation",
        "UnknownOperationException",
        "NotImplemented",
        "UnsupportedOperation",
        "AWS.SimpleQueueService.UnsupportedOperation",
    }
)
_COUNTS = ("ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible", "ApproximateNumberOfMessagesDelayed")


def _iso_from_millis(value: str | None) -> str | None:
    if not value:
        return None
    moment = datetime.fromtimestamp(int(value) / 1000, tz=timezone.utc)
    return moment.isoformat(timespec="seconds").replace("+00:00", "Z")


def dedup_id(dlq_message_id: str) -> str:
    """The MessageDeduplicationId of a dead letter's resend: the same for every redrive of it."""
    return f"{DEDUP_PREFIX}{dlq_message_id}"[:128]


# ------------------------------------------------------------------------------------------ listing


@dataclass
class DeadLetterQueue:
    name: str  # the pair's name: StoreEvents
    url: str
    arn: str
    source_url: str | None
    source_arn: str | None
    fifo: bool
    visible: int
    in_flight: int
    delayed: int = 0

    @property
    def queue_name(self) -> str:
        return queue_name_of(self.url)

    @property
    def source_name(self) -> str | None:
        return queue_name_of(self.source_url) if self.source_url else None

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "dlq": self.queue_name,
            "dlqUrl": self.url,
            "dlqArn": self.arn,
            "sourceQueue": self.source_name,
            "sourceQueueUrl": self.source_url,
            "sourceQueueArn": self.source_arn,
            "fifo": self.fifo,
            "visible": self.visible,
            "inFlight": self.in_flight,
            "delayed": self.delayed,
            "total": self.visible + self.in_flight + self.delayed,
        }


def describe(sqs, pair: QueuePair) -> DeadLetterQueue:
    attributes = sqs.get_queue_attributes(QueueUrl=pair.dlq_url, AttributeNames=["QueueArn", "FifoQueue", *_COUNTS])[
        "Attributes"
    ]
    source_arn = None
    if pair.queue_url:
        source_arn = sqs.get_queue_attributes(QueueUrl=pair.queue_url, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"
        ]
    return DeadLetterQueue(
        name=pair.name,
        url=pair.dlq_url,
        arn=attributes["QueueArn"],
        source_url=pair.queue_url,
        source_arn=source_arn,
        fifo=attributes.get("FifoQueue") == "true" or pair.dlq_url.endswith(".fifo"),
        visible=int(attributes.get("ApproximateNumberOfMessages", 0)),
        in_flight=int(attributes.get("ApproximateNumberOfMessagesNotVisible", 0)),
        delayed=int(attributes.get("ApproximateNumberOfMessagesDelayed", 0)),
    )


def describe_all(sqs, pairs: Sequence[QueuePair]) -> list[DeadLetterQueue]:
    return [describe(sqs, pair) for pair in pairs]


# ---------------------------------------------------------------------------------------- peeking


@dataclass
class DeadLetter:
    message_id: str
    source: str | None
    event_id: str | None
    group: str | None
    receive_count: int
    sent_at: str | None
    first_received_at: str | None
    event_type: str | None = None
    in_event_log: bool | None = None  # None: not looked up (no table known, or no event in the body)
    last_error: str | None = None
    last_error_at: str | None = None
    failures: int | None = None
    processed_at: str | None = None
    outcome: str | None = None
    subject: dict[str, Any] = field(default_factory=dict)  # a body that names no event: its short ids

    def to_json(self) -> dict[str, Any]:
        return {
            "messageId": self.message_id,
            "source": self.source,
            "eventId": self.event_id,
            "subject": self.subject,
            "eventType": self.event_type,
            "messageGroupId": self.group,
            "receiveCount": self.receive_count,
            "sentAt": self.sent_at,
            "firstReceivedAt": self.first_received_at,
            "inEventLog": self.in_event_log,
            "failure": None
            if self.last_error is None
            else {"error": self.last_error, "at": self.last_error_at, "failures": self.failures},
            "processedAt": self.processed_at,
            "outcome": self.outcome,
        }


# Never shown from a body, whatever the queue: payloads and credentials.
_PRIVATE_KEYS = ("body", "payload", "token", "signature", "secret", "receipt", "key", "password")


def _subject(body: dict) -> dict[str, Any]:
    """The short scalar fields of a body that names no event (`{"kind", "purchaseId", "reportId"}`)."""
    return {
        name: value
        for name, value in body.items()
        if isinstance(value, (str, int, float))
        and not isinstance(value, bool)
        and len(str(value)) <= 80
        and not any(word in name.lower() for word in _PRIVATE_KEYS)
    }


def _dead_letter(message: dict) -> DeadLetter:
    attributes = message.get("Attributes") or {}
    try:
        body = json.loads(message.get("Body") or "")
    except ValueError:
        body = None
    body = body if isinstance(body, dict) else {}
    source, event_id = body.get("source"), body.get("eventId")
    return DeadLetter(
        message_id=message["MessageId"],
        source=source if isinstance(source, str) else None,
        event_id=event_id if isinstance(event_id, str) else None,
        group=attributes.get("MessageGroupId"),
        receive_count=int(attributes.get("ApproximateReceiveCount", 0)),
        sent_at=_iso_from_millis(attributes.get("SentTimestamp")),
        first_received_at=_iso_from_millis(attributes.get("ApproximateFirstReceiveTimestamp")),
        subject={} if isinstance(source, str) and isinstance(event_id, str) else _subject(body),
    )


def _receive(sqs, url: str, count: int, hold_seconds: int, message_attributes: bool = False) -> list[dict]:
    """One page. An empty short poll is trusted only when the queue says nothing is visible."""
    kwargs: dict[str, Any] = {
        "QueueUrl": url,
        "MaxNumberOfMessages": max(1, min(count, 10)),
        "VisibilityTimeout": hold_seconds,
        "AttributeNames": ["All"],
    }
    if message_attributes:
        kwargs["MessageAttributeNames"] = ["All"]
    messages = sqs.receive_message(WaitTimeSeconds=0, **kwargs).get("Messages", [])
    if messages:
        return messages
    visible = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"])["Attributes"]
    if int(visible.get("ApproximateNumberOfMessages", 0)) == 0:
        return []
    return sqs.receive_message(WaitTimeSeconds=2, **kwargs).get("Messages", [])


def _release(sqs, url: str, messages: Sequence[dict]) -> None:
    """Make held messages visible again now (best effort: otherwise they come back after the hold)."""
    for start in range(0, len(messages), 10):
        entries = [
            {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"], "VisibilityTimeout": 0}
            for i, m in enumerate(messages[start : start + 10])
        ]
        try:
            sqs.change_message_visibility_batch(QueueUrl=url, Entries=entries)
        except Exception:  # noqa: BLE001 - the hold ends by itself
            pass


def peek(
    sqs,
    dynamodb,
    table_name: str | None,
    dlq: DeadLetterQueue,
    max_messages: int,
    progress: Progress | None = None,
    hold_seconds: int = HOLD_SECONDS,
) -> list[DeadLetter]:
    """Up to `max_messages` dead letters with their recorded failure, none consumed."""
    letters: dict[str, DeadLetter] = {}
    held: list[dict] = []
    try:
        while len(letters) < max_messages:
            page = _receive(sqs, dlq.url, max_messages - len(letters), hold_seconds)
            held += page
            fresh = [_dead_letter(m) for m in page if m["MessageId"] not in letters]
            if not fresh:
                break
            if table_name and dynamodb is not None:
                look_up_failures(dynamodb, table_name, fresh)
            for letter in fresh[: max_messages - len(letters)]:
                letters[letter.message_id] = letter
            if progress is not None:
                progress.update(len(letters))
    finally:
        _release(sqs, dlq.url, held)
    return list(letters.values())


def look_up_failures(dynamodb, table_name: str, letters: Sequence[DeadLetter], attempts: int = 5) -> None:
    """The event log's record of each letter's event (failure reason, processed or not): one BatchGetItem."""
    from parity.adapters.dynamodb import event_key

    wanted = {}
    for letter in letters:
        if letter.source and letter.event_id:
            key = event_key(letter.source, letter.event_id)
            wanted[key["PK"]["S"]] = key
    if not wanted:
        return
    request = {
        table_name: {
            "Keys": list(wanted.values()),
            "ProjectionExpression": "#pk, #type, #error, #at, #failures, #processed, #outcome",
            "ExpressionAttributeNames": {
                "#pk": "PK",
                "#type": "eventType",
                "#error": "lastError",
                "#at": "lastErrorAt",
                "#failures": "failures",
                "#processed": "processedAt",
                "#outcome": "outcome",
            },
        }
    }
    found: dict[str, dict] = {}
    for attempt in range(attempts):
        answer = dynamodb.batch_get_item(RequestItems=request)
        for item in answer.get("Responses", {}).get(table_name, []):
            found[item["PK"]["S"]] = item
        request = answer.get("UnprocessedKeys") or {}
        if not request:
            break
        time.sleep(0.05 * 2**attempt)
    for letter in letters:
        if not (letter.source and letter.event_id):
            continue
        item = found.get(event_key(letter.source, letter.event_id)["PK"]["S"])
        letter.in_event_log = item is not None
        if item is None:
            continue
        letter.event_type = item.get("eventType", {}).get("S")
        letter.last_error = item.get("lastError", {}).get("S")
        letter.last_error_at = item.get("lastErrorAt", {}).get("S")
        letter.failures = int(item["failures"]["N"]) if "failures" in item else None
        letter.processed_at = item.get("processedAt", {}).get("S")
        letter.outcome = item.get("outcome", {}).get("S")


# ------------------------------------------------------------------------------------- redriving


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


def move_task_unsupported(error: BaseException) -> str | None:
    """Why `error` means "no StartMessageMoveTask here" (None: a real failure of a supported call)."""
    if isinstance(error, NotImplementedError):
        return f"not implemented by this endpoint ({error})"
    response = getattr(error, "response", None)
    if not isinstance(response, dict):
        return None
    details = response.get("Error") or {}
    code, message = str(details.get("Code", "")), str(details.get("Message", ""))
    status = (response.get("ResponseMetadata") or {}).get("HTTPStatusCode")
    if code in UNSUPPORTED_CODES or status == 501:
        return f"{code or status}: {message}".strip(": ")
    if code.isdigit() and message.lstrip().startswith("<"):  # an HTML error page: not an AWS service
        return f"the endpoint answered HTTP {code} without an AWS error"
    return None


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
        page = _receive(sqs, dlq.url, wanted, hold_seconds, message_attributes=True)
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
            _release(sqs, dlq.url, held)
    result.status = "COMPLETED"
