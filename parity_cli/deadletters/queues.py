"""The dead-letter queues and their source queues, described; the paging receives that `peeking` and
`redriving` share (a page held out of sight, then released)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from parity.adapters.dead_letters import receive_page, release  # noqa: F401 - shared with the admin routes
from parity_cli.resources import QueuePair, queue_name_of

_COUNTS = ("ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible", "ApproximateNumberOfMessagesDelayed")


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
