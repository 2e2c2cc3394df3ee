"""Retrying store API calls: exponential backoff with jitter, and the store's `Retry-After` honoured."""

from __future__ import annotations

import email.utils
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Backoff:
    """How often and how long a client retries a call the store answered "later" (429, 5xx, timeouts)."""

    max_attempts: int = 3
    base: float = 0.5
    ceiling: float = 4.0
    max_retry_after: float = 10.0
    sleep: Callable[[float], None] = field(default=time.sleep, repr=False)
    jitter: Callable[[], float] = field(default=random.random, repr=False)

    def delay(self, attempt: int, retry_after: float | None) -> float | None:
        """Seconds to wait before attempt `attempt + 1`; None when the store asks for longer than we may
        wait (the caller then gives up and lets its own retry — the queue — take over)."""
        if retry_after is not None:
            return retry_after if retry_after <= self.max_retry_after else None
        ceiling = min(self.ceiling, self.base * 2 ** (attempt - 1))
        return ceiling / 2 + self.jitter() * ceiling / 2  # exponential, with half of it jittered


def retry_after_seconds(value: str | None) -> float | None:
    """`Retry-After` in seconds, from delay-seconds or an HTTP date."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        moment = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, moment.timestamp() - time.time())
