"""The event processor on the in-memory fakes (`services.processing`): Stripe histories delivered in any
order converge on the latest state; refunds and disputes revoke and restore, with their change events.
The queue consumer's wiring (batches, redeliveries, poison messages, group failures) is in
tests/integration/test_event_processing.py."""

from __future__ import annotations

import itertools
import time

import pytest

from tests.support import stripe
from tests.support.services import NOW, World

DAY = stripe.DAY
T0 = int(NOW.timestamp()) - 3600  # a store event time an hour ago; tests add seconds to order events


@pytest.fixture
def world() -> World:
    return World()


def rfc3339(epoch: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))


def _history(t0: int) -> list[dict]:
    sub, user = "sub_order", "u_order"
    end1, end2 = t0 + 30 * DAY, t0 + 60 * DAY
    return [
        stripe.event(
            "customer.subscription.created", stripe.subscription(sub, "incomplete", end1, user_id=user), created=t0
        ),
        stripe.event(
            "customer.subscription.updated", stripe.subscription(sub, "active", end1, user_id=user), created=t0
        ),
        stripe.event("invoice.paid", stripe.paid_invoice("in_o1", sub, end1), created=t0 + 1),
        stripe.event("invoice.paid", stripe.paid_invoice("in_o2", sub, end2), created=t0 + 20),
        stripe.event(
            "customer.subscription.updated",
            stripe.subscription(sub, "active", end2, user_id=user, cancel_at_period_end=True),
            created=t0 + 30,
        ),
    ]


ORDERS = [tuple(range(5)), (4, 3, 2, 1, 0), (1, 0, 3, 2, 4), (3, 4, 0, 2, 1), (2, 4, 1, 0, 3)]


@pytest.mark.parametrize("order", ORDERS, ids=["-".join(map(str, o)) for o in ORDERS])
def test_out_of_order_deliveries_converge_on_the_latest_state(world, order):
    history = _history(T0)

    # WHEN Stripe delivers the history in this order (each processed as it arrives)
    for index in order:
        world.deliver(history[index])
        world.drain()
        assert not world.failed

    # THEN the result is the in-order result: active until the second period's end, not renewing
    body = world.read("u_order")
    assert body["entitlements"]["pro"] == {
        "active": True,
        "state": "active",
        "expiresAt": rfc3339(T0 + 60 * DAY),
        "gracePeriodExpiresAt": None,
        "willRenew": False,
        "store": "stripe",
        "productId": "price_pro_monthly",
        "purchaseId": "stripe:sub_order",
        "environment": "sandbox",  # livemode: false
    }
    assert [p["state"] for p in body["purchases"]] == ["active"]


def test_a_batch_in_any_arrival_order_gives_the_same_read(world):
    results = []
    for order in itertools.islice(itertools.permutations(range(3)), 6):
        sub = f"sub_perm{len(results)}"
        user = f"u_perm{len(results)}"
        end = T0 + 30 * DAY
        events = [
            stripe.event(
                "customer.subscription.created", stripe.subscription(sub, "active", end, user_id=user), created=T0
            ),
            stripe.event(
                "customer.subscription.updated", stripe.subscription(sub, "past_due", end, user_id=user), created=T0 + 5
            ),
            stripe.event("invoice.paid", stripe.paid_invoice(f"in_{sub}", sub, end + 30 * DAY), created=T0 + 10),
        ]
        world.deliver(*(events[i] for i in order))  # one group: one batch, in arrival order
        world.drain()
        assert not world.failed
        pro = world.read(user)["entitlements"]["pro"]
        results.append((pro["active"], pro["state"], pro["expiresAt"]))
    assert set(results) == {(True, "active", rfc3339(T0 + 60 * DAY))}


# ------------------------------------------------------------------------------------------------ refunds


def _paid_subscription(world, sub="sub_ref", user="u_ref", invoice="in_ref"):
    end = T0 + 30 * DAY
    world.deliver(
        stripe.event(
            "customer.subscription.created", stripe.subscription(sub, "active", end, user_id=user), created=T0
        ),
        stripe.event("invoice.paid", stripe.paid_invoice(invoice, sub, end), created=T0 + 1),
    )
    world.drain()
    assert not world.failed
    assert world.read(user)["entitlements"]["pro"]["active"] is True
    world.publisher.changes()
    return end


def test_a_full_refund_found_through_the_invoice_payment_revokes_and_publishes_the_revocation(world):
    end = _paid_subscription(world)

    world.deliver(
        stripe.event("invoice_payment.paid", stripe.invoice_payment("in_ref", "pi_ref", "ch_ref"), created=T0 + 2),
        stripe.event("charge.refunded", stripe.charge("ch_ref", "pi_ref"), created=T0 + 100),
    )
    world.drain()
    assert not world.failed

    pro = world.read("u_ref")["entitlements"]["pro"]
    assert (pro["active"], pro["state"], pro["expiresAt"]) == (False, "revoked", rfc3339(end))
    [change] = world.publisher.changes()
    assert change["old"]["active"] is True and change["new"]["state"] == "revoked" and change["new"]["active"] is False


def test_a_partial_refund_does_not_revoke(world):
    _paid_subscription(world)

    world.deliver(
        stripe.event("invoice_payment.paid", stripe.invoice_payment("in_ref", "pi_ref", "ch_ref"), created=T0 + 2),
        stripe.event("charge.refunded", stripe.charge("ch_ref", "pi_ref", amount_refunded=100), created=T0 + 100),
    )
    world.drain()
    assert not world.failed

    assert world.read("u_ref")["entitlements"]["pro"]["active"] is True
    assert world.publisher.changes() == []


def test_a_lost_dispute_revokes_and_a_won_dispute_restores(world):
    _paid_subscription(world)
    world.deliver(
        stripe.event("invoice_payment.paid", stripe.invoice_payment("in_ref", "pi_ref", "ch_ref"), created=T0 + 2)
    )
    world.drain()
    assert not world.failed

    world.deliver(stripe.event("charge.dispute.created", stripe.dispute("dp_1", "ch_ref", "pi_ref"), created=T0 + 50))
    world.drain()
    assert not world.failed
    assert world.read("u_ref")["entitlements"]["pro"]["state"] == "revoked"

    world.deliver(
        stripe.event("charge.dispute.closed", stripe.dispute("dp_1", "ch_ref", "pi_ref", "won"), created=T0 + 60)
    )
    world.drain()
    assert not world.failed
    assert world.read("u_ref")["entitlements"]["pro"]["active"] is True
    assert [(c["old"]["state"], c["new"]["state"]) for c in world.publisher.changes()] == [
        ("active", "revoked"),
        ("revoked", "active"),
    ]
