"""With STRIPE_API_KEY set, the processor re-reads the subscription from the Stripe API (here a local
imitation at STRIPE_API_BASE) and converges on its truth, whatever order the events came in."""

from __future__ import annotations

import os
import time

import pytest

from parity.adapters.stripe_api import STRIPE_API_VERSION
from tests.support import stripe
from tests.support.stripe_api import stripe_api_server

DAY = stripe.DAY
API_KEY = "sk_test_parity_integration"


def rfc3339(epoch: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))


@pytest.fixture
def api(stack):
    """The Stripe API imitation, and the processor re-imported with STRIPE_API_KEY / STRIPE_API_BASE."""
    with stripe_api_server() as state:
        os.environ["STRIPE_API_KEY"] = API_KEY
        os.environ["STRIPE_API_BASE"] = state.base_url + "/"  # a trailing slash works too
        stack.reload()
        yield state


def test_a_stale_event_processed_last_still_converges_on_the_api_truth(stack, api, t0):
    user, sub = "u_api", "sub_api"
    end1, end2 = t0 + 30 * DAY, t0 + 60 * DAY
    # GIVEN Stripe's current truth: renewed, active until the second period's end
    api.subscriptions[sub] = stripe.subscription(sub, "active", end2, user_id=user)
    # AND the events arrive newest first: past_due (a failed renewal), then the old "created"
    past_due = stripe.event(
        "customer.subscription.updated", stripe.subscription(sub, "past_due", end1, user_id=user), created=t0 + 10
    )
    created = stripe.event(
        "customer.subscription.created", stripe.subscription(sub, "active", end1, user_id=user), created=t0
    )

    # WHEN each is processed as it arrives, the stale one last
    stack.deliver(past_due)
    assert not stack.drain().failed
    stack.deliver(created)
    assert not stack.drain().failed

    # THEN the purchase is what the API says, not what either event said
    pro = stack.read(user).body["entitlements"]["pro"]
    assert (pro["active"], pro["state"], pro["expiresAt"], pro["willRenew"]) == (True, "active", rfc3339(end2), True)
    # AND the API was asked for the subscription, with the key and the pinned API version
    assert api.paths() == [f"/v1/subscriptions/{sub}"] * 2
    assert {r["authorization"] for r in api.requests} == {f"Bearer {API_KEY}"}
    assert {r["stripe_version"] for r in api.requests} == {STRIPE_API_VERSION}


def test_the_api_truth_wins_over_an_event_that_says_otherwise(stack, api, t0):
    user, sub, end = "u_api2", "sub_api2", t0 + 30 * DAY
    # GIVEN the subscription was canceled at once at Stripe, but the only event delivered so far says active
    api.subscriptions[sub] = stripe.subscription(sub, "canceled", end, user_id=user, ended_at=t0 + 20)
    stack.deliver(
        stripe.event("customer.subscription.created", stripe.subscription(sub, "active", end, user_id=user), created=t0)
    )

    assert not stack.drain().failed

    pro = stack.read(user).body["entitlements"]["pro"]
    assert (pro["active"], pro["state"], pro["expiresAt"]) == (False, "expired", rfc3339(t0 + 20))


def test_a_refund_of_a_payment_not_yet_linked_is_resolved_through_the_api(stack, api, t0):
    user, sub, end = "u_api3", "sub_api3", t0 + 30 * DAY
    api.subscriptions[sub] = stripe.subscription(sub, "active", end, user_id=user)
    stack.deliver(
        stripe.event("customer.subscription.created", stripe.subscription(sub, "active", end, user_id=user), created=t0)
    )
    assert not stack.drain().failed
    # GIVEN Stripe knows the payment's invoice and subscription, Parity has not seen invoice_payment.paid
    api.invoices["in_api3"] = stripe.invoice("in_api3", sub, end)
    api.invoice_payments.append(stripe.invoice_payment("in_api3", "pi_api3", "ch_api3"))

    # WHEN the refund arrives first
    stack.deliver(stripe.event("charge.refunded", stripe.charge("ch_api3", "pi_api3"), created=t0 + 50))
    drained = stack.drain()

    # THEN it is resolved through the API at once and revokes
    assert drained.failed == []
    pro = stack.read(user).body["entitlements"]["pro"]
    assert (pro["active"], pro["state"]) == (False, "revoked")
    assert "/v1/invoice_payments" in api.paths() and "/v1/invoices/in_api3" in api.paths()
    [listing] = [r for r in api.requests if r["path"] == "/v1/invoice_payments"]
    assert listing["query"]["payment[payment_intent]"] == ["pi_api3"]


def test_a_refused_read_falls_back_on_the_events_own_facts(stack, api, t0):
    # GIVEN the API does not know the subscription (404: retrying will not change that)
    stack.deliver(
        stripe.event("customer.subscription.created", stripe.subscription("sub_gone", user_id="u_gone"), created=t0)
    )

    drained = stack.drain()

    # THEN the event is applied from what it says itself
    assert drained.failed == []
    assert stack.purchase_item("stripe:sub_gone")["state"] == "active"


def test_an_unreachable_api_fails_the_record_for_a_retry(stack, api, t0):
    # GIVEN the API answers 500 (stripe-python retries, then gives up)
    api.fail_with = 500
    stack.deliver(
        stripe.event("customer.subscription.created", stripe.subscription("sub_down", user_id="u_down"), created=t0)
    )

    drained = stack.drain()

    # THEN the record fails (SQS retries it later) and nothing is written
    assert len(drained.failed) == 1
    assert stack.purchase_item("stripe:sub_down") is None


def test_a_one_time_checkout_takes_its_products_from_the_sessions_line_items(stack, api, t0):
    # GIVEN a paid one-time Checkout Session whose webhook, as Stripe sends it, lists no line items
    session = stripe.checkout_session("u_lifetime_api", mode="payment", subscription_id=None, payment_intent="pi_life")
    api.checkout_line_items[session["id"]] = [
        {"id": "li_1", "object": "item", "price": {"id": "price_lifetime", "product": "prod_lifetime"}}
    ]

    # WHEN it is processed
    stack.deliver(stripe.event("checkout.session.completed", session, created=t0))
    assert stack.drain().failed == []

    # THEN the API's line items name the product, and the lifetime entitlement is granted without end
    body = stack.read("u_lifetime_api").body
    assert body["entitlements"]["pro"]["active"] is True
    assert body["entitlements"]["pro"]["expiresAt"] is None
    assert body["purchases"][0]["productId"] == "price_lifetime"
    assert f"/v1/checkout/sessions/{session['id']}/line_items" in api.paths()
