"""SQS: the FIFO store-events queue (in order per purchase: the message group), and standard queues
such as the drift scan's reconcile queue."""

from __future__ import annotations

import hashlib
import re
from typing import TYPE_CHECKING

from ..domain.redelivery import SQS_MAX_VISIBILITY_SECONDS

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient


class SqsQueue:
    def __init__(self, queue_url: str, client: SQSClient | None = None) -> None:
        if client is None:
            import boto3

            client = boto3.client("sqs")
        self._url = queue_url
        self._client = client

    def send(self, body: str, group: str, dedup_id: str) -> None:
        """FIFO send; SQS drops a second send with the same dedup id within five minutes."""
        self._client.send_message(
            QueueUrl=self._url, MessageBody=body, MessageGroupId=fifo_id(group), MessageDeduplicationId=fifo_id(dedup_id)
        )

    def retry_later(self, receipt_handle: str, delay_seconds: int) -> None:
        """ChangeMessageVisibility of a message in flight: the new timeout runs from now. Lambda's event
        source leaves a failed message in flight, so this is when SQS delivers it again."""
        self._client.change_message_visibility(
            QueueUrl=self._url,
            ReceiptHandle=receipt_handle,
            VisibilityTimeout=max(0, min(int(delay_seconds), SQS_MAX_VISIBILITY_SECONDS)),
        )

    def send_batch(self, bodies: list[str]) -> None:
        """Standard-queue send of up to ten messages in one request; a refused entry raises."""
        response = self._client.send_message_batch(
            QueueUrl=self._url, Entries=[{"Id": str(n), "MessageBody": body} for n, body in enumerate(bodies)]
        )
        if response.get("Failed"):
            raise RuntimeError(f"SQS refused {len(response['Failed'])} of {len(bodies)} messages: {response['Failed'][0]}")


_FIFO_ID = re.compile(r"[!-~]{1,128}")  # what SQS accepts as a MessageGroupId or MessageDeduplicationId


def fifo_id(key: str) -> str:
    """A FIFO group or dedup id: the key itself when SQS accepts it (1–128 printable ASCII characters),
    else its SHA-256 (a Play purchase token is longer; an id may hold a space or non-ASCII), so that
    distinct keys never share an id."""
    if _FIFO_ID.fullmatch(key):
        return key
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()
