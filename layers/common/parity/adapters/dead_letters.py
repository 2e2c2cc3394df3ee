"""The stack's dead-letter queues on SQS, with their depth history from CloudWatch
(`parity.ports.operations.DeadLetterQueues`): the admin routes' view of them, and the paging and
moving that `parity dlq` shares (`receive_page`, `release`, `dedup_id`, `move_task_unsupported`).

Looking never consumes: a page is received, held out of sight for a few seconds and made visible again
at once. Moving back is an SQS message move task where SQS has one (AWS), else one by one (an
emulator): each dead letter is sent to its source queue and deleted only after the send succeeded, on
a FIFO queue with its group and a deduplication id derived from the dead letter, so none is lost or,
within SQS's five-minute window, sent twice.

The depth history is SQS's own `ApproximateNumberOfMessagesVisible` metric (namespace `AWS/SQS`, by
`QueueName`), hourly maxima; the local stack publishes the same metric to its emulated CloudWatch.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta, timezone
from typing import Any

from ..domain.errors import NotFound
from ..ports.operations import DeadLetterMessage, DeadLetterQueueState, RedriveOutcome

HOLD_SECONDS = 30  # how long a peeked page stays out of sight at most (released at once when read)
DEDUP_PREFIX = "redrive-"
# How a service that lacks an action says so; an emulator may answer a bare HTTP 500 with an HTML page.
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
_PRIVATE = ("body", "payload", "token", "signature", "secret", "receipt", "key", "password")


def dedup_id(dlq_message_id: str) -> str:
    """The MessageDeduplicationId of a dead letter's resend: the same for every redrive of it."""
    return f"{DEDUP_PREFIX}{dlq_message_id}"[:128]


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


def receive_page(sqs, url: str, count: int, hold_seconds: int, message_attributes: bool = False) -> list[dict]:
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


def release(sqs, url: str, messages: Sequence[dict]) -> None:
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


def resend_arguments(message: dict, source_url: str, fifo: bool) -> dict[str, Any]:
    """The SendMessage of a dead letter back to its source queue (its group and a stable dedup id)."""
    kwargs: dict[str, Any] = {"QueueUrl": source_url, "MessageBody": message["Body"]}
    attributes = {
        name: {k: v for k, v in value.items() if k in ("DataType", "StringValue", "BinaryValue")}
        for name, value in (message.get("MessageAttributes") or {}).items()
    }
    if attributes:
        kwargs["MessageAttributes"] = attributes
    if fifo:
        kwargs["MessageGroupId"] = (message.get("Attributes") or {}).get("MessageGroupId") or "redrive"
        kwargs["MessageDeduplicationId"] = dedup_id(message["MessageId"])
    return kwargs


def _moment(millis: str | None) -> datetime | None:
    return datetime.fromtimestamp(int(millis) / 1000, tz=timezone.utc) if millis else None


def dead_letter(queue: str, message: dict) -> DeadLetterMessage:
    """A received dead letter as the console shows it: the event it names, or a body's short ids."""
    attributes = message.get("Attributes") or {}
    try:
        body = json.loads(message.get("Body") or "")
    except ValueError:
        body = None
    body = body if isinstance(body, dict) else {}
    source, event_id = body.get("source"), body.get("eventId")
    names_event = isinstance(source, str) and isinstance(event_id, str)
    subject = {} if names_event else {
        name: value for name, value in body.items()
        if isinstance(value, (str, int, float)) and not isinstance(value, bool) and len(str(value)) <= 80
        and not any(word in name.lower() for word in _PRIVATE)
    }  # fmt: skip
    return DeadLetterMessage(
        message_id=message["MessageId"],
        queue=queue,
        source=source if names_event else None,
        event_id=event_id if names_event else None,
        subject=subject,
        group=attributes.get("MessageGroupId"),
        receive_count=int(attributes.get("ApproximateReceiveCount", 0)),
        sent_at=_moment(attributes.get("SentTimestamp")),
    )


class SqsDeadLetterQueues:
    """The DLQs named in the settings, by queue pair: `{"StoreEvents": (source url, dlq url), ...}`."""

    def __init__(self, pairs: Mapping[str, tuple[str, str]], sqs=None, cloudwatch=None) -> None:
        import boto3

        self._pairs = dict(pairs)
        self._sqs = sqs or boto3.client("sqs")
        self._cloudwatch = cloudwatch or boto3.client("cloudwatch")
        # SQS itself has move tasks; an emulator (the local stack's moto) has none: one by one there.
        endpoint = str(getattr(getattr(self._sqs, "meta", None), "endpoint_url", "") or "")
        self.move_tasks = endpoint.endswith(".amazonaws.com") or endpoint.endswith(".amazonaws.com.cn")

    def _pair(self, queue: str) -> tuple[str, str]:
        if queue not in self._pairs:
            raise NotFound(f"There is no dead-letter queue {queue!r} (known: {', '.join(self._pairs) or 'none'}).")
        return self._pairs[queue]

    def states(self) -> list[DeadLetterQueueState]:
        states = []
        for name, (_, dlq) in self._pairs.items():
            counts = self._sqs.get_queue_attributes(
                QueueUrl=dlq, AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
            )["Attributes"]
            visible, in_flight = counts.get("ApproximateNumberOfMessages", 0), counts.get("ApproximateNumberOfMessagesNotVisible", 0)
            states.append(DeadLetterQueueState(name, dlq, int(visible), int(in_flight)))
        return states

    def depth_history(self, since: datetime) -> dict[str, list[tuple[datetime, float]]]:
        queries = [
            {
                "Id": f"q{i}",
                "Label": name,
                "MetricStat": {
                    "Metric": {
                        "Namespace": "AWS/SQS",
                        "MetricName": "ApproximateNumberOfMessagesVisible",
                        "Dimensions": [{"Name": "QueueName", "Value": dlq.rsplit("/", 1)[-1]}],
                    },
                    "Period": 3600,
                    "Stat": "Maximum",
                },
            }
            for i, (name, (_, dlq)) in enumerate(self._pairs.items())
        ]
        if not queries:
            return {}
        end = datetime.now(timezone.utc) + timedelta(hours=1)
        results = self._cloudwatch.get_metric_data(MetricDataQueries=queries, StartTime=since, EndTime=end)
        history: dict[str, list[tuple[datetime, float]]] = {name: [] for name in self._pairs}
        for result in results.get("MetricDataResults", []):
            name = result.get("Label")
            if name in history:
                history[name] = sorted(zip(result.get("Timestamps", []), result.get("Values", []), strict=True))
        return history

    def peek(self, queue: str, max_messages: int) -> list[DeadLetterMessage]:
        _, dlq = self._pair(queue)
        letters: dict[str, DeadLetterMessage] = {}
        held: list[dict] = []
        try:
            while len(letters) < max_messages:
                page = receive_page(self._sqs, dlq, max_messages - len(letters), HOLD_SECONDS)
                held += page
                fresh = [m for m in page if m["MessageId"] not in letters]
                if not fresh:
                    break
                for message in fresh[: max_messages - len(letters)]:
                    letters[message["MessageId"]] = dead_letter(queue, message)
        finally:
            release(self._sqs, dlq, held)
        return list(letters.values())

    def redrive(self, queue: str) -> RedriveOutcome:
        source, dlq = self._pair(queue)
        if self.move_tasks:
            arns = [self._arn(url) for url in (dlq, source)]
            try:
                handle = self._sqs.start_message_move_task(SourceArn=arns[0], DestinationArn=arns[1])["TaskHandle"]
                return RedriveOutcome(queue, "move-task", None, handle)
            except Exception as error:  # noqa: BLE001 - only "the endpoint has no move task" falls through
                if move_task_unsupported(error) is None:
                    raise
        return RedriveOutcome(queue, "one-by-one", self._one_by_one(source, dlq))

    def _arn(self, url: str) -> str:
        return self._sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]

    def _one_by_one(self, source: str, dlq: str) -> int:
        """Receive, send to the source queue, then (only then) delete from the DLQ; each message once
        (those sent back that fail again and return during the run are left for the next redrive)."""
        moved, resent = 0, set()
        while True:
            page = receive_page(self._sqs, dlq, 10, 60, message_attributes=True)
            fresh = [m for m in page if m["MessageId"] not in resent]
            if not fresh:
                release(self._sqs, dlq, page)
                return moved
            release(self._sqs, dlq, [m for m in page if m["MessageId"] in resent])
            for message in fresh:
                sent = self._sqs.send_message(**resend_arguments(message, source, dlq.endswith(".fifo")))
                resent.add(sent["MessageId"])
                self._sqs.delete_message(QueueUrl=dlq, ReceiptHandle=message["ReceiptHandle"])
                moved += 1

    def purge(self, queue: str) -> int:
        _, dlq = self._pair(queue)
        state = next(s for s in self.states() if s.name == queue)
        self._sqs.purge_queue(QueueUrl=dlq)
        return state.visible + state.in_flight
