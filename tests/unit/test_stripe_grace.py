"""Stripe dunning grace: a failed renewal keeps access until the unpaid period's start +
STRIPE_GRACE_SECONDS, then `billing_retry`; a payment restores `active`."""

from __future__ import annotations

import time
from datetime import timedelta

from parity.domain.drift import due_at
from parity.domain.model import State
from parity.domain.purchases import apply_update
from parity.domain.stripe import normalize
from parity.domain.timeutil import from_epoch
from tests.support import stripe as fx
from tests.support.fakes import FakeStripeApi
from tests.support.services import NOW, World

DAY = fx.DAY
T = int(NOW.timestamp()) - 3600
START = T - 10  # the unpaid period started just before the failure
END = START + 30 * DAY
GRACE = timedelta(days=3)


def rfc3339(epoch: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))


def past_due(created: int = T, grace: timedelta = GRACE):
    return normalize(fx.event("customer.subscription.updated", fx.subscription("sub_g", "past_due", END), created=created), grace)


def test_past_due_is_grace_until_the_unpaid_period_start_plus_the_grace():
    snapshot = past_due().snapshot
    assert snapshot.store_state is State.GRACE_PERIOD
    assert snapshot.expires_at == from_epoch(START)  # the end of the last paid period
    assert snapshot.grace_ends_at == from_epoch(START) + GRACE


def test_past_due_after_the_grace_end_is_billing_retry_without_access():
    snapshot = past_due(created=START + 3 * DAY + 1).snapshot
    assert snapshot.store_state is State.BILLING_RETRY
    assert snapshot.grace_ends_at is None
    assert past_due(grace=timedelta(0)).snapshot.store_state is State.BILLING_RETRY


def _updates():
    active = normalize(fx.event("customer.subscription.updated", fx.subscription("sub_g", "active", END), created=START))
    failed = normalize(fx.event("invoice.payment_failed", fx.invoice("in_g", "sub_g", period_end=END), created=T), GRACE)
    paid = normalize(fx.event("invoice.paid", fx.paid_invoice("in_g", "sub_g", END), created=T + 100), GRACE)
    return [facts.update_for("sub_g") for facts in (active, failed, past_due(), paid)]


def _fold(updates):
    purchase = None
    for update in updates:
        try:
            purchase = apply_update(purchase, update)
        except Exception:  # a stale event: nothing new
            pass
    return purchase


def test_a_failed_invoice_of_the_current_period_gives_grace_in_either_order():
    active, failed, snapshot, _ = _updates()
    for order in ([active, failed, snapshot], [active, snapshot, failed], [snapshot, failed, active], [failed, active, snapshot]):
        purchase = _fold(order)
        assert (purchase.state, purchase.expires_at, purchase.grace_ends_at) == (
            State.GRACE_PERIOD, from_epoch(START), from_epoch(START) + GRACE,
        ), order
        assert purchase.grants_access(from_epoch(START) + GRACE - timedelta(seconds=1))
        assert not purchase.grants_access(from_epoch(START) + GRACE)


def test_a_later_payment_restores_active():
    active, failed, snapshot, paid = _updates()
    for order in ([active, failed, snapshot, paid], [paid, snapshot, failed, active]):
        purchase = _fold(order)
        assert (purchase.state, purchase.expires_at, purchase.grace_ends_at) == (State.ACTIVE, from_epoch(END), None)


def test_the_drift_scan_is_due_at_the_grace_end_not_the_period_end():
    active, failed, snapshot, _ = _updates()
    purchase = _fold([active, failed, snapshot])
    assert due_at(purchase, timedelta(days=7)) == from_epoch(START) + GRACE


def test_processing_and_the_read_keep_access_in_grace_and_payment_restores_it():
    world = World()
    world.deliver(
        fx.event("customer.subscription.created", fx.subscription("sub_w", "active", END, user_id="u_w"), created=START),
        fx.event("invoice.payment_failed", fx.invoice("in_w", "sub_w", period_end=END), created=T),
        fx.event("customer.subscription.updated", fx.subscription("sub_w", "past_due", END, user_id="u_w"), created=T),
    )
    world.drain()
    assert not world.failed
    pro = world.read("u_w")["entitlements"]["pro"]
    assert (pro["active"], pro["state"], pro["expiresAt"], pro["gracePeriodExpiresAt"]) == (
        True, "grace_period", rfc3339(START), rfc3339(START + 3 * DAY),
    )
    world.deliver(fx.event("invoice.paid", fx.paid_invoice("in_w", "sub_w", END), created=T + 60))
    world.drain()
    pro = world.read("u_w")["entitlements"]["pro"]
    assert (pro["active"], pro["state"], pro["expiresAt"]) == (True, "active", rfc3339(END))


# -- after the grace end: reads, the stale-access sweep and the drift scan ----------------------------


def _in_grace(world: World, sub: str, user: str) -> None:
    world.deliver(
        fx.event("customer.subscription.created", fx.subscription(sub, "active", END, user_id=user), created=START),
        fx.event("invoice.payment_failed", fx.invoice(f"in_{sub}", sub, period_end=END), created=T),
        fx.event("customer.subscription.updated", fx.subscription(sub, "past_due", END, user_id=user), created=T),
    )
    world.drain()
    assert not world.failed


def test_once_the_grace_end_has_passed_every_read_shows_billing_retry_without_access():
    # GIVEN a subscriber in grace, and no event since
    world = World()
    _in_grace(world, "sub_r", "u_r")
    # WHEN the grace end passes
    world.clock.set(from_epoch(START) + GRACE + timedelta(seconds=1))
    # THEN the entitlement, the purchase and the operator's view all say billing_retry, no access
    body = world.read("u_r")
    pro = body["entitlements"]["pro"]
    assert (pro["active"], pro["state"], pro["expiresAt"], pro["gracePeriodExpiresAt"]) == (
        False, "billing_retry", rfc3339(START), None,
    )
    assert body["purchases"][0]["state"] == "billing_retry"
    report = world.user_report("u_r")
    assert report["entitlements"]["pro"]["state"] == "billing_retry"
    (purchase,) = report["purchases"]
    assert (purchase["state"], purchase["grantsAccess"], purchase["gracePeriodExpiresAt"]) == ("billing_retry", False, None)
    # AND a second before the end, the same reads still show the grace
    world.clock.set(from_epoch(START) + GRACE - timedelta(seconds=1))
    assert world.read("u_r")["entitlements"]["pro"]["state"] == "grace_period"
    assert world.read("u_r")["purchases"][0]["state"] == "grace_period"


def test_the_stale_access_sweep_waits_for_the_grace_end_then_ends_access():
    # GIVEN a subscriber in grace, and no Stripe API key (nothing to ask: the scan sweeps)
    world = World()
    _in_grace(world, "sub_s", "u_s")
    world.publisher.changes()
    # WHEN the scan runs after the paid period's end but before the grace end
    world.clock.set(from_epoch(START) + GRACE - timedelta(hours=1))
    assert world.scan()["selected"] == 0
    assert world.has("u_s") and world.publisher.changes() == []
    # WHEN it runs after the grace end
    world.clock.set(from_epoch(START) + GRACE + timedelta(minutes=1))
    result = world.scan()
    # THEN the purchase was due, access ends, and the change is published as billing_retry
    assert result["counts"]["swept"] == 1 and result["counts"]["stale_access"] == 1
    (change,) = world.publisher.changes()
    assert (change["old"]["state"], change["new"]["state"], change["new"]["active"]) == ("grace_period", "billing_retry", False)


def test_the_drift_scan_asks_stripe_at_the_grace_end_and_a_late_payment_restores_active():
    # GIVEN a subscriber in grace; Stripe knows the subscription
    api = FakeStripeApi()
    world = World(stripe_api=api)
    api.subscriptions["sub_d"] = fx.subscription("sub_d", "past_due", END, user_id="u_d")
    _in_grace(world, "sub_d", "u_d")
    assert world.has("u_d")
    # WHEN the scan runs before the grace end, nothing is due
    world.clock.set(from_epoch(START) + GRACE - timedelta(hours=1))
    assert world.scan()["selected"] == 0
    # WHEN it runs after: Stripe still says past_due → billing_retry, stored as such
    world.clock.set(from_epoch(START) + GRACE + timedelta(minutes=1))
    assert world.scan()["selected"] == 1
    stored = world.store.get_purchase("stripe:sub_d")
    assert (stored.store_state, stored.grace_ends_at) == (State.BILLING_RETRY, None)
    assert (world.read("u_d")["entitlements"]["pro"]["state"], world.has("u_d")) == ("billing_retry", False)
    # WHEN the customer pays at last
    api.subscriptions["sub_d"] = fx.subscription("sub_d", "active", END, user_id="u_d")
    paid_at = int(world.clock.now().timestamp())
    world.deliver(fx.event("invoice.payment_succeeded", fx.paid_invoice("in_sub_d", "sub_d", END), created=paid_at))
    world.drain()
    # THEN access is back, until the period's end
    pro = world.read("u_d")["entitlements"]["pro"]
    assert (pro["active"], pro["state"], pro["expiresAt"], pro["gracePeriodExpiresAt"]) == (True, "active", rfc3339(END), None)
