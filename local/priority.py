"""Deliveries first: the queue pollers hold back while the stack answers store webhooks.

On AWS the webhook functions run on capacity of their own, apart from the queue consumers: a burst of
deliveries is answered at once while the queue fills, and processing catches up. Locally every
function shares one interpreter (one core at a time), so a processor batch running during a burst
slows every answer. Here a poller about to take a batch first waits until no webhook delivery has
been answered for `QUIET` seconds, or `MAX_HOLD` seconds, whichever is first; while requests keep coming, the
pollers take turns, one batch at a time. Answers keep their speed, and the queue is drained between
requests (never stalled) and at full speed after the burst. (A batch already taken runs to the end.)
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
        self._turn = threading.Lock()  # while requests are answered, one batch at a time

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
        """Around a poller's receive and batch: when no request is being answered (waiting `limit`
        seconds at most for that), or else in turn with the other pollers."""
        deadline = time.monotonic() + limit
        with self._quiet:
            while True:
                now = time.monotonic()
                quiet = not self._serving and now - self._last >= QUIET
                if quiet or now >= deadline:
                    break
                self._quiet.wait(min(QUIET, deadline - now))
        if quiet:
            yield
            return
        with self._turn:
            yield
