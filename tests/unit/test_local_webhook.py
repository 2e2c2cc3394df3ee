"""The local stack's backend webhook (local/webhook.py): what it POSTs, which answers it retries, its
backoff, when it gives up (dead letter), and that its thread stops with the stack. No sockets: the
outbox runs on a fake clock and a scripted backend, the sender on a recording opener, the thread on an
in-memory queue."""

from __future__ import annotations

import io
import json
import threading
import urllib.error

import pytest

from local.resources import load_template
from local.webhook import (
    EVENT_KEYS,
    Attempt,
    HttpSender,
    Outbox,
    RetryPolicy,
    WebhookDelivery,
    event_json,
)

EVENT = {
    "version": "0",
    "id": "4f6d3c1e-0000-4000-8000-000000000001",
    "detail-type": "entitlement.changed",
    "source": "parity",
    "account": "123456789012",
    "time": "2026-11-22T10:00:00Z",
    "region": "us-east-1",
    "resources": [],
    "detail": {"changeId": "stripe:evt_1:u_1:pro", "userId": "u_1", "entitlement": "pro", "old": None, "new": {}},
    "ingestion-time": 1790000000.0,  # moto's own key: not EventBridge's
}
NO_JITTER = RetryPolicy()  # with rand=0: no jitter


class Backend:
    """Answers scripted attempts in order (then 200), recording each body."""

    def __init__(self, *answers: Attempt) -> None:
        self.answers = list(answers)
        self.bodies: list[dict] = []

    def __call__(self, body: bytes) -> Attempt:
        self.bodies.append(json.loads(body))
        return self.answers.pop(0) if self.answers else Attempt(200)


class DeadLetters(list):
    def __call__(self, event: dict, attempt: Attempt, attempts: int) -> None:
        self.append((event, attempt, attempts))


def outbox(backend: Backend, policy: RetryPolicy = NO_JITTER) -> tuple[Outbox, DeadLetters]:
    dead = DeadLetters()
    return Outbox(backend, policy, dead, rand=lambda: 0.0), dead


def run_until_empty(box: Outbox, start: float = 0.0, limit: int = 1000) -> list[float]:
    """Runs each attempt at the moment it is due; the attempt times."""
    times, now = [], start
    for _ in range(limit):
        due = box.next_due()
        if due is None:
            return times
        now = max(now, due)
        box.run_due(now)
        times.append(now)
    raise AssertionError("the outbox never emptied")


# ------------------------------------------------------------------------------------ payload and headers


def test_the_body_is_exactly_the_eventbridge_event_json():
    assert list(event_json(EVENT)) == list(EVENT_KEYS)
    assert "ingestion-time" not in event_json(EVENT)
    # what moto's SQS target leaves out, EventBridge always sends
    partial = {k: v for k, v in EVENT.items() if k not in ("account", "resources")}
    assert event_json(partial) == event_json(EVENT)


def test_each_event_is_posted_alone_with_the_authorization_header():
    # GIVEN a sender for the backend and its Authorization value, and an opener that records requests
    seen = []

    class Response(io.BytesIO):
        status = 204

    class Opener:
        def open(self, request, timeout):
            seen.append((request, timeout))
            return Response(b"")

    sender = HttpSender("https://backend.example/parity", "Bearer s3cret", opener=Opener())
    box, _ = outbox(Backend())
    box._send = sender
    # WHEN two events are delivered
    box.add(EVENT, 0.0)
    box.add({**EVENT, "id": "second"}, 0.0)
    box.run_due(0.0)
    # THEN each is one POST with the header, the EventBridge JSON as the body
    assert len(seen) == 2 and box.delivered == 2
    request, timeout = seen[0]
    assert request.get_method() == "POST" and request.full_url == "https://backend.example/parity"
    assert request.get_header("Authorization") == "Bearer s3cret"
    assert request.get_header("Content-type") == "application/json; charset=utf-8"
    assert json.loads(request.data) == event_json(EVENT) and timeout == 5.0
    assert json.loads(seen[1][0].data)["id"] == "second"


def test_an_error_status_is_an_answer_and_a_connection_failure_is_none():
    class Refusing:
        def open(self, request, timeout):
            raise ConnectionRefusedError(111, "Connection refused")

    class Failing:
        def open(self, request, timeout):
            raise urllib.error.HTTPError(request.full_url, 503, "Unavailable", {}, io.BytesIO(b""))

    assert HttpSender("http://x", "a", opener=Failing())(b"{}") == Attempt(503)
    refused = HttpSender("http://x", "a", opener=Refusing())(b"{}")
    assert refused.status is None and "Connection refused" in refused.error and refused.retried


def test_without_an_authorization_value_no_header_is_sent():
    assert HttpSender("http://x", None).request(b"{}").get_header("Authorization") is None


# ------------------------------------------------------------------------------------ retries and backoff


def test_a_failing_backend_is_retried_with_exponential_backoff_until_it_accepts():
    # GIVEN a backend that fails four times (5xx, throttling, no answer, 401) then accepts
    backend = Backend(Attempt(500), Attempt(429), Attempt(None, "timed out"), Attempt(401))
    box, dead = outbox(backend)
    # WHEN an event arrives at t=100
    box.add(EVENT, 100.0)
    times = run_until_empty(box, 100.0)
    # THEN it was tried at once, then 1, 2, 4 and 8 s after each failure, the same event each time
    assert times == [100.0, 101.0, 103.0, 107.0, 115.0]
    assert [body["id"] for body in backend.bodies] == [EVENT["id"]] * 5
    assert box.delivered == 1 and dead == []


def test_the_backoff_is_capped_and_jittered_shorter():
    policy = RetryPolicy(first_delay=1, factor=2, max_delay=60, jitter=0.2)
    assert [policy.delay(n, lambda: 0.0) for n in (1, 2, 3, 7, 8, 20)] == [1, 2, 4, 60, 60, 60]
    assert policy.delay(3, lambda: 1.0) == pytest.approx(3.2)
    assert all(0.8 <= policy.delay(1) <= 1.0 for _ in range(100))


@pytest.mark.parametrize("status", [400, 403, 404, 413, 301, 302])
def test_answers_eventbridge_does_not_retry_are_dead_lettered_at_once(status):
    backend = Backend(Attempt(status))
    box, dead = outbox(backend)
    box.add(EVENT, 0.0)
    assert run_until_empty(box) == [0.0]
    ((event, attempt, attempts),) = dead
    assert event == event_json(EVENT) and attempt.status == status and attempts == 1


@pytest.mark.parametrize("status", [401, 407, 409, 429, 500, 502, 503, 504])
def test_answers_eventbridge_retries_are_retried(status):
    box, dead = outbox(Backend(Attempt(status)))
    box.add(EVENT, 0.0)
    assert run_until_empty(box) == [0.0, 1.0] and dead == []


def test_after_the_retry_limit_the_event_is_dead_lettered():
    backend = Backend(*[Attempt(503)] * 10)
    box, dead = outbox(backend, RetryPolicy(max_retries=3, jitter=0))
    box.add(EVENT, 0.0)
    assert run_until_empty(box) == [0.0, 1.0, 3.0, 7.0]  # the first attempt and three retries
    ((_, attempt, attempts),) = dead
    assert attempt.status == 503 and attempts == 4 and len(box) == 0


def test_an_event_older_than_the_maximum_age_is_dead_lettered():
    box, dead = outbox(Backend(*[Attempt(None, "refused")] * 100), RetryPolicy(max_age=60, jitter=0))
    box.add(EVENT, 0.0)
    times = run_until_empty(box)
    assert times == [0.0, 1.0, 3.0, 7.0, 15.0, 31.0] and len(dead) == 1  # the next retry would be at 63 s


def test_a_failing_event_does_not_hold_back_the_others():
    # GIVEN one event the backend keeps failing, and one it accepts
    class Picky(Backend):
        def __call__(self, body: bytes) -> Attempt:
            self.bodies.append(json.loads(body))
            return Attempt(500) if json.loads(body)["id"] == "bad" else Attempt(200)

    backend = Picky()
    box, _ = outbox(backend)
    box.add({**EVENT, "id": "bad"}, 0.0)
    box.run_due(0.0)
    # WHEN another event arrives while the first waits for its retry
    box.add({**EVENT, "id": "good"}, 0.5)
    box.run_due(0.5)
    # THEN it is delivered at once
    assert [b["id"] for b in backend.bodies] == ["bad", "good"] and box.delivered == 1 and len(box) == 1


def test_the_retry_policy_is_the_templates():
    rule = load_template()["Resources"]["ChangeWebhookRule"]["Properties"]
    (target,) = rule["Targets"]
    policy = RetryPolicy.of_target(target, load_template()["Parameters"])
    assert (policy.max_retries, policy.max_age) == (185, 86400.0)
    assert rule["EventPattern"] == {"source": ["parity"]}


# ------------------------------------------------------------------------------------------- the thread


class FakeSqs:
    """An in-memory queue with the three calls the delivery thread makes."""

    def __init__(self, bodies: list[dict]) -> None:
        self.messages = [{"Body": json.dumps(b), "ReceiptHandle": str(i)} for i, b in enumerate(bodies)]
        self.deleted: list[str] = []

    def receive_message(self, QueueUrl, MaxNumberOfMessages, WaitTimeSeconds):  # noqa: N803 - boto3's names
        batch, self.messages = self.messages[:MaxNumberOfMessages], self.messages[MaxNumberOfMessages:]
        if not batch:
            threading.Event().wait(min(WaitTimeSeconds, 0.05))
        return {"Messages": batch}

    def delete_message_batch(self, QueueUrl, Entries):  # noqa: N803
        self.deleted += [entry["ReceiptHandle"] for entry in Entries]


def test_the_thread_delivers_what_the_bus_forwards_and_stops_with_the_stack():
    # GIVEN two events forwarded by the rule, and a backend that fails the first attempt
    backend = Backend(Attempt(503))
    box, dead = outbox(backend, RetryPolicy(first_delay=0.05, jitter=0))
    sqs = FakeSqs([EVENT, {**EVENT, "id": "second"}])
    stop = threading.Event()
    thread = WebhookDelivery(sqs, box, "queue-url", stop)
    # WHEN it runs until both are delivered, then the stack stops
    thread.start()
    deadline = threading.Event()
    for _ in range(200):
        if box.delivered == 2:
            break
        deadline.wait(0.02)
    stop.set()
    thread.join(timeout=5)
    # THEN both arrived (the first retried), the queue messages were taken, and the thread ended
    assert box.delivered == 2 and dead == [] and sqs.deleted == ["0", "1"]
    assert sorted(b["id"] for b in backend.bodies) == sorted([EVENT["id"], EVENT["id"], "second"])
    assert not thread.is_alive()
