"""Replay (`services.replay`) on the in-memory fakes: a divergence seeded in the stored state is
reported, then applied once; a purchase written before steps were recorded is reported, not rebuilt.
`parity replay` over a generated log is in tests/integration/test_replay.py."""

from __future__ import annotations

from dataclasses import replace

from parity.domain.model import State
from tests.support import stripe
from tests.support.services import World
from tests.unit.test_claims_and_admin import T0

DAY = stripe.DAY


def refunded_subscription(world: World, n: int) -> None:
    """`sub_r<n>` of `u_r<n>`: created, paid, then its charge refunded."""
    sub, user, end = f"sub_r{n}", f"u_r{n}", T0 + DAY
    world.deliver(
        stripe.event("customer.subscription.created", stripe.subscription(sub, "active", end, user_id=user), created=T0),
        stripe.event("invoice.paid", stripe.paid_invoice(f"in_r{n}", sub, end + 30 * DAY), created=T0 + 10),
        stripe.event("invoice_payment.paid", stripe.invoice_payment(f"in_r{n}", f"pi_r{n}", f"ch_r{n}"), created=T0 + 20),
        stripe.event("charge.refunded", stripe.charge(f"ch_r{n}", f"pi_r{n}"), created=T0 + 30),
    )
    world.drain()
    assert not world.failed


def test_a_seeded_divergence_is_reported_then_applied_once():
    world = World()
    for n in (1, 3):
        refunded_subscription(world, n)
    world.publisher.changes()
    # GIVEN a refunded purchase whose stored record lost its refund, and another whose user's copy and
    # projection lost theirs (the user would be granted access)
    store = world.store
    store.purchases["stripe:sub_r1"] = replace(store.purchases["stripe:sub_r1"], revocations=())
    store.copies["u_r3"]["stripe:sub_r3"] = replace(store.copies["u_r3"]["stripe:sub_r3"], revocations=())
    store.entitlements["u_r3"]["pro"] = replace(store.entitlements["u_r3"]["pro"], active=True, state=State.ACTIVE)
    assert world.read("u_r3")["entitlements"]["pro"]["active"] is True  # what the app would be told

    # WHEN the replay runs without applying
    found = world.replayer().everything()

    # THEN both are reported, and nothing is written
    assert not found.consistent
    assert [(d.purchase_id, sorted(d.fields)) for d in found.differing] == [("stripe:sub_r1", ["revocations"])]
    assert found.differing[0].rebuilt.state is State.REVOKED
    assert [(c.entitlement_id, c.old.active, c.new.active) for c in found.entitlements["u_r3"]] == [("pro", True, False)]
    assert store.get_purchase("stripe:sub_r1").revocations == ()
    refunds = {u: store.load_user(u).refunds for u in ("u_r1", "u_r3")}

    # WHEN it is applied
    applied = world.replayer().apply(found)

    # THEN the rebuilt state is written, the users are told, and a second replay finds nothing
    assert applied == 2
    assert world.read("u_r3")["entitlements"]["pro"]["active"] is False
    assert store.get_purchase("stripe:sub_r1").revocations
    assert {(c["userId"], c["new"]["active"]) for c in world.publisher.changes()} == {("u_r3", False)}
    # AND a refund written back is not a new refund: the users' refund counts stay as they were
    assert {u: store.load_user(u).refunds for u in ("u_r1", "u_r3")} == refunds
    again = world.replayer().everything()
    assert again.consistent and world.replayer().apply(again) == 0
    # AND the replay is in the event log, as an operator action
    replayed = [e for e in store.events.values() if e.event_type == "state.replayed"]
    assert len(replayed) == 2 and all(e.processed_at for e in replayed)


def test_a_purchase_written_before_steps_were_recorded_is_reported_not_rebuilt():
    world = World()
    world.deliver(stripe.event("customer.subscription.created", stripe.subscription("sub_old", "active", T0 + DAY, user_id="u_old"), created=T0))
    world.drain()
    (event,) = [e for e in world.store.events.values() if e.source == "stripe"]
    event.step = None  # stored before steps were recorded

    result = world.replayer().user("u_old")

    assert result.unreplayable == {"stripe:sub_old": 1} and result.purchases == 0 and result.consistent
