"""Stripe webhooks through the whole stack: signed POST → event log → FIFO queue → processor → read."""

from __future__ import annotations

import time

import pytest

from tests.e2e.conftest import stripe_event, wait_until
from tests.support import stripe as s
from tests.support.stripe import DAY

pytestmark = pytest.mark.e2e


def rfc3339(epoch: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))


def pro(parity, user_id: str) -> dict:
    return parity.read(user_id)["entitlements"]["pro"]


def subscribe(parity, ids, t0: int, period_end: int) -> None:
    """A paid basil subscription whose payment (invoice → payment intent → charge) Parity can trace."""
    parity.deliver(
        stripe_event(
            "customer.subscription.created",
            s.subscription(ids.sub, "active", period_end, customer=ids.customer, user_id=ids.user),
            t0,
        )
    )
    parity.deliver(stripe_event("invoice.paid", s.invoice(ids.invoice, ids.sub, period_end, ids.customer), t0 + 1))
    parity.deliver(
        stripe_event("invoice_payment.paid", s.invoice_payment(ids.invoice, ids.payment_intent, ids.charge), t0 + 2)
    )
    assert pro(parity, ids.user)["active"] is True


def test_subscription_lifecycle_from_checkout_to_cancellation(parity, ids, t0):
    end = int(time.time()) + 30 * DAY
    checkout = s.checkout_session(user_id=ids.user, subscription_id=ids.sub, customer=ids.customer)
    parity.deliver(stripe_event("checkout.session.completed", checkout, t0))
    # The subscription itself does not name the user: the checkout's client_reference_id linked it.
    subscription = s.subscription(ids.sub, "active", end, customer=ids.customer, user_id=None)
    parity.deliver(stripe_event("customer.subscription.created", subscription, t0 + 1))
    parity.deliver(stripe_event("invoice.paid", s.invoice(ids.invoice, ids.sub, end, ids.customer), t0 + 2))

    body = parity.read(ids.user)
    assert body["entitlements"]["pro"] == {
        "active": True,
        "state": "active",
        "expiresAt": rfc3339(end),
        "gracePeriodExpiresAt": None,
        "willRenew": True,
        "store": "stripe",
        "productId": "price_pro_monthly",
        "purchaseId": f"stripe:{ids.sub}",
        "environment": "sandbox",  # test mode (livemode: false)
    }
    assert body["purchases"] == [
        {
            "purchaseId": f"stripe:{ids.sub}",
            "store": "stripe",
            "productId": "price_pro_monthly",
            "state": "active",
            "expiresAt": rfc3339(end),
            "entitlements": ["pro"],
            "ownership": "owner",
            "environment": "sandbox",
            "app": None,
        }
    ]

    ended = int(time.time()) - 5  # canceled now: access ends now, not at the period end
    canceled = s.subscription(ids.sub, "canceled", end, customer=ids.customer, user_id=None, ended_at=ended)
    parity.deliver(stripe_event("customer.subscription.deleted", canceled, t0 + 3))
    entitlement = pro(parity, ids.user)
    assert entitlement["active"] is False
    assert entitlement["state"] == "expired"
    assert entitlement["purchaseId"] == f"stripe:{ids.sub}"

    # Each access change was published on the change bus (which subscribers see asynchronously).
    wait_until(lambda: [(c["new"] or {}).get("active") for c in parity.changes(ids.user)][-2:] == [True, False])


def test_duplicate_delivery_is_stored_and_processed_once(parity, ids, t0):
    event = stripe_event(
        "customer.subscription.created", s.subscription(ids.sub, customer=ids.customer, user_id=ids.user), t0
    )
    first, second = parity.post_stripe(event), parity.post_stripe(event)
    assert (first.status, second.status) == (200, 200)
    assert first.json["duplicate"] is False and second.json["duplicate"] is True
    assert parity.wait_processed(event["id"])["outcome"] == "applied"
    again = parity.post_stripe(event)  # after processing: still 200, still nothing to do
    assert again.status == 200 and again.json["duplicate"] is True

    # Fence: a later event of the same purchase (same FIFO group) is processed after any duplicate.
    parity.deliver(stripe_event("invoice.paid", s.invoice(ids.invoice, ids.sub, customer=ids.customer), t0 + 1))
    caused = wait_until(lambda: [c for c in parity.changes(ids.user) if c["cause"] == f"stripe:{event['id']}"])
    assert len(caused) == 1
    assert pro(parity, ids.user)["active"] is True


def test_out_of_order_delivery_converges_on_the_latest_state(parity, ids, t0):
    end = int(time.time()) + 30 * DAY
    later = s.subscription(ids.sub, "active", end, customer=ids.customer, user_id=ids.user, cancel_at_period_end=True)
    earlier = s.subscription(ids.sub, "active", end, customer=ids.customer, user_id=ids.user)
    parity.deliver(stripe_event("customer.subscription.updated", later, t0 + 10))
    outcome = parity.deliver(stripe_event("customer.subscription.created", earlier, t0))
    assert outcome["outcome"] in ("stale", "applied")
    entitlement = pro(parity, ids.user)
    assert entitlement["active"] is True
    assert entitlement["willRenew"] is False  # what the t+10 event said
    assert entitlement["expiresAt"] == rfc3339(end)


def test_full_refund_revokes_until_a_later_period_is_paid(parity, ids, t0):
    end = int(time.time()) + 30 * DAY
    subscribe(parity, ids, t0, end)

    refund = s.charge(ids.charge, ids.payment_intent, amount=999, amount_refunded=999, customer=ids.customer)
    parity.deliver(stripe_event("charge.refunded", refund, t0 + 3))
    entitlement = pro(parity, ids.user)
    assert (entitlement["active"], entitlement["state"]) == (False, "revoked")

    # A late invoice.paid of the refunded period does not reinstate access.
    parity.deliver(stripe_event("invoice.paid", s.invoice(ids.invoice, ids.sub, end, ids.customer), t0 + 4))
    entitlement = pro(parity, ids.user)
    assert (entitlement["active"], entitlement["state"]) == (False, "revoked")

    # Paying a later period does.
    next_end = end + 30 * DAY
    parity.deliver(stripe_event("invoice.paid", s.invoice(ids.invoice2, ids.sub, next_end, ids.customer), t0 + 5))
    entitlement = pro(parity, ids.user)
    assert (entitlement["active"], entitlement["state"]) == (True, "active")
    assert entitlement["expiresAt"] == rfc3339(next_end)


def test_partial_refund_does_not_revoke(parity, ids, t0):
    subscribe(parity, ids, t0, int(time.time()) + 30 * DAY)
    partial = s.charge(ids.charge, ids.payment_intent, amount=999, amount_refunded=300, customer=ids.customer)
    parity.deliver(stripe_event("charge.refunded", partial, t0 + 3))
    entitlement = pro(parity, ids.user)
    assert (entitlement["active"], entitlement["state"]) == (True, "active")


@pytest.mark.parametrize(("closed_as", "active_after"), [("won", True), ("lost", False)])
def test_dispute_revokes_and_a_won_dispute_restores(parity, ids, t0, closed_as, active_after):
    subscribe(parity, ids, t0, int(time.time()) + 30 * DAY)
    parity.deliver(
        stripe_event("charge.dispute.created", s.dispute(ids.dispute, ids.charge, ids.payment_intent), t0 + 3)
    )
    entitlement = pro(parity, ids.user)
    assert (entitlement["active"], entitlement["state"]) == (False, "revoked")

    closed = s.dispute(ids.dispute, ids.charge, ids.payment_intent, status=closed_as)
    parity.deliver(stripe_event("charge.dispute.closed", closed, t0 + 4))
    entitlement = pro(parity, ids.user)
    assert entitlement["active"] is active_after
    assert entitlement["state"] == ("active" if active_after else "revoked")


def test_customer_email_change_keeps_entitlements(parity, ids, t0):
    parity.deliver(stripe_event("customer.created", s.customer(ids.customer, "old@example.com", ids.user), t0))
    parity.deliver(
        stripe_event(
            "customer.subscription.created", s.subscription(ids.sub, customer=ids.customer, user_id=ids.user), t0 + 1
        )
    )
    before = parity.read(ids.user)
    parity.deliver(stripe_event("customer.updated", s.customer(ids.customer, "new@example.org", ids.user), t0 + 2))
    after = parity.read(ids.user)
    assert after["entitlements"] == before["entitlements"]
    assert after["purchases"] == before["purchases"]
    assert after["entitlements"]["pro"]["active"] is True


def test_unverifiable_webhooks_are_refused_and_nothing_is_stored(parity, ids, t0):
    event = stripe_event(
        "customer.subscription.created", s.subscription(ids.sub, customer=ids.customer, user_id=ids.user), t0
    )
    body = s.encode(event)

    parity.post_stripe(body=body, secret="whsec_not_the_endpoint_secret").assert_error(400, "invalid_signature")
    parity.post_stripe(body=body, timestamp=int(time.time()) - 301).assert_error(400, "stale_signature")
    parity.post_stripe(body=body, signature="").assert_error(400)
    parity.post_stripe(body=b'{"id": "evt_x", "type": ').assert_error(400, "malformed_body")
    parity.post_stripe(body=b'{"not": "an event"}').assert_error(400, "malformed_body")
    parity.post_stripe(body=b'\xff\xfe{"id": 1}').assert_error(400, "malformed_body")  # not UTF-8: sent base64

    parity.stored_event(event["id"]).assert_error(404)
    body = parity.read(ids.user)
    assert body["entitlements"] == {} and body["purchases"] == []


def test_webhook_route_answers_errors_in_the_contract_shape(parity):
    parity.request("GET", "/webhooks/stripe").assert_error(405, "method_not_allowed")
    parity.request("POST", "/webhooks/nowhere", b"{}").assert_error(404, "not_found")
