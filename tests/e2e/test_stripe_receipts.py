"""Stripe receipts over HTTP: a web checkout claimed from the app at once, before any webhook arrives.

The shared stack has no STRIPE_API_KEY (with one, every Stripe event is re-read from the API), so this
module starts its own, pointed at a local imitation of the Stripe API (`tests.support.stripe_api`).
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from tests.e2e.conftest import Parity, local_stack, stripe_event
from tests.support import stripe as s
from tests.support.stripe import DAY
from tests.support.stripe_api import StripeApiState, stripe_api_server

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def stripe_api() -> Iterator[StripeApiState]:
    with stripe_api_server() as state:
        yield state


@pytest.fixture(scope="module")
def parity(tmp_path_factory, idp, stripe_api) -> Iterator[Parity]:
    """A stack of its own, with a Stripe API key and the Stripe API imitation as STRIPE_API_BASE."""
    workdir = tmp_path_factory.mktemp("stripe-api-stack")
    with local_stack(workdir, idp, STRIPE_API_KEY="sk_test_parity_e2e", STRIPE_API_BASE=stripe_api.base_url) as stack:
        yield stack


def rfc3339(epoch: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))


def test_a_web_checkout_is_claimed_from_the_app_and_readable_at_once(parity, stripe_api, ids):
    # GIVEN a subscription bought on the web: its Checkout Session, as the Stripe API returns it
    end = int(time.time()) + 30 * DAY
    stripe_api.subscriptions[ids.sub] = s.subscription(ids.sub, "active", end, customer=ids.customer, user_id=None)
    session = s.checkout_session(user_id=ids.user, subscription_id=ids.sub, customer=ids.customer)
    stripe_api.checkout_sessions[session["id"]] = session

    # WHEN the app submits the session id for its user
    reply = parity.submit_receipt(ids.user, {"store": "stripe", "checkoutSessionId": session["id"]})

    # THEN the claim answers with the entitlement, and the next read shows it (no webhook has come)
    assert reply.status == 200, (reply.status, reply.raw)
    expected = {
        "active": True,
        "state": "active",
        "expiresAt": rfc3339(end),
        "gracePeriodExpiresAt": None,
        "willRenew": True,
        "store": "stripe",
        "productId": "price_pro_monthly",
        "purchaseId": f"stripe:{ids.sub}",
        "environment": "sandbox",  # test mode
    }
    assert reply.json["entitlements"]["pro"] == expected
    assert parity.read(ids.user)["entitlements"]["pro"] == expected
    assert f"/v1/checkout/sessions/{session['id']}" in stripe_api.paths()

    # WHEN Stripe's own checkout.session.completed arrives afterwards
    parity.deliver(stripe_event("checkout.session.completed", session, int(time.time())))

    # THEN nothing is granted twice: still one purchase, the same entitlement
    body = parity.read(ids.user)
    assert [p["purchaseId"] for p in body["purchases"]] == [f"stripe:{ids.sub}"]
    assert body["entitlements"]["pro"] == expected
