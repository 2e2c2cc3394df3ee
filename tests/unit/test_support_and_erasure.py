"""Manual grants, clearing a review flag, and account erasure, on the in-memory fakes
(`services.support`, `services.erasure`). The routes are in tests/integration/test_support_routes.py and
tests/e2e/test_support_flows.py."""

from __future__ import annotations

from datetime import timedelta

import pytest

from parity.domain.errors import GrantNotFound, InvalidInput, UnknownEntitlement, UserNotFound
from parity.domain.ownership import Strategy
from tests.support import stripe
from tests.support.services import NOW, OPERATOR, World
from tests.unit.test_claims_and_admin import APPLE_PURCHASE, T0, claim, refund


@pytest.fixture
def world() -> World:
    return World()


# ------------------------------------------------------------------------------------- manual grants


def test_a_grant_gives_access_as_a_manual_purchase_and_publishes_the_change(world):
    # WHEN an operator grants `pro` for a week
    granted = world.grant("u_demo", "pro", NOW + timedelta(days=7), reason="App Review demo account")

    # THEN the user reads it as a purchase of the manual store they hold manually
    assert granted["purchaseId"].startswith("manual:") and granted["store"] == "manual"
    read = world.read("u_demo")
    pro = read["entitlements"]["pro"]
    assert (pro["active"], pro["store"], pro["state"], pro["purchaseId"]) == (True, "manual", "active", granted["purchaseId"])
    (purchase,) = read["purchases"]
    assert (purchase["ownership"], purchase["entitlements"], purchase["productId"]) == ("manual", ["pro"], None)
    # AND the change went out like any other, and the audit trail names the operator and the reason
    (change,) = world.publisher.changes()
    assert (change["userId"], change["entitlement"], change["new"]["store"]) == ("u_demo", "pro", "manual")
    (line,) = [c for c in world.user_report("u_demo")["claims"] if c["action"] == "granted"]
    assert line["actor"] == OPERATOR and "App Review demo account" in line["detail"]


def test_a_grant_without_an_end_lasts_until_revoked_and_revoking_twice_is_fine(world):
    granted = world.grant("u_goodwill", "lifetime")
    world.clock.advance(days=400)
    assert world.has("u_goodwill", "lifetime")
    world.publisher.changes()

    ended = world.revoke("u_goodwill", granted["purchaseId"], reason="promotion over")

    assert (ended["state"], ended["grantsAccess"]) == ("revoked", False)
    lifetime = world.read("u_goodwill")["entitlements"]["lifetime"]
    assert (lifetime["active"], lifetime["state"]) == (False, "revoked")
    assert [c["entitlement"] for c in world.publisher.changes()] == ["lifetime"]
    # a second revocation changes nothing and publishes nothing
    assert world.revoke("u_goodwill", granted["purchaseId"])["state"] == "revoked"
    assert world.publisher.changes() == []
    actions = [c["action"] for c in world.user_report("u_goodwill")["claims"]]
    assert actions == ["grant_revoked", "granted"]


def test_a_grant_of_an_entitlement_no_product_grants_or_an_end_in_the_past_is_refused(world):
    with pytest.raises(UnknownEntitlement):
        world.grant("u_x", "platinum")
    with pytest.raises(InvalidInput):
        world.grant("u_x", "pro", NOW - timedelta(days=1))
    assert world.store.purchases == {} and world.publisher.published == []


def test_only_the_grants_holder_can_have_it_revoked_and_only_grants(world):
    granted = world.grant("u_holder", "pro")
    claim(world, "u_holder")
    with pytest.raises(GrantNotFound):
        world.revoke("u_other", granted["purchaseId"])
    with pytest.raises(GrantNotFound):
        world.revoke("u_holder", APPLE_PURCHASE)  # a store purchase is not a grant
    with pytest.raises(GrantNotFound):
        world.revoke("u_holder", "manual:unknown")
    assert world.has("u_holder")


def test_a_grant_is_not_double_billing_and_the_store_purchase_wins_when_it_lasts_longer(world):
    world.grant("u_both", "pro", NOW + timedelta(days=1))
    claim(world, "u_both", t0=int(NOW.timestamp()))  # 30 days of App Store access
    report = world.user_report("u_both")
    assert report["flags"]["doubleBilling"] == []
    assert report["entitlements"]["pro"]["store"] == "app_store"


def test_an_expired_grant_is_swept_by_the_drift_scan_and_left_alone_otherwise(world):
    granted = world.grant("u_week", "pro", NOW + timedelta(days=7))
    world.clock.advance(days=8)
    world.publisher.changes()

    report = world.scan()

    assert report["counts"].get("swept") == 1 and "unknown_at_store" not in report["counts"]
    pro = world.read("u_week")["entitlements"]["pro"]
    assert pro["active"] is False
    assert [c["new"]["active"] for c in world.publisher.changes()] == [False]
    assert world.store.get_purchase(granted["purchaseId"]).store_state.value == "active"  # as granted


def test_a_replay_rebuilds_grants_and_revocations_from_their_steps(world):
    granted = world.grant("u_replayed", "pro")
    world.revoke("u_replayed", granted["purchaseId"])
    replay = world.replayer().user("u_replayed")
    assert replay.consistent and replay.purchases == 1 and replay.steps == 2


# -------------------------------------------------------------------------------------- review flags


def test_an_operator_clears_a_review_flag_and_a_later_refund_flags_again():
    world = World(refund_threshold=2)
    refund(world, "u_refunder", 1)
    refund(world, "u_refunder", 3)
    assert world.user_report("u_refunder")["flags"]["refundAbuse"]["flagged"]

    cleared = world.support().clear_flag("u_refunder", OPERATOR, "customer explained")

    assert cleared.flagged_at is None
    flags = world.user_report("u_refunder")["flags"]["refundAbuse"]
    assert (flags["flagged"], flags["refunds"]) == (False, 2)
    assert [(h["action"], h["actor"], h["detail"]) for h in flags["history"]][0] == ("flag_cleared", OPERATOR, "customer explained")
    refund(world, "u_refunder", 5)
    assert world.user_report("u_refunder")["flags"]["refundAbuse"]["flagged"]


def test_clearing_an_unset_flag_changes_nothing_and_an_unknown_user_is_not_found(world):
    claim(world, "u_clean")
    assert world.support().clear_flag("u_clean", OPERATOR).flagged_at is None
    with pytest.raises(UserNotFound):
        world.support().clear_flag("u_nobody", OPERATOR)


# ------------------------------------------------------------------------------------------- erasure


def test_erasure_leaves_the_purchases_unowned_and_a_new_empty_account_behind(world):
    # GIVEN a user with a store purchase (claimed with their token) and a grant
    token = world.read("u_gone")["appAccountToken"]
    claim(world, None, token=token)
    world.grant("u_gone", "lifetime")
    assert world.has("u_gone") and world.owners(APPLE_PURCHASE) == ["u_gone"]

    # WHEN the user erases their account
    assert world.erase("u_gone") is True

    # THEN the purchase stays, as a store record nobody holds; the profile, links and trail are gone
    purchase = world.store.get_purchase(APPLE_PURCHASE)
    assert purchase.owner_ids == () and purchase.linked_user is None and purchase.state.value == "active"
    assert "u_gone" not in world.store.profiles and token not in world.store.tokens
    (line,) = world.store.audit_trail("u_gone")
    assert (line.action.value, line.actor, line.purchase_id, line.other_user_ids, line.detail) == ("erased", "user", None, (), None)
    assert [n["type"] for n in world.publisher.notices()] == ["user.erased"]
    # AND a later read starts a new, empty account with another token
    again = world.read("u_gone")
    assert again["entitlements"] == {} and again["purchases"] == [] and again["appAccountToken"] != token


def test_a_notification_with_the_erased_token_attaches_to_no_one_and_erasing_twice_is_fine(world):
    token = world.read("u_twice")["appAccountToken"]
    claim(world, None, token=token)
    world.erase("u_twice")
    assert world.erase("u_twice") is False  # nothing left to erase
    assert len(world.store.audit_trail("u_twice")) == 1

    claim(world, None, t0=T0 + 60, token=token)  # a renewal carrying the old token

    assert world.owners(APPLE_PURCHASE) == []
    assert world.read("u_twice")["purchases"] == []


def test_erasure_forgets_the_user_in_other_users_trails_and_in_event_bodies(world):
    world = World(strategy=Strategy.LAST)
    claim(world, "u_first")
    claim(world, "u_taker", T0 + 1)  # u_first lost it to u_taker
    session = stripe.checkout_session("u_taker", subscription_id="sub_taker", customer="cus_taker")
    world.deliver(stripe.event("checkout.session.completed", session, created=T0))
    world.drain()
    assert any(b"u_taker" in (e.body or b"") for e in world.store.events.values())

    world.erase("u_taker")

    (lost,) = [r for r in world.store.audit_trail("u_first") if r.action.value == "lost"]
    assert lost.other_user_ids == ("(erased user)",)
    assert not any(b"u_taker" in (e.body or b"") for e in world.store.events.values())
    assert world.store.customers == {} or "u_taker" not in world.store.customers.values()


def test_a_shared_purchase_stays_with_the_other_owners(world):
    world = World(strategy=Strategy.ALL)
    claim(world, "u_a")
    claim(world, "u_b", T0 + 1)
    world.erase("u_a")
    assert world.owners(APPLE_PURCHASE) == ["u_b"] and world.has("u_b")
    (copy,) = world.store.load_user("u_b").purchases
    assert copy.owner_ids == ("u_b",)


def test_a_stripe_subscription_naming_the_user_id_attaches_to_the_same_id_signing_up_again(world):
    session = stripe.checkout_session("u_back", subscription_id="sub_back", customer="cus_back")
    world.deliver(stripe.event("checkout.session.completed", session, created=T0))
    created = stripe.subscription("sub_back", period_end=T0 + 30 * 86400, customer="cus_back", user_id="u_back")
    world.deliver(stripe.event("customer.subscription.created", created, created=T0 + 1))
    world.drain()
    assert world.has("u_back")

    world.erase("u_back")
    assert world.owners("stripe:sub_back") == [] and not world.has("u_back")

    renewed = stripe.subscription("sub_back", period_end=T0 + 60 * 86400, customer="cus_back", user_id="u_back")
    world.deliver(stripe.event("customer.subscription.updated", renewed, created=T0 + 100))
    world.drain()
    assert world.owners("stripe:sub_back") == ["u_back"] and world.has("u_back")


def test_replay_works_from_the_steps_once_bodies_are_gone(world):
    claim(world, "u_replay")
    claim(world, "u_keeps", T0 + 1)
    world.grant("u_keeps", "lifetime")
    world.erase("u_replay")
    world.store.expire_bodies(NOW + timedelta(days=365))
    assert all(e.body is None for e in world.store.events.values())

    replay = world.replayer().everything()

    assert replay.consistent and replay.purchases == 2, replay.differing
