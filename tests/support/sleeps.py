"""Recording instead of sleeping: retries are tested without waiting."""

from __future__ import annotations


class SleepRecorder:
    """A `sleep` that records the seconds it was asked to wait."""

    def __init__(self) -> None:
        self.sleeps: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.sleeps.append(seconds)
