"""The messaging ports: the queues work travels on, and the bus that tells apps what changed."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Protocol


class Queue(Protocol):
    """A FIFO queue: in order within a message group, each message once per deduplication id."""

    def send(self, body: str, group: str, dedup_id: str) -> None:
        """Send one message in `group`; a second send with the same `dedup_id` shortly after is
        dropped by the queue (a retried send is harmless)."""


class BatchQueue(Protocol):
    """A queue that takes messages in batches and in no particular order (the drift scan's fan-out)."""

    def send_batch(self, bodies: list[str]) -> None:
        """Send up to ten messages in one request; raises when the queue refuses any of them."""


class RetryQueue(Protocol):
    """The queue a function consumes, as far as retrying a failed message goes."""

    def retry_later(self, receipt_handle: str, delay_seconds: int) -> None:
        """Deliver the received message again in `delay_seconds` (at most 12 h) instead of at the end of
        the queue's visibility timeout; each delivery counts towards the queue's `maxReceiveCount`."""


class ChangePublisher(Protocol):
    """Where entitlement changes and user notices go, for apps and operators to act on."""

    def publish(self, details: Sequence[Mapping]) -> None:
        """Publish `entitlement.changed` events and user notices (details from `changes`), at least once:
        a retry publishes again and consumers dedupe on `changeId`. Raises when any is refused."""
