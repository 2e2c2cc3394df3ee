"""The receipts service's Stripe branch on the in-memory fakes (`services.receipts`): a Checkout Session
read from the Stripe API is claimed at once, before any webhook; sessions for another user or that bought
nothing are refused; an outage leaves the receipt pending with a queued retry. The route's wiring (the
API key, the expanded read, the body's validation) is in tests/integration/test_stripe_receipts.py."""

from __future__ import annotations

from itertools import count

import pytest

from parity.domain.ownership import Strategy
from tests.support import stripe as s
from tests.support.fakes import FakeStripeApi
from tests.support.services import NOW, World

DAY = s.DAY
NOW_S = int(NOW.timestamp())
_ids = count(1)


def stripe_world(**settings) -> World:
    return World(stripe_api=FakeStripeApi(), **settings)


@pytest.fixture
def world() -> World:
    return stripe_world()


def subscription_checkout(world: World, user_id: str | None, period_end: int | None = None, **session_fields) -> dict:
    """A completed subscription Checkout Session as Stripe keeps it (its subscription names no user)."""
    n = next(_ids)
    sub, customer = f"sub_rcpt{n}", f"cus_rcpt{n}"
    end = NOW_S + 30 * DAY if period_end is None else period_end
    world.stripe_api.subscriptions[sub] = s.subscription(sub, "active", end, customer=customer, user_id=None)
    session = s.checkout_session(user_id=user_id, subscription_id=sub, customer=customer, **session_fields)
    world.stripe_api.sessions[session["id"]] = session
    return session


def lifetime_checkout(world: World, user_id: str | None, **session_fields) -> dict:
    """A completed one-time Checkout Session for the lifetime price."""
    n = next(_ids)
    session = s.checkout_session(
        user_id=user_id, mode="payment", subscription_id=None, payment_intent=f"pi_rcpt{n}", **session_fields
    )
    world.stripe_api.sessions[session["id"]] = session
    world.stripe_api.line_items[session["id"]] = [
        {"id": f"li_rcpt{n}", "object": "item", "price": {"id": "price_lifetime", "product": "prod_lifetime"}}
    ]
    return session


def receipt(session: dict) -> dict:
    return {"store": "stripe", "checkoutSessionId": session["id"]}


def receipt_events(world: World, session: dict) -> list:
    return [e for (source, event_id), e in world.store.events.items() if event_id.startswith(f"receipt:{session['id']}:")]


def test_a_one_time_checkout_is_claimed_keyed_by_its_payment_intent(world):
    session = lifetime_checkout(world, "u_life")

    status, body = world.submit_receipt("u_life", receipt(session))

    assert status == 200, body
    for entitlement in ("pro", "lifetime"):
        granted = body["entitlements"][entitlement]
        assert (granted["active"], granted["expiresAt"]) == (True, None)
        assert granted["purchaseId"] == f"stripe:{session['payment_intent']}"
    assert body["purchases"][0]["productId"] == "price_lifetime"
    # the expanded session named the products: no second call for its line items
    assert world.stripe_api.calls == [("checkout_session", session["id"])]


@pytest.mark.parametrize("named_by", ["client_reference_id", "metadata.user_id"])
def test_a_session_made_for_another_user_is_a_409_and_writes_nothing(world, named_by):
    if named_by == "client_reference_id":
        session = subscription_checkout(world, "u_buyer")
    else:
        session = subscription_checkout(world, None, metadata={"user_id": "u_buyer"})

    status, body = world.submit_receipt("u_other", receipt(session))

    assert (status, body["error"]["code"]) == (409, "purchase_owned_by_another_user")
    assert world.store.get_purchase(f"stripe:{session['subscription']}") is None
    assert receipt_events(world, session) == []
    assert world.read("u_other")["entitlements"] == {}
    # the user it was made for can still claim it
    assert world.submit_receipt("u_buyer", receipt(session))[0] == 200


@pytest.mark.parametrize(
    ("kind", "fields", "says"),
    [
        ("subscription", {"status": "open", "payment_status": "unpaid"}, "not complete"),
        ("subscription", {"status": "expired", "payment_status": "unpaid"}, "not complete"),
        ("payment", {"payment_status": "unpaid"}, "not succeeded"),
        ("subscription", {"mode": "setup", "subscription": None}, "setup mode"),
    ],
)
def test_a_session_that_bought_nothing_yet_is_a_400(world, kind, fields, says):
    build = subscription_checkout if kind == "subscription" else lifetime_checkout
    session = build(world, "u_unpaid", **fields)

    status, body = world.submit_receipt("u_unpaid", receipt(session))

    assert (status, body["error"]["code"]) == (400, "unverifiable_receipt")
    assert says in body["error"]["message"]
    assert world.store.purchases == {}
    assert receipt_events(world, session) == []


def test_a_session_stripe_does_not_know_is_a_400(world):
    status, body = world.submit_receipt("u_unknown", {"store": "stripe", "checkoutSessionId": "cs_test_nosuchsession"})

    assert (status, body["error"]["code"]) == (400, "unverifiable_receipt")
    assert "404" in body["error"]["message"]
    assert world.queue.messages == []


def test_a_queued_retry_while_stripe_is_still_down_fails_for_sqs_to_retry_and_queues_nothing_new(world):
    session = subscription_checkout(world, "u_down")
    world.stripe_api.fail(503)
    assert world.submit_receipt("u_down", receipt(session))[0] == 202

    world.drain()

    assert len(world.failed) == 1  # the message itself, waiting for its retry
    assert world.queue.messages == []  # no second copy
    assert world.read("u_down")["entitlements"] == {}


@pytest.mark.parametrize("webhook_delay", [-5, 5])
def test_the_checkout_webhook_that_follows_does_not_grant_twice(world, webhook_delay):
    session = subscription_checkout(world, "u_both")
    sub = session["subscription"]
    status, claimed = world.submit_receipt("u_both", receipt(session))
    assert status == 200
    assert [c["entitlement"] for c in world.publisher.changes()] == ["pro"]

    # WHEN Stripe's own checkout.session.completed arrives (as Stripe sends it: nothing expanded)
    world.deliver(s.event("checkout.session.completed", session, created=NOW_S + webhook_delay))
    world.drain()
    assert world.failed == []

    # THEN it finds the purchase already claimed: one purchase, the same entitlement, no change published
    body = world.read("u_both")
    assert [p["purchaseId"] for p in body["purchases"]] == [f"stripe:{sub}"]
    assert body["entitlements"] == claimed["entitlements"]
    assert world.publisher.changes() == []
    assert list(world.store.purchases) == [f"stripe:{sub}"]


def test_under_first_a_second_user_submitting_the_same_session_gets_409():
    world = stripe_world(strategy=Strategy.FIRST)
    session = subscription_checkout(world, None)  # made for nobody in particular
    assert world.submit_receipt("u_first", receipt(session))[0] == 200

    status, body = world.submit_receipt("u_second", receipt(session))

    assert (status, body["error"]["code"]) == (409, "purchase_owned_by_another_user")
    assert world.read("u_second")["entitlements"] == {}
    assert world.has("u_first")


def test_under_last_the_latest_submitter_of_a_session_made_for_nobody_takes_it(world):
    session = subscription_checkout(world, None)

    for user in ("u_x", "u_y"):
        assert world.submit_receipt(user, receipt(session))[0] == 200

    assert world.has("u_y")
    assert world.read("u_x")["entitlements"]["pro"]["active"] is False


@pytest.mark.parametrize("strategy", list(Strategy))
@pytest.mark.parametrize("named_on", ["subscription", "customer"])
def test_an_unlinked_session_whose_subscription_names_another_user_is_a_409(strategy, named_on):
    world = stripe_world(strategy=strategy)
    # GIVEN a session made for nobody, whose subscription (or its customer) says it is u_buyer's
    session = subscription_checkout(world, None)
    subscription = world.stripe_api.subscriptions[session["subscription"]]
    if named_on == "subscription":
        subscription["metadata"] = {"user_id": "u_buyer"}
    else:
        subscription["customer"] = {"id": subscription["customer"], "object": "customer", "metadata": {"user_id": "u_buyer"}}

    # WHEN u_other submits it
    status, body = world.submit_receipt("u_other", receipt(session))

    # THEN it is refused; u_buyer can claim it
    assert (status, body["error"]["code"]) == (409, "purchase_owned_by_another_user")
    assert world.read("u_other")["entitlements"] == {}
    assert world.submit_receipt("u_buyer", receipt(session))[0] == 200
    assert world.has("u_buyer")
    # and once it is theirs, nobody else takes it, whatever the strategy
    assert world.submit_receipt("u_other", receipt(session))[0] == 409
    assert world.has("u_buyer")
