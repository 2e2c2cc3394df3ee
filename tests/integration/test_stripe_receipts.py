"""POST /v1/users/{userId}/receipts, stripe branch: the web-to-app path. The Checkout Session is read from
the Stripe API (a local imitation at STRIPE_API_BASE) and claimed at once, before any webhook arrives.

The route's wiring against moto: the key, the expanded read, the body's validation, the queued retry
through the event processor. The claim rules and refusals are tested on the in-memory fakes in
tests/unit/test_stripe_receipts.py."""

from __future__ import annotations

import time
from itertools import count

import pytest

from parity.adapters.stripe_api import STRIPE_API_VERSION
from tests.support import stripe as s
from tests.support.harness import running_stack
from tests.support.signing import SIGNER, verify
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


def receipt(session: dict) -> dict:
    return {"store": "stripe", "checkoutSessionId": session["id"]}


def receipt_events(stack, session: dict) -> list[dict]:
    prefix = f"EVENT#stripe#receipt:{session['id']}:"
    return [item for item in stack.table_items() if item["PK"].startswith(prefix) and item["SK"] == "EVENT"]


def test_a_paid_subscription_checkout_is_claimed_and_readable_at_once(stack, api):
    end = int(time.time()) + 30 * DAY
    session = subscription_checkout(api, "u_web", end)
    sub = session["subscription"]

    response = stack.submit_receipt("u_web", receipt(session))

    assert response.status == 200, response.body
    pro = response.body["entitlements"]["pro"]
    assert (pro["active"], pro["state"], pro["store"], pro["purchaseId"]) == (True, "active", "stripe", f"stripe:{sub}")
    assert (pro["expiresAt"], pro["productId"]) == (rfc3339(end), "price_pro_monthly")
    # signed, as every entitlements answer (ENTITLEMENT_SIGNING_KEY_FILE: the test key)
    claims = verify(response.body["signedEntitlements"], SIGNER.jwks())
    assert (claims["sub"], claims["entitlements"]["pro"]["active"]) == ("u_web", True)
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


def test_without_a_stripe_api_key_stripe_receipts_are_not_configured(tmp_path):
    with running_stack(catalog_dir=tmp_path) as stack:
        response = stack.submit_receipt("u_nokey", {"store": "stripe", "checkoutSessionId": "cs_test_1"})

    assert (response.status, response.body["error"]["code"]) == (503, "not_configured")
    assert "STRIPE_API_KEY" in response.body["error"]["message"]
