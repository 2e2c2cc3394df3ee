"""Store outages against moto: a retryable store error hands the message back after the outage backoff
(ChangeMessageVisibility) instead of spending its receives; other failures still come back soon and are
dead-lettered; a day-long Stripe outage, lived through with the clock compressed (each backoff is
skipped over, nothing sleeps), ends with every event applied and nothing dead-lettered."""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass, field

import pytest

from local.resources import load_template
from parity.adapters.sqs import SqsQueue
from parity.batch import BatchFailed
from parity.domain.redelivery import RetrySchedule
from tests.support import stripe
from tests.support.lambda_events import LambdaContext, sqs_event
from tests.support.stripe_api import stripe_api_server

DAY = stripe.DAY
MAX_RECEIVE_COUNT = load_template()["Parameters"]["MaxReceiveCount"]["Default"]
SCHEDULE = RetrySchedule()


@dataclass
class Delays:
    """Every ChangeMessageVisibility the functions made: (receipt handle, seconds), in order."""

    calls: list[tuple[str, int]] = field(default_factory=list)

    def take(self) -> list[tuple[str, int]]:
        taken, self.calls = self.calls, []
        return taken


@pytest.fixture
def delays(monkeypatch) -> Delays:
    recorded, real = Delays(), SqsQueue.retry_later

    def spy(self, receipt_handle, delay_seconds):
        recorded.calls.append((receipt_handle, delay_seconds))
        return real(self, receipt_handle, delay_seconds)

    monkeypatch.setattr(SqsQueue, "retry_later", spy)
    return recorded


@pytest.fixture
def api(stack, monkeypatch):
    """The Stripe API imitation; stripe-python's own retry pause skipped (the clock is compressed)."""
    import stripe as stripe_sdk

    monkeypatch.setattr(stripe_sdk._http_client.HTTPClient, "_sleep_time_seconds", lambda self, n, *a: 0)
    with stripe_api_server() as state:
        os.environ["STRIPE_API_KEY"] = "sk_test_parity_outage"
        os.environ["STRIPE_API_BASE"] = state.base_url
        stack.reload()
        yield state


def subscription_events(sub: str, user: str, t0: int) -> tuple[dict, dict]:
    created = stripe.event(
        "customer.subscription.created", stripe.subscription(sub, "active", t0 + 30 * DAY, user_id=user), created=t0
    )
    updated = stripe.event(
        "customer.subscription.updated",
        stripe.subscription(sub, "active", t0 + 30 * DAY, user_id=user, cancel_at_period_end=True),
        created=t0 + 10,
    )
    return created, updated


def test_a_store_outage_hands_the_message_back_for_the_outage_backoff_not_the_dlq(stack, api, delays, t0):
    # GIVEN Stripe answers 503 to everything
    api.fail_with = 503
    created = stripe.event("customer.subscription.created", stripe.subscription("sub_o", user_id="u_o"), created=t0)
    stack.deliver(created)
    stack.counter.reset()

    # WHEN the processor gets the event
    drained = stack.drain()

    # THEN the record fails, and its visibility is set to the first outage delay (30 s, less jitter)
    assert len(drained.failed) == 1 and not drained.succeeded
    ((_, delay),) = delays.take()
    assert SCHEDULE.shortest_delay(1, True) <= delay <= SCHEDULE.full_delay(1, True) == 30
    assert stack.counter.count("sqs", "ChangeMessageVisibility") == 1
    # AND it is neither visible nor dead-lettered: it waits in flight
    assert stack.receive() == [] and stack.queue_depth() == 1 and stack.queue_depth(stack.dlq_url) == 0
    assert stack.event_item(created["id"])["lastError"].startswith("StoreApiError: Stripe answered 503")


def test_any_other_failure_comes_back_soon_and_a_poison_message_still_reaches_the_dlq(stack, delays):
    # GIVEN a message nothing can process
    stack.send_raw("{not json", group="poison", dedup_id="poison-1")

    # WHEN it fails on every receive
    receives = 0
    while stack.drain().failed:
        receives += 1
        stack.redeliver_failed()

    # THEN each time it was handed back on the short schedule, and SQS dead-lettered it after maxReceiveCount
    assert receives == MAX_RECEIVE_COUNT
    handed_back = [d for _, d in delays.take()]
    assert len(handed_back) == MAX_RECEIVE_COUNT
    for n, delay in enumerate(handed_back, 1):
        assert SCHEDULE.shortest_delay(n, False) <= delay <= SCHEDULE.full_delay(n, False) <= 60
    assert stack.queue_depth() == 0 and stack.queue_depth(stack.dlq_url) == 1


def test_once_a_store_is_found_out_the_batchs_other_records_for_it_fail_without_calling_it(stack, api, delays, t0):
    # GIVEN Stripe is out and three purchases' events arrive together
    api.fail_with = 503
    stack.deliver(*[subscription_events(f"sub_b{n}", f"u_b{n}", t0)[0] for n in range(3)])

    # WHEN they are processed in one batch
    drained = stack.drain()

    # THEN only the first asked Stripe (one request, retried once by stripe-python); all three wait out the outage
    assert len(drained.batches) == 1 and len(drained.failed) == 3
    assert len(api.requests) == 2
    assert all(SCHEDULE.shortest_delay(1, True) <= d <= 30 for _, d in delays.take())


def test_a_record_is_not_started_too_close_to_the_timeout(stack, api, delays, t0):
    created, _ = subscription_events("sub_late", "u_late", t0)
    stack.deliver(created)
    (message,) = stack.receive()

    # WHEN the batch arrives with 20 s left of the function's time (the budget is 25 s per record)
    with pytest.raises(BatchFailed, match="All 1 records failed"):  # a batch failed whole: the invocation fails
        stack.processor.lambda_handler(sqs_event([message], stack.queue_arn), LambdaContext(remaining_ms=20_000))

    # THEN the record is handed back at once, untouched: no store call, visible again now
    assert api.requests == [] and [d for _, d in delays.take()] == [0]
    (again,) = stack.receive()
    assert again["MessageId"] == message["MessageId"]


def test_a_day_long_stripe_outage_dead_letters_nothing_and_every_event_applies_once_stripe_is_back(
    stack, api, delays, t0
):
    # GIVEN three subscriptions, two events each (one FIFO group per purchase), and Stripe's truth
    events = {}
    for n in range(3):
        sub, user = f"sub_day{n}", f"u_day{n}"
        api.subscriptions[sub] = stripe.subscription(sub, "active", t0 + 30 * DAY, user_id=user, cancel_at_period_end=True)
        events[sub] = subscription_events(sub, user, t0)
    # AND Stripe is out for 24 hours from the first delivery
    api.fail_with = 503
    outage_end = DAY
    for created, updated in events.values():
        stack.deliver(created, updated)

    # WHEN time passes: each failed message comes back when the delay its handler set runs out (the
    # simulated clock jumps there; nothing sleeps), and Stripe comes back after 24 hours
    now, due, receives, applied_at = 0, {}, Counter(), {}
    sqs = stack.session.client("sqs")
    while True:
        drained = stack.drain()
        receives.update(drained.failed + drained.succeeded)
        for message_id in drained.succeeded:
            applied_at[message_id] = now
        for handle, delay in delays.take():
            due[handle] = now + delay
        assert stack.queue_depth(stack.dlq_url) == 0, f"dead-lettered after {now / 3600:.1f} h"
        if not due:
            break
        now = min(due.values())
        if now >= outage_end:
            api.fail_with = None
        for handle in [h for h, at in due.items() if at <= now]:
            sqs.change_message_visibility(QueueUrl=stack.queue_url, ReceiptHandle=handle, VisibilityTimeout=0)
            del due[handle]

    # THEN every event was applied once Stripe was back, within an hour, and none came near the DLQ
    assert len(applied_at) == 6 and stack.queue_depth() == 0 and stack.queue_depth(stack.dlq_url) == 0
    assert all(outage_end <= at < outage_end + 3600 for at in applied_at.values())
    assert max(receives.values()) <= SCHEDULE.receives_within(outage_end, outage=True) + 1 < MAX_RECEIVE_COUNT
    for n, (created, updated) in enumerate(events.values()):
        assert stack.event_item(created["id"])["outcome"] == stack.event_item(updated["id"])["outcome"] == "applied"
        pro = stack.read(f"u_day{n}").body["entitlements"]["pro"]
        assert (pro["active"], pro["willRenew"]) == (True, False)
