"""The drift scan's Stripe refunds and disputes catch-up (`services.stripe_catchup`) on the in-memory
fakes: what a lost webhook left active is revoked, once, whoever (webhook or catch-up) saw it first; an
unlinked refund is linked through its payment intent's invoice; the cursor moves on."""

from __future__ import annotations

from datetime import timedelta

import pytest

from parity.domain.stripe_payments import dispute_facts, refund_facts
from parity.services.stripe_catchup import CURSOR, FIRST_WINDOW, OVERLAP
from tests.support import stripe as fx
from tests.support.fakes import FakeStripeApi
from tests.support.services import NOW, World

DAY = fx.DAY
T = int(NOW.timestamp()) - 3600
END = T + 20 * DAY


@pytest.fixture
def world() -> World:
    return World(stripe_api=FakeStripeApi())


def subscriber(world: World, sub: str, user: str, pi: str | None = None, invoice: str | None = None) -> None:
    """A subscription paid by `pi` (recorded by invoice_payment.paid, unless None), as Stripe knows it."""
    world.stripe_api.subscriptions[sub] = fx.subscription(sub, "active", END, user_id=user)
    events = [
        fx.event("customer.subscription.created", fx.subscription(sub, "active", END, user_id=user), created=T - DAY),
        fx.event("invoice.paid", fx.paid_invoice(invoice or f"in_{sub}", sub, END), created=T - DAY),
    ]
    if pi:
        events.append(fx.event("invoice_payment.paid", fx.invoice_payment(invoice or f"in_{sub}", pi), created=T - DAY))
    world.deliver(*events)
    world.drain()
    assert not world.failed and world.has(user)


def catch_up(world: World) -> dict:
    """The drift scan (with its catch-up) and its report."""
    return world.scan()


def test_a_refund_whose_webhook_was_lost_is_revoked_by_the_scan_once(world):
    # GIVEN a subscriber whose full refund Stripe never delivered as a webhook
    subscriber(world, "sub_r", "u_r", pi="pi_r")
    world.stripe_api.refunds.append(fx.refund("re_r", fx.charge("ch_r", "pi_r"), created=T))
    world.publisher.changes()
    # WHEN the drift scan runs
    report = catch_up(world)
    # THEN access is revoked, published, and reported as a refund gone unnoticed
    pro = world.read("u_r")["entitlements"]["pro"]
    assert (pro["active"], pro["state"]) == (False, "revoked")
    assert [(c["userId"], c["new"]["state"]) for c in world.publisher.changes()] == [("u_r", "revoked")]
    assert report["counts"]["refunded_unnoticed"] == 1 and report["counts"]["repaired"] >= 1
    assert world.store.load_user("u_r").refunds == 1
    # AND the next scan lists it again (the overlap) but applies nothing
    world.clock.advance(minutes=30)
    again = catch_up(world)
    assert "refunded_unnoticed" not in again["counts"] and world.publisher.changes() == []
    assert world.store.load_user("u_r").refunds == 1


@pytest.mark.parametrize("webhook_first", [True, False])
def test_a_refund_seen_by_its_webhook_and_by_the_scan_revokes_and_counts_once(world, webhook_first):
    subscriber(world, "sub_w", "u_w", pi="pi_w")
    charge = fx.charge("ch_w", "pi_w")
    world.stripe_api.refunds.append(fx.refund("re_w", charge, created=T))
    webhook = fx.event("charge.refunded", charge, created=T + 1)
    if webhook_first:
        world.deliver(webhook)
        world.drain()
    catch_up(world)
    if not webhook_first:
        world.deliver(webhook)
        world.drain()
    assert not world.failed
    assert world.read("u_w")["entitlements"]["pro"]["state"] == "revoked"
    assert world.store.load_user("u_w").refunds == 1
    revoked = [c for c in world.publisher.changes() if c["new"]["state"] == "revoked"]
    assert len(revoked) == 1


def test_an_unlinked_refund_is_linked_through_its_invoice_and_its_parked_webhook_then_resolves(world):
    # GIVEN a subscriber whose payment Parity never linked (no invoice_payment.paid), and whose refund
    # webhook found no purchase: parked as unresolved
    subscriber(world, "sub_u", "u_u")
    world.stripe_api.payments["pi_u"] = "sub_u"  # Stripe: pi_u → invoice payment → invoice → sub_u
    charge = fx.charge("ch_u", "pi_u")
    world.stripe_api.refunds.append(fx.refund("re_u", charge, created=T))
    offline = World(stripe_api=None, store=world.store, queue=world.queue, clock=world.clock, publisher=world.publisher)
    offline.deliver(fx.event("charge.refunded", charge, created=T + 1))
    (message,) = offline.queue.take()
    offline.processor().process_message(message, final_attempt=True)
    assert world.has("u_u") and len(list(world.store.parked(NOW - timedelta(days=30)))) == 1
    # WHEN the scan runs (the catch-up links it; the parked webhook is sent again)
    catch_up(world)
    world.drain()
    # THEN access is revoked once, and the webhook, processed at last, adds nothing
    assert not world.failed
    assert world.read("u_u")["entitlements"]["pro"]["state"] == "revoked"
    assert world.store.load_user("u_u").refunds == 1
    assert list(world.store.parked(NOW - timedelta(days=30))) == []


def test_a_partial_refund_and_a_failed_refund_revoke_nothing(world):
    subscriber(world, "sub_p", "u_p", pi="pi_p")
    world.stripe_api.refunds += [
        fx.refund("re_p1", fx.charge("ch_p", "pi_p", amount_refunded=300), created=T),
        fx.refund("re_p2", fx.charge("ch_p2", "pi_p"), created=T, status="failed"),
    ]
    report = catch_up(world)
    assert world.has("u_p") and "refunded_unnoticed" not in report["counts"]


def test_a_refund_of_a_purchase_parity_never_saw_creates_nothing(world):
    world.stripe_api.refunds.append(fx.refund("re_x", fx.charge("ch_x", "pi_x"), created=T))
    catch_up(world)
    assert world.store.get_purchase("stripe:pi_x") is None and world.store.get_purchase("stripe:sub_x") is None


def test_a_one_time_purchase_refund_is_linked_by_its_payment_intent(world):
    session = fx.checkout_session("u_life", mode="payment", payment_intent="pi_life", metadata={"price_id": "price_lifetime"})
    world.deliver(fx.event("checkout.session.completed", session, created=T - DAY))
    world.drain()
    assert world.has("u_life", "lifetime")
    world.stripe_api.refunds.append(fx.refund("re_life", fx.charge("ch_life", "pi_life"), created=T))
    catch_up(world)
    assert not world.has("u_life", "lifetime")


def test_a_missed_dispute_revokes_and_a_won_one_restores(world):
    subscriber(world, "sub_d", "u_d", pi="pi_d")
    world.stripe_api.disputes.append(fx.listed_dispute("dp_d", T, charge_id="ch_d", payment_intent="pi_d"))
    catch_up(world)
    assert world.read("u_d")["entitlements"]["pro"]["state"] == "revoked"
    assert world.store.load_user("u_d").refunds == 1
    # WHEN the merchant wins it, and the closing webhook is lost too
    world.stripe_api.disputes[0] = fx.listed_dispute("dp_d", T, status="won", charge_id="ch_d", payment_intent="pi_d")
    world.clock.advance(minutes=10)
    catch_up(world)
    assert world.has("u_d") and world.store.load_user("u_d").refunds == 1


def test_the_cursor_starts_a_window_back_then_follows_the_last_run():
    api = FakeStripeApi()
    world = World(stripe_api=api)
    first = world.clock.now()
    catch_up(world)
    assert world.store.cursor(CURSOR) is not None
    ((_, since),) = [call for call in api.calls if call[0] == "refunds"]
    assert first - FIRST_WINDOW - timedelta(seconds=1) < since <= first - FIRST_WINDOW + timedelta(seconds=1)
    cursor = world.store.cursor(CURSOR)
    api.calls.clear()
    world.clock.advance(days=1)
    catch_up(world)
    assert [call[1] for call in api.calls if call[0] in ("refunds", "disputes")] == [
        NOW.fromisoformat(cursor) - OVERLAP
    ] * 2


def test_without_a_stripe_api_key_the_catch_up_is_not_configured():
    world = World()
    report = world.scan()
    assert report["counts"].get("not_configured", 0) >= 1


def test_listed_items_become_the_facts_their_webhooks_carry():
    charge = fx.charge("ch_f", "pi_f")
    facts = refund_facts(fx.refund("re_f", charge, created=T), NOW)
    assert (facts.event_id, facts.revocation.ref, facts.payment_lookup) == ("stripe_refund:re_f", "refund:ch_f", ("pi_f", "ch_f"))
    assert refund_facts({**fx.refund("re_n", charge, created=T), "charge": "ch_f"}, NOW) is None  # not expanded
    opened = dispute_facts(fx.listed_dispute("dp_f", T), NOW)
    assert (opened.event_id, opened.revocation.ref, opened.revocation.active) == ("stripe_dispute:dp_f:needs_response", "dispute:dp_f", True)
    lost = dispute_facts(fx.listed_dispute("dp_f", T, status="lost"), NOW)
    assert (lost.revocation.active, lost.occurred_at) == (True, NOW.replace(microsecond=0))
    assert dispute_facts(fx.listed_dispute("dp_f", T, status="won"), NOW).revocation.active is False
