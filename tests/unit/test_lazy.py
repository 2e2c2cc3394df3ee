"""`parity.lazy.at_first_use`: the adapter is built by its first use, once, and stands in for it."""

from __future__ import annotations

import threading
import time

import pytest

from parity.lazy import at_first_use, is_built


class Adapter:
    def __init__(self) -> None:
        self.calls = 0

    def send(self, body: str) -> str:
        self.calls += 1
        return body.upper()


def test_nothing_is_built_until_the_first_use_then_the_same_adapter_serves_every_use():
    # GIVEN a stand-in whose build is counted
    builds: list[Adapter] = []

    def build() -> Adapter:
        builds.append(Adapter())
        return builds[-1]

    queue = at_first_use(build)
    assert builds == [] and not is_built(queue)

    # WHEN it is used twice
    assert queue.send("a") == "A"
    assert queue.send("b") == "B"

    # THEN it was built once, and both uses reached that adapter
    assert len(builds) == 1 and is_built(queue)
    assert builds[0].calls == 2 and queue.calls == 2


def test_a_failed_build_raises_at_that_use_and_is_tried_again_at_the_next():
    attempts = []

    def build() -> Adapter:
        attempts.append(1)
        if len(attempts) == 1:
            raise RuntimeError("not yet")
        return Adapter()

    queue = at_first_use(build)
    with pytest.raises(RuntimeError, match="not yet"):
        queue.send("a")
    assert not is_built(queue)
    assert queue.send("a") == "A" and len(attempts) == 2


def test_threads_using_it_at_once_share_one_build():
    # The local stack runs handlers in threads: two first uses at once must not build twice.
    builds = []

    def build() -> Adapter:
        time.sleep(0.05)
        builds.append(Adapter())
        return builds[-1]

    queue = at_first_use(build)
    threads = [threading.Thread(target=queue.send, args=("x",)) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(builds) == 1 and builds[0].calls == 8


def test_any_other_object_counts_as_built():
    assert is_built(Adapter()) and is_built(None)
