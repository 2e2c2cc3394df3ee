"""Queues on this machine: what Lambda's SQS event source mappings and an EventBridge rule do on AWS.

`QueuePoller` long-polls a queue, hands each batch to its function as the SQS event Lambda builds,
and deletes what succeeded. Like Lambda's event source it leaves the failures in flight: they come back
when their visibility ends, which the function itself sets for each failed record (its backoff,
`parity.retries`: seconds to a minute after an error, up to an hour apart during a store outage;
`RETRY_*` variables shorten it), or the queue's visibility timeout when the whole invocation failed.
Moto honours FIFO groups (a group waits while one of its messages is in flight) and the queue's
RedrivePolicy: a message received `maxReceiveCount` times moves to the dead-letter queue on the next
receive, as on AWS.

`ChangeTap` subscribes a local queue to the change bus (a rule matching every event) and logs each
event to stdout as one JSON line, keeping the last ones for `GET /_local/changes`.
"""

from __future__ import annotations

import base64
import collections
import contextlib
import json
import logging
import sys
import threading

from local.functions import QueueSource
from local.resources import REGION, STACK_NAME

log = logging.getLogger("local.poller")
RECENT_CHANGES = 100


def sqs_record(message: dict, queue_arn: str) -> dict:
    """One record of the SQS event Lambda passes to a function."""
    record = {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message["Body"],
        "attributes": dict(message.get("Attributes") or {}),
        "messageAttributes": {
            name: {
                "stringValue": value.get("StringValue"),
                "binaryValue": base64.b64encode(value["BinaryValue"]).decode() if "BinaryValue" in value else None,
                "stringListValues": value.get("StringListValues", []),
                "binaryListValues": [base64.b64encode(v).decode() for v in value.get("BinaryListValues", [])],
                "dataType": value["DataType"],
            }
            for name, value in (message.get("MessageAttributes") or {}).items()
        },
        "md5OfBody": message.get("MD5OfBody"),
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": REGION,
    }
    if message.get("MD5OfMessageAttributes"):
        record["md5OfMessageAttributes"] = message["MD5OfMessageAttributes"]
    return record


class QueuePoller(threading.Thread):
    """One of a queue's pollers: like Lambda's event source, several poll a queue at once and their
    batches run concurrently; on a FIFO queue SQS (moto) hands no poller a message group another one
    has in flight, so each group is still processed one message at a time, in order."""

    def __init__(
        self, source: QueueSource, queue_url: str, queue_arn: str, sqs, stop: threading.Event, number: int = 0, front=None
    ) -> None:
        super().__init__(name=f"poll-{source.queue}-{number}", daemon=True)
        self.source, self.queue_url, self.queue_arn = source, queue_url, queue_arn
        self._sqs, self._halt = sqs, stop
        self._front = front  # local.priority.FrontDoor: batches wait for a moment without requests

    def run(self) -> None:
        while not self._halt.is_set():
            try:
                with self._front.batch() if self._front is not None else contextlib.nullcontext():
                    messages = self._sqs.receive_message(
                        QueueUrl=self.queue_url,
                        AttributeNames=["All"],
                        MessageAttributeNames=["All"],
                        MaxNumberOfMessages=min(self.source.batch_size, 10),
                        WaitTimeSeconds=1,
                    ).get("Messages", [])
                    if messages:
                        self.deliver(messages)
            except Exception:  # the poller must outlive any one failure
                if self._halt.is_set():
                    break
                log.exception("polling %s failed; retrying in 1 s", self.source.queue)
                self._halt.wait(1)

    def deliver(self, messages: list[dict]) -> None:
        """One invocation; then delete the successes. The failures stay in flight (see the module)."""
        event = {"Records": [sqs_record(message, self.queue_arn) for message in messages]}
        ids = {message["MessageId"] for message in messages}
        try:
            result = self.source.function.invoke(event)
            failed = self._failures(result, ids)
        except Exception:  # as on AWS: the whole batch is retried
            log.exception("%s failed on a batch of %d; it will be retried", self.source.function.logical_id, len(ids))
            failed = ids
        done = [m for m in messages if m["MessageId"] not in failed]
        for start in range(0, len(done), 10):
            self._sqs.delete_message_batch(
                QueueUrl=self.queue_url,
                Entries=[
                    {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(done[start : start + 10])
                ],
            )

    def _failures(self, result, ids: set[str]) -> set[str]:
        """Lambda's rules for ReportBatchItemFailures: an unusable response fails the whole batch."""
        if not self.source.report_failures or not isinstance(result, dict) or not result.get("batchItemFailures"):
            return set()
        failed = {str((item or {}).get("itemIdentifier") or "") for item in result["batchItemFailures"]}
        if not failed <= ids:  # an unknown or empty identifier
            return ids
        return failed


class ChangeTap(threading.Thread):
    """Every event on the change bus, forwarded by a rule to a local queue, logged and kept."""

    def __init__(self, sqs, events, bus_name: str, stop: threading.Event) -> None:
        super().__init__(name="change-tap", daemon=True)
        self._sqs, self._halt = sqs, stop
        self._recent: collections.deque[dict] = collections.deque(maxlen=RECENT_CHANGES)
        self._lock = threading.Lock()
        name = f"{STACK_NAME}-change-tap"
        self.queue_url = sqs.create_queue(QueueName=name)["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=self.queue_url, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"
        ]
        events.put_rule(Name=name, EventBusName=bus_name, EventPattern=json.dumps({"source": [{"prefix": ""}]}))
        events.put_targets(Rule=name, EventBusName=bus_name, Targets=[{"Id": "local-tap", "Arn": queue_arn}])

    def recent(self) -> list[dict]:
        with self._lock:
            return list(self._recent)

    def run(self) -> None:
        while not self._halt.is_set():
            try:
                messages = self._sqs.receive_message(
                    QueueUrl=self.queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=1
                ).get("Messages", [])
                for message in messages:
                    self._record(json.loads(message["Body"]))
                if messages:
                    self._sqs.delete_message_batch(
                        QueueUrl=self.queue_url,
                        Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(messages)],
                    )
            except Exception:
                if self._halt.is_set():
                    break
                log.exception("reading the change bus failed; retrying in 1 s")
                self._halt.wait(1)

    def _record(self, event: dict) -> None:
        with self._lock:
            self._recent.append(event)
        prefix = "[change]" if event.get("detail-type") == "entitlement.changed" else "[event]"
        sys.stdout.write(f"{prefix} {json.dumps(event, separators=(',', ':'))}\n")
        sys.stdout.flush()
