"""Stripe pauses and plan switches: `pause_collection` stops renewal and, once the paid period has ended,
access (`paused`); resuming restores it; `status: paused` is `paused`; a customer-portal price change
moves the purchase to the new price without a second purchase or a gap."""

from __future__ import annotations

import time
from datetime import timedelta

from parity.domain.model import State
from parity.domain.stripe import normalize
from parity.domain.timeutil import from_epoch
from tests.support import stripe as fx
from tests.support.fakes import FakeStripeApi
from tests.support.services import NOW, World

DAY = fx.DAY
T = int(NOW.timestamp()) - 3600
END = T + 10 * DAY  # the paid period ends in ten days
PAUSE = {"behavior": "void", "resumes_at": None}


def rfc3339(epoch: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))


def paused_sub(sub: str, end: int = END, user: str = "u_p", **extra) -> dict:
    return fx.subscription(sub, "active", end, user_id=user, pause_collection=PAUSE, **extra)


def test_a_paused_collection_stops_renewal_and_lapses_to_paused():
    snapshot = normalize(fx.event("customer.subscription.updated", paused_sub("sub_n"), created=T)).snapshot
    assert (snapshot.store_state, snapshot.will_renew, snapshot.lapses_to) == (State.ACTIVE, False, State.PAUSED)
    assert snapshot.expires_at == from_epoch(END)
    # told after the paid period's end, it is paused at once
    late = normalize(fx.event("customer.subscription.updated", paused_sub("sub_n"), created=END + 1)).snapshot
    assert late.store_state is State.PAUSED


def test_stripe_status_paused_is_paused_without_access():
    world = World()
    trial_end = T - 60
    world.deliver(fx.event("customer.subscription.updated", fx.subscription("sub_t", "paused", trial_end, user_id="u_t"), created=T))
    world.drain()
    pro = world.read("u_t")["entitlements"]["pro"]
    assert (pro["active"], pro["state"], pro["willRenew"]) == (False, "paused", False)
    assert world.read("u_t")["purchases"][0]["state"] == "paused"


def _subscribe_and_pause(world: World, sub: str, user: str) -> None:
    world.deliver(
        fx.event("customer.subscription.created", fx.subscription(sub, "active", END, user_id=user), created=T - DAY),
        fx.event("invoice.paid", fx.paid_invoice(f"in_{sub}", sub, END), created=T - DAY),
        fx.event("customer.subscription.updated", paused_sub(sub, user=user), created=T),
    )
    world.drain()
    assert not world.failed


def test_a_pause_keeps_access_until_the_paid_period_ends_then_reads_paused():
    # GIVEN a subscriber who paused collection in the customer portal
    world = World()
    _subscribe_and_pause(world, "sub_p", "u_p")
    # THEN access lasts until the paid period's end, not renewing
    pro = world.read("u_p")["entitlements"]["pro"]
    assert (pro["active"], pro["state"], pro["willRenew"], pro["expiresAt"]) == (True, "active", False, rfc3339(END))
    # WHEN the period has ended, with no event since
    world.clock.set(from_epoch(END) + timedelta(seconds=1))
    # THEN every read says paused, without access, and the app may not trust the answer past the end
    body = world.read("u_p")
    assert (body["entitlements"]["pro"]["active"], body["entitlements"]["pro"]["state"]) == (False, "paused")
    assert body["purchases"][0]["state"] == "paused"
    assert world.user_report("u_p")["purchases"][0]["state"] == "paused"


def test_cache_until_stops_at_the_end_of_the_paid_period_of_a_pause():
    world = World(offline_grace=timedelta(days=30))
    _subscribe_and_pause(world, "sub_c", "u_c")
    assert world.read("u_c")["cacheUntil"] == rfc3339(END)


def test_the_period_stripe_advances_while_paused_does_not_extend_access_and_resuming_restores_it():
    # GIVEN a paused subscriber, whose period Stripe advanced (voiding its invoice) without a webhook
    api = FakeStripeApi()
    world = World(stripe_api=api)
    api.subscriptions["sub_a"] = fx.subscription("sub_a", "active", END, user_id="u_a")
    _subscribe_and_pause(world, "sub_a", "u_a")
    api.subscriptions["sub_a"] = paused_sub("sub_a", END + 30 * DAY, user="u_a")
    # WHEN the drift scan checks it after the paid period
    world.clock.set(from_epoch(END) + timedelta(hours=1))
    world.scan()
    # THEN it is paused, access ended with the paid period
    stored = world.store.get_purchase("stripe:sub_a")
    assert (stored.store_state, stored.expires_at) == (State.PAUSED, from_epoch(END))
    pro = world.read("u_a")["entitlements"]["pro"]
    assert (pro["active"], pro["state"], pro["expiresAt"]) == (False, "paused", rfc3339(END))
    # WHEN the customer resumes (pause_collection null) and pays the new period
    resumed = fx.subscription("sub_a", "active", END + 30 * DAY, user_id="u_a")
    api.subscriptions["sub_a"] = resumed
    at = int(world.clock.now().timestamp())
    world.deliver(
        fx.event("customer.subscription.resumed", resumed, created=at),
        fx.event("invoice.paid", fx.paid_invoice("in_a2", "sub_a", END + 30 * DAY), created=at),
    )
    world.drain()
    # THEN access is back, renewing
    pro = world.read("u_a")["entitlements"]["pro"]
    assert (pro["active"], pro["state"], pro["willRenew"], pro["expiresAt"]) == (True, "active", True, rfc3339(END + 30 * DAY))


def test_resuming_before_the_period_ends_renews_again_without_a_gap():
    world = World()
    _subscribe_and_pause(world, "sub_b", "u_b")
    world.deliver(fx.event("customer.subscription.updated", fx.subscription("sub_b", "active", END, user_id="u_b"), created=T + 60))
    world.drain()
    pro = world.read("u_b")["entitlements"]["pro"]
    assert (pro["active"], pro["state"], pro["willRenew"]) == (True, "active", True)
    world.clock.set(from_epoch(END) + timedelta(seconds=1))
    assert world.read("u_b")["entitlements"]["pro"]["state"] == "active"  # not paused: it is renewing


# -- a plan switch in the customer portal -------------------------------------------------------------


def test_a_portal_plan_switch_follows_the_new_price_with_one_purchase_and_no_gap():
    # GIVEN a monthly subscriber
    world = World()
    world.deliver(fx.event("customer.subscription.created", fx.subscription("sub_sw", "active", END, user_id="u_sw"), created=T))
    world.drain()
    before = world.read("u_sw")["entitlements"]["pro"]
    world.publisher.changes()
    # WHEN they switch to the yearly price in the portal (Stripe prorates: a new period starts now)
    switched = fx.subscription("sub_sw", "active", T + 60 + 365 * DAY, user_id="u_sw", price="price_pro_yearly")
    world.deliver(
        fx.event("customer.subscription.updated", switched, created=T + 60),
        fx.event("invoice.paid", fx.paid_invoice("in_sw", "sub_sw", T + 60 + 365 * DAY, price="price_pro_yearly"), created=T + 61),
    )
    world.drain()
    # THEN the same purchase follows the new price; pro stays active throughout, granted once
    body = world.read("u_sw")
    assert [p["purchaseId"] for p in body["purchases"]] == ["stripe:sub_sw"]
    assert (body["purchases"][0]["productId"], body["purchases"][0]["entitlements"]) == ("price_pro_yearly", ["pro"])
    pro = body["entitlements"]["pro"]
    assert (pro["active"], pro["productId"], pro["expiresAt"]) == (True, "price_pro_yearly", rfc3339(T + 60 + 365 * DAY))
    assert before["active"] is True
    assert all(change["new"]["active"] for change in world.publisher.changes())  # never a gap


def test_a_plan_switch_to_another_entitlement_moves_access_to_it():
    world = World()
    world.deliver(fx.event("customer.subscription.created", fx.subscription("sub_tm", "active", END, user_id="u_tm"), created=T))
    world.drain()
    world.deliver(
        fx.event("customer.subscription.updated", fx.subscription("sub_tm", "active", END, user_id="u_tm", price="price_team", product="prod_team"), created=T + 60)
    )
    world.drain()
    body = world.read("u_tm")
    assert body["purchases"][0]["entitlements"] == ["team"]
    assert body["entitlements"]["team"]["active"] is True
    assert body["entitlements"]["pro"]["active"] is False
