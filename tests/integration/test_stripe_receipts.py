"""POST /v1/users/{userId}/receipts, stripe branch: the web-to-app path. The Checkout Session is read from
the Stripe API (a local imitation at STRIPE_API_BASE) and claimed at once, before any webhook arrives."""

from __future__ import annotations

import time
from itertools import count

import pytest

from parity.adapters.stripe_api import STRIPE_API_VERSION
from tests.support import stripe as s
from tests.support.harness import running_stack
from tests.support.stripe_api import stripe_api_server

DAY = s.DAY
API_KEY = "sk_test_parity_receipts"
_ids = count(1)


def rfc3339(epoch: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))


@pytest.fixture
def api():
    with stripe_api_server() as state:
        yield state


def stripe_env(api, **extra) -> dict:
    return {"STRIPE_API_KEY": API_KEY, "STRIPE_API_BASE": api.base_url, **extra}


@pytest.fixture
def stack(tmp_path, api):
    with running_stack(catalog_dir=tmp_path, env=stripe_env(api)) as fresh:
        yield fresh


def subscription_checkout(api, user_id: str | None, period_end: int | None = None, **session_fields) -> dict:
    """A completed subscription Checkout Session as Stripe keeps it (its subscription names no user)."""
    n = next(_ids)
    sub, customer = f"sub_rcpt{n}", f"cus_rcpt{n}"
    api.subscriptions[sub] = s.subscription(sub, "active", period_end, customer=customer, user_id=None)
    session = s.checkout_session(user_id=user_id, subscription_id=sub, customer=customer, **session_fields)
    api.checkout_sessions[session["id"]] = session
    return session


def lifetime_checkout(api, user_id: str | None, **session_fields) -> dict:
    """A completed one-time Checkout Session for the lifetime price."""
    n = next(_ids)
    session = s.checkout_session(
        user_id=user_id, mode="payment", subscription_id=None, payment_intent=f"pi_rcpt{n}", **session_fields
    )
    api.checkout_sessions[session["id"]] = session
    api.checkout_line_items[session["id"]] = [
        {"id": f"li_rcpt{n}", "object": "item", "price": {"id": "price_lifetime", "product": "prod_lifetime"}}
    ]
    return session


def receipt(session: dict) -> dict:
    return {"store": "stripe", "checkoutSessionId": session["id"]}


def receipt_events(stack, session: dict) -> list[dict]:
    prefix = f"EVENT#stripe#receipt:{session['id']}:"
    return [item for item in stack.table_items() if item["PK"].startswith(prefix)]


def test_a_paid_subscription_checkout_is_claimed_and_readable_at_once(stack, api):
    end = int(time.time()) + 30 * DAY
    session = subscription_checkout(api, "u_web", end)
    sub = session["subscription"]

    response = stack.submit_receipt("u_web", receipt(session))

    assert response.status == 200, response.body
    pro = response.body["entitlements"]["pro"]
    assert (pro["active"], pro["state"], pro["store"], pro["purchaseId"]) == (True, "active", "stripe", f"stripe:{sub}")
    assert (pro["expiresAt"], pro["productId"]) == (rfc3339(end), "price_pro_monthly")
    # readable the moment the call returned, before any webhook
    assert stack.read("u_web").body["entitlements"]["pro"] == pro
    # the session was read with its subscription and line items expanded, with the key and pinned version
    [read] = [r for r in api.requests if r["path"] == f"/v1/checkout/sessions/{session['id']}"]
    expanded = {value for key, values in read["query"].items() if key.startswith("expand") for value in values}
    assert {"subscription", "line_items"} <= expanded
    assert (read["authorization"], read["stripe_version"]) == (f"Bearer {API_KEY}", STRIPE_API_VERSION)
    # the submission is in the event log, as every other receipt
    [event] = receipt_events(stack, session)
    assert (event["eventType"], event["GSI1PK"]) == ("receipt", f"EVENTS#stripe:{sub}")


def test_a_one_time_checkout_is_claimed_keyed_by_its_payment_intent(stack, api):
    session = lifetime_checkout(api, "u_life")

    response = stack.submit_receipt("u_life", receipt(session))

    assert response.status == 200, response.body
    body = response.body
    for entitlement in ("pro", "lifetime"):
        granted = body["entitlements"][entitlement]
        assert (granted["active"], granted["expiresAt"]) == (True, None)
        assert granted["purchaseId"] == f"stripe:{session['payment_intent']}"
    assert body["purchases"][0]["productId"] == "price_lifetime"
    # the expanded session named the products: no second call for its line items
    assert api.paths() == [f"/v1/checkout/sessions/{session['id']}"]


@pytest.mark.parametrize("named_by", ["client_reference_id", "metadata.user_id"])
def test_a_session_made_for_another_user_is_a_409_and_writes_nothing(stack, api, named_by):
    if named_by == "client_reference_id":
        session = subscription_checkout(api, "u_buyer")
    else:
        session = subscription_checkout(api, None, metadata={"user_id": "u_buyer"})

    response = stack.submit_receipt("u_other", receipt(session))

    assert (response.status, response.body["error"]["code"]) == (409, "purchase_owned_by_another_user")
    assert stack.purchase_item(f"stripe:{session['subscription']}") is None
    assert receipt_events(stack, session) == []
    assert stack.read("u_other").body["entitlements"] == {}
    # the user it was made for can still claim it
    assert stack.submit_receipt("u_buyer", receipt(session)).status == 200


@pytest.mark.parametrize(
    ("kind", "fields", "says"),
    [
        ("subscription", {"status": "open", "payment_status": "unpaid"}, "not complete"),
        ("subscription", {"status": "expired", "payment_status": "unpaid"}, "not complete"),
        ("payment", {"payment_status": "unpaid"}, "not succeeded"),
        ("subscription", {"mode": "setup", "subscription": None}, "setup mode"),
    ],
)
def test_a_session_that_bought_nothing_yet_is_a_400(stack, api, kind, fields, says):
    build = subscription_checkout if kind == "subscription" else lifetime_checkout
    session = build(api, "u_unpaid", **fields)

    response = stack.submit_receipt("u_unpaid", receipt(session))

    assert (response.status, response.body["error"]["code"]) == (400, "unverifiable_receipt")
    assert says in response.body["error"]["message"]
    assert [item for item in stack.table_items() if item["PK"].startswith("PURCHASE#")] == []
    assert receipt_events(stack, session) == []


def test_a_session_stripe_does_not_know_is_a_400(stack, api):
    response = stack.submit_receipt("u_unknown", {"store": "stripe", "checkoutSessionId": "cs_test_nosuchsession"})

    assert (response.status, response.body["error"]["code"]) == (400, "unverifiable_receipt")
    assert "404" in response.body["error"]["message"]
    assert stack.queue_depth() == 0


def test_a_malformed_session_id_is_a_422(stack, api):
    response = stack.submit_receipt("u_bad", {"store": "stripe", "checkoutSessionId": "sub_123"})

    assert (response.status, response.body["error"]["code"]) == (422, "invalid_receipt")
    assert api.requests == []


def test_stripe_unreachable_gives_202_pending_and_the_queued_retry_claims_later(stack, api):
    session = subscription_checkout(api, "u_pending")
    api.fail_with = 503

    # WHEN Stripe is down during the call (stripe-python retries, then gives up)
    response = stack.submit_receipt("u_pending", receipt(session))

    # THEN the app is told to wait, nothing is granted yet, and a retry is queued
    assert response.status == 202
    assert response.body["status"] == "pending"
    assert stack.read("u_pending").body["entitlements"] == {}
    assert stack.queue_depth() == 1

    # WHEN the processor takes the queued retry and Stripe is back
    api.fail_with = None
    drained = stack.drain()

    # THEN the claim is made
    assert drained.failed == []
    pro = stack.read("u_pending").body["entitlements"]["pro"]
    assert (pro["active"], pro["purchaseId"]) == (True, f"stripe:{session['subscription']}")


def test_a_queued_retry_while_stripe_is_still_down_fails_for_sqs_to_retry_and_queues_nothing_new(stack, api):
    session = subscription_checkout(api, "u_down")
    api.fail_with = 503
    assert stack.submit_receipt("u_down", receipt(session)).status == 202

    drained = stack.drain()

    assert len(drained.failed) == 1
    assert stack.queue_depth() == 1  # only the failed message itself, waiting for its retry
    assert stack.read("u_down").body["entitlements"] == {}


def test_without_a_stripe_api_key_stripe_receipts_are_not_configured(tmp_path):
    with running_stack(catalog_dir=tmp_path) as stack:
        response = stack.submit_receipt("u_nokey", {"store": "stripe", "checkoutSessionId": "cs_test_1"})

    assert (response.status, response.body["error"]["code"]) == (503, "not_configured")
    assert "STRIPE_API_KEY" in response.body["error"]["message"]


@pytest.mark.parametrize("webhook_delay", [-5, 5])
def test_the_checkout_webhook_that_follows_does_not_grant_twice(stack, api, webhook_delay):
    session = subscription_checkout(api, "u_both")
    sub = session["subscription"]
    claimed = stack.submit_receipt("u_both", receipt(session))
    assert claimed.status == 200
    assert [c["entitlement"] for c in stack.changes()] == ["pro"]

    # WHEN Stripe's own checkout.session.completed arrives (as Stripe sends it: nothing expanded)
    stack.deliver(s.event("checkout.session.completed", session, created=int(time.time()) + webhook_delay))
    assert stack.drain().failed == []

    # THEN it finds the purchase already claimed: one purchase, the same entitlement, no change published
    body = stack.read("u_both").body
    assert [p["purchaseId"] for p in body["purchases"]] == [f"stripe:{sub}"]
    assert body["entitlements"] == claimed.body["entitlements"]
    assert stack.changes() == []
    purchases = [item["PK"] for item in stack.table_items() if item["PK"].startswith("PURCHASE#")]
    assert purchases == [f"PURCHASE#stripe:{sub}"]


def test_under_first_a_second_user_submitting_the_same_session_gets_409(tmp_path, api):
    with running_stack(catalog_dir=tmp_path, env=stripe_env(api, ENTITLEMENT_STRATEGY="FIRST")) as stack:
        session = subscription_checkout(api, None)  # made for nobody in particular
        assert stack.submit_receipt("u_first", receipt(session)).status == 200

        second = stack.submit_receipt("u_second", receipt(session))

        assert (second.status, second.body["error"]["code"]) == (409, "purchase_owned_by_another_user")
        assert stack.read("u_second").body["entitlements"] == {}
        assert stack.read("u_first").body["entitlements"]["pro"]["active"] is True


def test_under_last_the_latest_submitter_of_a_session_made_for_nobody_takes_it(stack, api):
    session = subscription_checkout(api, None)

    for user in ("u_x", "u_y"):
        assert stack.submit_receipt(user, receipt(session)).status == 200

    assert stack.read("u_y").body["entitlements"]["pro"]["active"] is True
    assert stack.read("u_x").body["entitlements"]["pro"]["active"] is False


@pytest.mark.parametrize("strategy", ["ALL", "FIRST", "LAST"])
@pytest.mark.parametrize("named_on", ["subscription", "customer"])
def test_an_unlinked_session_whose_subscription_names_another_user_is_a_409(tmp_path, api, strategy, named_on):
    with running_stack(catalog_dir=tmp_path, env=stripe_env(api, ENTITLEMENT_STRATEGY=strategy)) as stack:
        # GIVEN a session made for nobody, whose subscription (or its customer) says it is u_buyer's
        session = subscription_checkout(api, None)
        subscription = api.subscriptions[session["subscription"]]
        if named_on == "subscription":
            subscription["metadata"] = {"user_id": "u_buyer"}
        else:
            subscription["customer"] = {"id": subscription["customer"], "object": "customer", "metadata": {"user_id": "u_buyer"}}

        # WHEN u_other submits it
        response = stack.submit_receipt("u_other", receipt(session))

        # THEN it is refused; u_buyer can claim it
        assert (response.status, response.body["error"]["code"]) == (409, "purchase_owned_by_another_user")
        assert stack.read("u_other").body["entitlements"] == {}
        assert stack.submit_receipt("u_buyer", receipt(session)).status == 200
        assert stack.read("u_buyer").body["entitlements"]["pro"]["active"] is True
        # and once it is theirs, nobody else takes it, whatever the strategy
        assert stack.submit_receipt("u_other", receipt(session)).status == 409
        assert stack.read("u_buyer").body["entitlements"]["pro"]["active"] is True
