"""moto's SQS on the simulation's clock, and the moments a message becomes visible again.

moto's SQS reads the wall clock (`moto.sqs.models.unix_time`, `unix_time_millis`) for everything
timed: a message's visibility (the queue's `VisibilityTimeout` at receive, `ChangeMessageVisibility`),
delays, the FIFO deduplication window, retention. `simulated_sqs(clock)` points both at the simulated
clock, so the backoff the processor sets with `ChangeMessageVisibility` (`parity.retries`) and the
queue's own visibility timeout after a crash are honoured as SQS would, and the queue loop jumps the
clock to the next moment a message becomes visible (`SqsClock.next_visible`) instead of sleeping.

Two things moto does differently from SQS are corrected here, both on the path the harness exercises:

- moto refuses a `ChangeMessageVisibility` whose new timeout ends more than 12 hours after the message
  was *sent*; SQS counts the 12 hours from the *receive* ("the maximum visibility timeout is 12 hours
  from the time the ReceiveMessage request was received"). On a simulated clock, where a message
  failing under faults lives for days, moto's rule would refuse the processor's backoff.
- Costs that grow with the queue, per message received: moto checks the retention period through
  `get_queue_attributes`, which counts every message of the queue three times over, and reads the
  wall clock once per message and per check. The same checks are made here against the queue's
  attribute and one reading of the clock per receive.
"""

from __future__ import annotations

import contextlib
import heapq
import time
from collections.abc import Callable, Iterator


class SqsClock:
    """Simulated seconds since `base` (epoch seconds); the visibility deadlines moto sets, as a heap."""

    def __init__(self, base: float | None = None) -> None:
        self.base_ms = int((time.time() if base is None else base) * 1000)
        self.now = 0.0  # simulated seconds
        self._visible: list[tuple[float, str]] = []  # (visible_at in moto's ms, message id)

    def millis(self) -> float:
        return self.base_ms + self.now * 1000

    def seconds(self) -> float:
        return self.millis() / 1000

    def note(self, visible_at_ms: float, message_id: str) -> None:
        heapq.heappush(self._visible, (visible_at_ms, message_id))

    def next_visible(self, gone: Callable[[str], bool]) -> float | None:
        """The simulated second just after the earliest deadline still ahead, of a message not `gone`
        (deleted); None when none is. Deadlines already passed are dropped: what they made visible is
        received at once."""
        heap = self._visible
        while heap and (heap[0][0] < self.millis() or gone(heap[0][1])):
            heapq.heappop(heap)
        if not heap:
            return None
        return (heap[0][0] - self.base_ms) / 1000 + 0.001  # moto: visible once now > visible_at


@contextlib.contextmanager
def simulated_sqs(clock: SqsClock) -> Iterator[SqsClock]:
    from moto.sqs import models
    from moto.sqs.exceptions import InvalidParameterValue, ReceiptHandleIsInvalid

    message_class, queue_class, backend_class = models.Message, models.Queue, models.SQSBackend
    saved = {
        "unix_time": models.unix_time,
        "unix_time_millis": models.unix_time_millis,
        "change_visibility": message_class.change_visibility,
        "mark_received": message_class.mark_received,
        "visible": message_class.visible,
        "delayed": message_class.delayed,
        "messages": queue_class.messages,
        "backend_change": backend_class.change_message_visibility,
        "retention": backend_class.is_message_valid_based_on_retention_period,
    }

    def change_visibility(self, visibility_timeout: int) -> None:
        self.visible_at = clock.millis() + int(visibility_timeout) * 1000
        clock.note(self.visible_at, self.id)

    def mark_received(self, visibility_timeout: int | None = None) -> None:
        self.chaos_received_at = clock.millis()
        saved["mark_received"](self, visibility_timeout)

    def messages(self) -> list:
        now = clock.millis()
        return [m for m in self._messages if now > m.visible_at and not now < m.delayed_until]

    def change_message_visibility(self, queue_name: str, receipt_handle: str, visibility_timeout: int) -> None:
        queue = self.get_queue(queue_name)
        for message in queue._messages:
            if message.had_receipt_handle(receipt_handle):
                received = getattr(message, "chaos_received_at", message.sent_timestamp)
                if clock.millis() + int(visibility_timeout) * 1000 - received > 43_200 * 1000:
                    raise InvalidParameterValue(
                        f"Value {visibility_timeout} for parameter VisibilityTimeout is invalid. Reason: Total "
                        "VisibilityTimeout for the message is beyond the limit [43200 seconds]"
                    )
                message.change_visibility(visibility_timeout)
                if message.visible and message in queue.pending_messages:
                    queue.pending_messages.remove(message)
                return
        raise ReceiptHandleIsInvalid

    def is_valid(self, queue_name: str, message) -> bool:
        queue = self.get_queue(queue_name)
        return int(queue.message_retention_period) + message.sent_timestamp / 1000 > clock.seconds()

    models.unix_time = clock.seconds
    models.unix_time_millis = clock.millis
    message_class.change_visibility = change_visibility
    message_class.mark_received = mark_received
    message_class.visible = property(lambda self: clock.millis() > self.visible_at)
    message_class.delayed = property(lambda self: clock.millis() < self.delayed_until)
    queue_class.messages = property(messages)
    backend_class.change_message_visibility = change_message_visibility
    backend_class.is_message_valid_based_on_retention_period = is_valid
    try:
        yield clock
    finally:
        models.unix_time, models.unix_time_millis = saved["unix_time"], saved["unix_time_millis"]
        message_class.change_visibility = saved["change_visibility"]
        message_class.mark_received = saved["mark_received"]
        message_class.visible, message_class.delayed = saved["visible"], saved["delayed"]
        queue_class.messages = saved["messages"]
        backend_class.change_message_visibility = saved["backend_change"]
        backend_class.is_message_valid_based_on_retention_period = saved["retention"]
