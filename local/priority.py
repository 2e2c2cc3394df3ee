"""Deliveries first: the queue pollers hold back while the stack answers store webhooks.

On AWS the webhook functions run on capacity of their own, apart from the queue consumers: a burst of
deliveries is answered at once while the queue fills, and processing catches up. Locally every
function shares one interpreter (one core at a time), so a processor batch running during a burst
slows every answer. Here a poller about to take a batch first waits until no webhook delivery has
been answered for `QUIET` seconds; while deliveries keep coming without such a pause, one batch starts
every `MAX_HOLD` seconds. Answers keep their speed, and the queue drains between deliveries (never
stalled) and at full speed after the burst. (A batch already taken runs to the end.)
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator

MAX_HOLD = 0.5  # seconds a poller waits for a quiet moment at most: processing never stalls
QUIET = 0.05  # seconds without a request that make a quiet moment (a client's next request is on its way)


class FrontDoor:
    def __init__(self) -> None:
        self._serving = 0
        self._last = 0.0  # when the last answer was given (time.monotonic())
        self._quiet = threading.Condition()
        self._next_turn = 0.0  # while deliveries keep coming, when the next batch may start

    def track(self, handle: Callable) -> Callable:
        """`handle` (an endpoint's handler), counted while it answers."""

        def tracked(*args, **kwargs):
            with self._quiet:
                self._serving += 1
            try:
                return handle(*args, **kwargs)
            finally:
                with self._quiet:
                    self._serving -= 1
                    self._last = time.monotonic()

        return tracked

    @contextlib.contextmanager
    def batch(self, limit: float = MAX_HOLD) -> Iterator[None]:
        """Around a poller's receive and batch: at a quiet moment, or, while deliveries keep coming,
        once this poller has waited `limit` seconds and no other poller took a turn in the last
        `limit` seconds (at most one batch per `limit` seconds then, never none)."""
        deadline = time.monotonic() + limit
        with self._quiet:
            while True:
                now = time.monotonic()
                if not self._serving and now - self._last >= QUIET:
                    break
                if now >= deadline and now >= self._next_turn:
                    self._next_turn = now + limit
                    break
                self._quiet.wait(max(0.001, min(QUIET, max(deadline, self._next_turn) - now)))
        yield
