"""A one-line progress bar on stderr: counts, percentage, rate and elapsed time.

On a terminal the line is redrawn in place (at most ten times a second); on anything else (a log, a
pipe) a plain line is written every few seconds, so logs stay readable. Nothing is drawn for a run
shorter than `delay` (a second): quick commands stay quiet. `NullProgress` is what
commands get with `--json`: the same methods, nothing written.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TextIO

BAR_WIDTH = 24


def _duration(seconds: float) -> str:
    seconds = int(seconds)
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"


class Progress:
    def __init__(
        self,
        stream: TextIO,
        label: str,
        total: int | None = None,
        unit: str = "messages",
        tty: bool | None = None,
        clock: Callable[[], float] = time.monotonic,
        interval: float | None = None,
        delay: float = 1.0,
    ) -> None:
        self.stream, self.label, self.total, self.unit = stream, label, total, unit
        self.tty = stream.isatty() if tty is None else tty
        self.interval = interval if interval is not None else (0.1 if self.tty else 5.0)
        self.delay = delay
        self._clock = clock
        self.started = clock()
        self.done = 0
        self.status = ""
        self._drawn_at: float | None = None
        self._width = 0
        self._closed = False

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def update(
        self,
        done: int | None = None,
        *,
        advance: int = 0,
        total: int | None = None,
        status: str = "",
        force: bool = False,
    ) -> None:
        """Set (`done`) or advance the count; `total` when it becomes known; `status` a short word;
        `force`: draw now (a change worth a line, such as a new status), whatever the interval."""
        self.done = done if done is not None else self.done + advance
        if total is not None:
            self.total = total
        if status:
            self.status = status
        now = self._clock()
        if now - self.started < self.delay:
            return
        if force or self._drawn_at is None or now - self._drawn_at >= self.interval:
            self._draw(now)

    def line(self, now: float | None = None) -> str:
        now = self._clock() if now is None else now
        elapsed = max(now - self.started, 1e-9)
        rate = self.done / elapsed
        if self.total:
            filled = min(BAR_WIDTH, int(BAR_WIDTH * self.done / self.total))
            bar = "[" + "#" * filled + "-" * (BAR_WIDTH - filled) + "]"
            count = f"{self.done}/{self.total} {self.unit} {min(100, 100 * self.done // self.total):3d}%"
        else:
            bar, count = "", f"{self.done} {self.unit}"
        parts = [self.label, bar, count, f"{rate:.1f}/s", _duration(elapsed), self.status]
        return " ".join(part for part in parts if part)

    def _draw(self, now: float) -> None:
        text = self.line(now)
        if self.tty:
            self.stream.write("\r" + text.ljust(self._width))
            self._width = len(text)
        else:
            self.stream.write(text + "\n")
        self.stream.flush()
        self._drawn_at = now

    def close(self) -> None:
        """Draw the final state once more (and end the line on a terminal), unless the run was quick."""
        if self._closed:
            return
        self._closed = True
        now = self._clock()
        if self._drawn_at is None and now - self.started < self.delay:
            return
        self._draw(now)
        if self.tty:
            self.stream.write("\n")
            self.stream.flush()


class NullProgress(Progress):
    """`--json`: progress is counted but never written."""

    def __init__(self, label: str = "", total: int | None = None, unit: str = "messages") -> None:
        self.label, self.total, self.unit = label, total, unit
        self.done, self.status, self.started = 0, "", time.monotonic()
        self._closed = False

    def update(
        self,
        done: int | None = None,
        *,
        advance: int = 0,
        total: int | None = None,
        status: str = "",
        force: bool = False,
    ) -> None:
        self.done = done if done is not None else self.done + advance
        if total is not None:
            self.total = total
        if status:
            self.status = status

    def close(self) -> None:
        self._closed = True
