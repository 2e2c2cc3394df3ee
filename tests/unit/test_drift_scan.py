"""The drift scan and the reconcile worker on the in-memory fakes (`services.drift`): what is due is
checked once until its recheck, stale access is swept, each kind of drift found at the store is repaired
through the processing path and reported. The functions' wiring (the due index read without a table
scan, a failed check left to SQS, the Play client) is in tests/integration/test_drift.py."""

from __future__ import annotations

import pytest

from tests.support import stripe
from tests.support.fakes import FakeStripeApi
from tests.support.services import NOW, World

DAY = stripe.DAY
T0 = int(NOW.timestamp()) - 3600  # a store event time an hour ago


@pytest.fixture
def world() -> World:
    return World()


def subscribe(world: World, sub: str, end: int, user: str | None = "u_drift", created: int = T0) -> None:
    world.deliver(stripe.event("customer.subscription.created", stripe.subscription(sub, "active", end, user_id=user), created=created))
    world.drain()
    assert not world.failed


def test_a_checked_purchase_is_not_due_again_until_its_recheck(world):
    subscribe(world, "sub_checked", T0 + 30 * DAY)
    world.clock.advance(days=8)
    assert world.scan()["selected"] == 1
    assert world.scan()["selected"] == 0
    world.clock.advance(days=8)
    assert world.scan()["selected"] == 1


def test_stale_access_without_store_credentials_is_swept_and_published(world):
    # GIVEN access until tomorrow, and no Stripe API key: nothing to ask
    subscribe(world, "sub_stale", T0 + DAY, user="u_stale")
    world.publisher.changes()

    # WHEN the period has passed without a webhook and the scan runs
    world.clock.advance(days=2)
    result = world.scan()

    # THEN the ended access is written and published, and the report says so
    assert world.read("u_stale")["entitlements"]["pro"]["active"] is False
    assert [(c["userId"], c["old"]["active"], c["new"]["active"]) for c in world.publisher.changes()] == [("u_stale", True, False)]
    assert result["counts"]["stale_access"] == 1 and result["counts"]["swept"] == 1 and result["counts"]["repaired"] == 1
    assert result["examples"][0]["subject"] == "stripe:sub_stale"
    # AND a second scan finds nothing more to publish
    world.clock.advance(days=8)
    again = world.scan()
    assert "stale_access" not in again["counts"] and world.publisher.changes() == []


def test_each_kind_of_drift_is_found_repaired_and_reported():
    world = World(stripe_api=FakeStripeApi())
    api = world.stripe_api
    # GIVEN Parity's view of four subscriptions, and Stripe's truth, which moved on without webhooks
    end = T0 + DAY
    for sub, user in [("sub_canceled", "u_1"), ("sub_renewed", "u_2"), ("sub_gone", "u_3"), ("sub_orphan", None)]:
        api.subscriptions[sub] = stripe.subscription(sub, "active", end, user_id=user)
        subscribe(world, sub, end, user=user)
    api.subscriptions["sub_canceled"] = stripe.subscription("sub_canceled", "canceled", end, user_id="u_1")
    api.subscriptions["sub_renewed"] = stripe.subscription("sub_renewed", "active", end + 30 * DAY, user_id="u_2")
    del api.subscriptions["sub_gone"]
    api.subscriptions["sub_orphan"] = stripe.subscription("sub_orphan", "active", end + 30 * DAY, user_id=None)
    api.calls.clear()
    world.publisher.changes()

    # WHEN the period ends and the scan runs
    world.clock.advance(days=2)
    result = world.scan()

    # THEN each purchase was asked about once, and the report counts each kind
    subscriptions = sorted(call for call in api.calls if call[0] == "subscription")
    assert subscriptions == [("subscription", s) for s in ("sub_canceled", "sub_gone", "sub_orphan", "sub_renewed")]
    counts = result["counts"]
    assert (counts["checked"], counts["unknown"]) == (3, 1)
    assert (counts["state_differs"], counts["expiry_differs"], counts["unknown_at_store"], counts["owner_missing"]) == (1, 2, 1, 1)
    assert counts["repaired"] == 3
    # AND the repairs went through the processing path: state, entitlements, change events
    assert world.has("u_2")
    assert world.read("u_1")["entitlements"]["pro"]["state"] == "expired"
    published = {(c["userId"], c["new"]["active"]) for c in world.publisher.changes()}
    assert ("u_2", True) in published and ("u_1", False) in published
    # AND what Stripe said is in the event log, next to the webhooks
    fetched = [event for (source, _), event in world.store.events.items() if source == "reconcile"]
    assert {event.event_type for event in fetched} == {"stripe.subscription"}


def test_a_scans_report_reaches_complete_once_every_check_is_reported(world):
    subscribe(world, "sub_a", T0 + 30 * DAY)
    subscribe(world, "sub_b", T0 + 30 * DAY, user="u_b")
    world.clock.advance(days=8)  # both due for their weekly recheck

    report = world.scan()

    assert report["selected"] == 2 and report["status"] == "complete" and report["completedAt"]


def test_a_report_stays_queued_while_checks_are_missing(world):
    subscribe(world, "sub_a", T0 + 30 * DAY)
    world.clock.advance(days=8)
    started = world.drift_scan().run()
    reconciler = world.reconciler()
    first = world.reconcile_queue.take()[:1]  # the workers have done one check of two
    reconciler.report(started["reportId"], [reconciler.handle(m) for m in first])
    assert world.store.report(started["reportId"])["status"] == "queued"
