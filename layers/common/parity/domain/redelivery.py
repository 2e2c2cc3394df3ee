"""When a failed queue message is delivered again: the backoff schedule, as pure arithmetic.

A message that fails is not dead-lettered by the function: it is made visible again after a delay
(SQS ChangeMessageVisibility), and SQS moves it to the dead-letter queue once it has been received
`maxReceiveCount` times. Two schedules share that count:

- a store outage (a store answered 5xx or 429, timed out, or could not be reached): long, exponential
  delays up to hours, so that a day-long outage spends only a few dozen receives and the message
  applies once the store is back;
- any other failure (a bug, a malformed message, an event whose purchase is not known yet): short
  delays, so that a poison message reaches the dead-letter queue within the hour.

Delays are jittered downwards (by up to `jitter` of the delay) so that the messages held back by one
outage do not all come back at the same second. The guarantees below are computed with the shortest
delays, i.e. the fastest a message can use up its receives.
"""

from __future__ import annotations

from dataclasses import dataclass

SQS_MAX_VISIBILITY_SECONDS = 43_200  # 12 h: ChangeMessageVisibility refuses more
_MAX_EXPONENT = 32  # 2**32 s is far beyond any ceiling: keeps the arithmetic small


@dataclass(frozen=True)
class RetrySchedule:
    """Delay before the next delivery of a message that failed on its `receive_count`-th receive."""

    outage_base: int = 30
    outage_ceiling: int = 3_600
    error_base: int = 15
    error_ceiling: int = 60
    jitter: float = 0.2  # a delay is shortened by up to this fraction

    def __post_init__(self) -> None:
        for name in ("outage_base", "outage_ceiling", "error_base", "error_ceiling"):
            value = getattr(self, name)
            if not 0 <= value <= SQS_MAX_VISIBILITY_SECONDS:
                raise ValueError(f"{name} must be between 0 and {SQS_MAX_VISIBILITY_SECONDS} seconds, not {value}")
        if self.outage_base > self.outage_ceiling or self.error_base > self.error_ceiling:
            raise ValueError("a retry base cannot exceed its ceiling")
        if not 0 <= self.jitter < 1:
            raise ValueError("jitter must be a fraction in [0, 1)")

    def full_delay(self, receive_count: int, outage: bool) -> int:
        """min(ceiling, base * 2**(n-1)): the delay before jitter."""
        base, ceiling = (self.outage_base, self.outage_ceiling) if outage else (self.error_base, self.error_ceiling)
        exponent = min(max(receive_count - 1, 0), _MAX_EXPONENT)
        return min(ceiling, base * 2**exponent)

    def delay(self, receive_count: int, outage: bool, draw: float = 0.0) -> int:
        """The delay to set, `draw` in [0, 1) (a random number: 0 gives the full delay)."""
        full = self.full_delay(receive_count, outage)
        return max(0, round(full * (1 - self.jitter * min(max(draw, 0.0), 1.0))))

    def shortest_delay(self, receive_count: int, outage: bool) -> int:
        return self.delay(receive_count, outage, draw=1.0)

    def earliest_receive(self, receive_count: int, outage: bool) -> int:
        """Seconds from a message's first receive to its `receive_count`-th, at the earliest (every
        delivery failing at once, every delay at its shortest)."""
        return sum(self.shortest_delay(n, outage) for n in range(1, receive_count))

    def latest_receive(self, receive_count: int, outage: bool) -> int:
        """The same, with every delay at its full length (processing time not counted)."""
        return sum(self.full_delay(n, outage) for n in range(1, receive_count))

    def receives_within(self, seconds: int, outage: bool) -> int:
        """The most receives a message failing all along can have within `seconds` of its first."""
        count = 1
        while self.earliest_receive(count + 1, outage) <= seconds:
            count += 1
            if count > 100_000:  # a zero schedule: unbounded
                break
        return count

    def survives(self, seconds: int, max_receive_count: int) -> bool:
        """True when an outage of `seconds` cannot dead-letter a message. SQS moves a message to the
        dead-letter queue instead of delivering it a `max_receive_count + 1`-th time, so the last
        delivery, the `max_receive_count`-th, must come after the outage: at most
        `max_receive_count - 1` receives may fall within it."""
        return self.receives_within(seconds, outage=True) < max_receive_count
