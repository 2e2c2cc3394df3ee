"""Who may use a purchase, on the in-memory fakes: strategies, manual association, merges, the audit
trail, refund abuse and double billing, through the processor and the operator actions
(`services.processing`, `services.admin`). The admin routes' HTTP handling is in
tests/integration/test_ownership.py."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from parity.domain.errors import InvalidInput, MergeRefused, UserNotFound
from parity.domain.ownership import Strategy
from tests.support import stripe
from tests.support.domain import app_store_claim
from tests.support.services import NOW, OPERATOR, World
from tests.unit.test_ownership import predicted_owners

APPLE_KEY = "2000000000000001"
APPLE_PURCHASE = f"app_store:{APPLE_KEY}"
T0 = int(NOW.timestamp()) - 3600  # a store event time an hour ago; tests add seconds to order events
_ids = itertools.count(1)


@pytest.fixture
def world() -> World:
    return World()


def claim(world: World, user: str | None, t0: int = T0, store_key: str = APPLE_KEY, token: str | None = None, days: int = 30):
    """A store update for one App Store purchase claimed by `user` (or by whoever `token` names)."""
    update = app_store_claim(user, t0, store_key, f"n_{next(_ids)}", token, days)
    return world.processor().apply(update, source="app_store")


# ----------------------------------------------------------------------------------------- strategies


def test_under_first_a_later_claim_is_refused_and_recorded_for_both_users():
    world = World(strategy=Strategy.FIRST)
    # GIVEN u_first claimed the purchase
    assert claim(world, "u_first").status == "applied"

    # WHEN u_second claims it
    outcome = claim(world, "u_second", T0 + 1)

    # THEN the claim is refused, u_first keeps it, and both users' trails say so
    assert outcome.claim_refused
    assert world.owners(APPLE_PURCHASE) == ["u_first"]
    assert world.has("u_first") and not world.has("u_second")
    refused = world.user_report("u_first")["refusals"]
    assert [(r["action"], r["otherUserIds"], r["strategy"]) for r in refused] == [("claim_refused", ["u_second"], "FIRST")]
    mine = world.user_report("u_second")["refusals"]
    assert [(r["action"], r["otherUserIds"], r["purchaseId"]) for r in mine] == [("refused", ["u_first"], APPLE_PURCHASE)]


def test_under_last_the_latest_claimant_takes_over_and_the_previous_owner_is_told(world):
    claim(world, "u_old")
    world.publisher.changes()

    claim(world, "u_new", T0 + 1)

    assert world.owners(APPLE_PURCHASE) == ["u_new"]
    assert world.has("u_new") and not world.has("u_old")
    lost = [c for c in world.publisher.changes() if c["userId"] == "u_old"]
    assert [(c["entitlement"], c["old"]["active"], c["new"]["active"]) for c in lost] == [("pro", True, False)]
    claims = world.user_report("u_new")["claims"]
    assert [(c["action"], c["otherUserIds"]) for c in claims] == [("took_over", ["u_old"])]
    assert [c["action"] for c in world.user_report("u_old")["claims"]] == ["lost", "claimed"]


def test_under_all_every_claimant_has_access():
    world = World(strategy=Strategy.ALL)
    for offset, user in enumerate(["u_1", "u_2", "u_3"]):
        claim(world, user, T0 + offset)
    assert world.owners(APPLE_PURCHASE) == ["u_1", "u_2", "u_3"]
    assert all(world.has(user) for user in ["u_1", "u_2", "u_3"])
    ownership = {u: world.read(u)["purchases"][0]["ownership"] for u in ["u_1", "u_2"]}
    assert ownership == {"u_1": "owner", "u_2": "shared"}


def test_concurrent_claims_under_first_leave_exactly_one_owner(monkeypatch):
    world = World(strategy=Strategy.FIRST)
    other_container = world.processor()
    real_commit, raced = world.store.commit, []

    # GIVEN another container commits u_them's claim while this one is between its read and its write
    def racing_commit(commit):
        if not raced:
            raced.append(True)
            assert not claim_with(other_container, "u_them").claim_refused
        real_commit(commit)

    def claim_with(processor, user):
        return processor.apply(app_store_claim(user, T0, APPLE_KEY, "n_theirs"), source="app_store")

    monkeypatch.setattr(world.store, "commit", racing_commit)

    # WHEN this container's claim by u_us commits
    outcome = claim(world, "u_us")

    # THEN its conditional write lost, the retry saw u_them's claim, and u_us was refused
    assert outcome.claim_refused
    assert world.owners(APPLE_PURCHASE) == ["u_them"]
    assert not world.has("u_us")


def test_a_claim_by_the_owner_again_records_nothing(world):
    claim(world, "u_1")
    assert claim(world, "u_1").status == "stale"
    assert [c["action"] for c in world.user_report("u_1")["claims"]] == ["claimed"]


# ------------------------------------------------------------------------------- manual association


def test_a_manual_association_outranks_later_claims_under_last(world):
    claim(world, "u_claimant")

    # WHEN an operator associates the purchase with u_chosen
    answer = world.assign_owner(APPLE_PURCHASE, "u_chosen")

    # THEN u_chosen alone has it, and later claims by anyone else are refused
    assert answer == {
        "purchaseId": APPLE_PURCHASE,
        "ownerIds": ["u_chosen"],
        "ownership": "manual",
        "previousOwnerIds": ["u_claimant"],
    }
    assert world.has("u_chosen") and not world.has("u_claimant")
    assert claim(world, "u_claimant", T0 + 10).claim_refused
    assert world.owners(APPLE_PURCHASE) == ["u_chosen"]
    assert world.read("u_chosen")["purchases"][0]["ownership"] == "manual"

    # AND only another manual association moves it
    world.assign_owner(APPLE_PURCHASE, "u_claimant")
    assert world.owners(APPLE_PURCHASE) == ["u_claimant"] and not world.has("u_chosen")
    assigned = world.user_report("u_claimant")["claims"][0]
    assert (assigned["action"], assigned["actor"]) == ("assigned", OPERATOR)


def test_a_manual_association_is_in_the_event_log_and_repeating_it_changes_nothing(world):
    claim(world, "u_1")
    world.assign_owner(APPLE_PURCHASE, "u_2")
    version = world.store.get_purchase(APPLE_PURCHASE).version

    world.assign_owner(APPLE_PURCHASE, "u_2")

    assert world.store.get_purchase(APPLE_PURCHASE).version == version
    events = world.user_report("u_2")["purchases"][0]["events"]
    assert [e["eventType"] for e in events if e["source"] == "admin"] == ["purchase.owner_assigned"] * 2


# --------------------------------------------------------------------------------------------- merge


def test_after_a_merge_both_ids_read_the_merged_entitlements(world):
    # GIVEN u_old holds an App Store purchase and u_new a Stripe one for another entitlement
    claim(world, "u_old")
    world.deliver(stripe.event(
        "customer.subscription.created",
        stripe.subscription("sub_team", "active", T0 + 30 * stripe.DAY, price="price_team", product="prod_team", user_id="u_new"),
        created=T0,
    ))  # fmt: skip
    world.drain()
    assert not world.failed
    old_token = world.read("u_old")["appAccountToken"]

    # WHEN u_old is merged into u_new
    answer = world.merge("u_new", "u_old")

    # THEN both ids read the same entitlements, the merged user's
    assert answer["purchasesMoved"] == 1
    merged, alias = world.read("u_new"), world.read("u_old")
    assert alias["entitlements"] == merged["entitlements"]
    assert set(merged["entitlements"]) == {"pro", "team"} and merged["userId"] == alias["userId"] == "u_new"
    assert world.owners(APPLE_PURCHASE) == ["u_new"]

    # AND a store event carrying the old user's token, or naming the old user, lands on the merged user
    claim(world, None, T0 + 5, store_key="2000000000000002", token=old_token)
    assert world.owners("app_store:2000000000000002") == ["u_new"]
    claim(world, "u_old", T0 + 6, store_key="2000000000000003")
    assert world.owners("app_store:2000000000000003") == ["u_new"]

    # AND the merge is in both users' trails, with the alias listed
    report = world.user_report("u_old")
    assert report["userId"] == "u_new" and report["aliases"] == ["u_old"]
    assert {c["action"] for c in report["claims"]} >= {"merged_from", "merged_into"}
    assert [n["type"] for n in world.publisher.notices()] == ["user.merged"]


def test_merging_is_idempotent_and_refuses_cycles_and_self_merges(world):
    claim(world, "u_a")
    world.read("u_b")
    world.merge("u_b", "u_a")
    version = world.store.load_user("u_b").version

    assert world.merge("u_b", "u_a")["purchasesMoved"] == 0
    assert world.store.load_user("u_b").version == version

    with pytest.raises(MergeRefused) as back:
        world.merge("u_a", "u_b")
    assert back.value.code == "merge_cycle"
    with pytest.raises(InvalidInput) as itself:
        world.merge("u_b", "u_b")
    assert itself.value.code == "invalid_merge"
    world.read("u_c")
    with pytest.raises(MergeRefused) as elsewhere:
        world.merge("u_c", "u_a")
    assert elsewhere.value.code == "already_merged"
    with pytest.raises(UserNotFound):
        world.merge("u_b", "u_nobody")


def test_aliases_never_chain(world):
    # GIVEN u_1 merged into u_2
    claim(world, "u_1")
    token_1 = world.read("u_1")["appAccountToken"]
    world.read("u_2")
    world.merge("u_2", "u_1")

    # WHEN u_2 is merged into u_3
    world.read("u_3")
    world.merge("u_3", "u_2")

    # THEN u_1 resolves to u_3 directly, and so does its token
    assert world.store.load_user("u_1").merged_into == "u_3"
    assert world.store.read_purchase(APPLE_PURCHASE, app_account_token=token_1).token_user == "u_3"
    assert world.read("u_1")["userId"] == "u_3" and world.has("u_1")
    assert sorted(world.user_report("u_3")["aliases"]) == ["u_1", "u_2"]


def test_a_merge_of_many_purchases_moves_them_all(world):
    for n in range(20):  # more than one transaction's worth
        claim(world, "u_many", store_key=f"30000000000000{n:02d}")
    world.read("u_target")

    answer = world.merge("u_target", "u_many")

    assert answer["purchasesMoved"] == 20
    assert len(world.read("u_target")["purchases"]) == 20
    assert world.read("u_many")["purchases"] == world.read("u_target")["purchases"]
    emptied = world.store.load_user("u_many")
    assert (emptied.purchases, emptied.entitlements) == ((), {})


def test_a_merge_into_a_user_never_seen_issues_them_a_token(world):
    claim(world, "u_old")
    world.merge("u_brand_new", "u_old")
    body = world.read("u_brand_new")
    assert body["appAccountToken"] and world.has("u_brand_new")


# ----------------------------------------------------------------------------------------- identity


def test_a_changed_email_on_stripe_changes_no_link(world):
    # GIVEN u_mail's customer and subscription
    world.deliver(stripe.event("customer.created", stripe.customer("cus_mail", "old@example.com", "u_mail"), created=T0))
    sub = stripe.subscription("sub_mail", "active", T0 + 30 * stripe.DAY, customer="cus_mail", user_id=None)
    world.deliver(stripe.event("customer.subscription.created", sub, created=T0 + 1))
    world.drain()
    assert world.owners("stripe:sub_mail") == ["u_mail"]

    # WHEN the customer's email changes, even to another user's address
    changed = stripe.customer("cus_mail", "someone.else@example.com", None)
    world.deliver(stripe.event("customer.updated", changed, created=T0 + 2))
    world.deliver(stripe.event("customer.subscription.updated", sub, created=T0 + 3))
    world.drain()

    # THEN the purchase and the link stay with u_mail
    assert not world.failed
    assert world.owners("stripe:sub_mail") == ["u_mail"]
    assert world.store.read_purchase("stripe:sub_mail", customer_ref="cus_mail").customer_user == "u_mail"
    assert world.has("u_mail")


# ---------------------------------------------------------------------------- refunds, double billing


def refund(world: World, user: str, n: int) -> None:
    """A one-time Stripe purchase by `user`, fully refunded."""
    session = stripe.checkout_session(user, mode="payment", payment_intent=f"pi_{n}", metadata={"price_id": "price_lifetime"})
    world.deliver(stripe.event("checkout.session.completed", session, created=T0 + n))
    world.deliver(stripe.event("charge.refunded", stripe.charge(f"ch_{n}", payment_intent=f"pi_{n}"), created=T0 + n + 1))
    world.drain()
    assert not world.failed


def flag_notices(world: World) -> list[dict]:
    return [n for n in world.publisher.notices() if n["type"] == "user.flagged_for_review"]


def test_repeated_refunds_flag_the_user_for_review_without_revoking():
    world = World(refund_threshold=2)
    claim(world, "u_refunder")  # a purchase never refunded
    refund(world, "u_refunder", 1)
    assert not world.user_report("u_refunder")["flags"]["refundAbuse"]["flagged"]
    assert not flag_notices(world)

    refund(world, "u_refunder", 3)

    flags = world.user_report("u_refunder")["flags"]["refundAbuse"]
    assert (flags["flagged"], flags["refunds"], flags["threshold"]) == (True, 2, 2)
    assert [(n["userId"], n["refunds"]) for n in flag_notices(world)] == [("u_refunder", 2)]
    assert world.has("u_refunder")  # the unrefunded purchase still grants
    refund(world, "u_refunder", 5)
    assert not flag_notices(world)  # flagged once


def test_a_redelivered_refund_counts_once(world):
    refund(world, "u_once", 1)
    world.deliver(stripe.event("charge.refunded", stripe.charge("ch_1", payment_intent="pi_1"), created=T0 + 9))
    world.drain()
    assert not world.failed
    assert world.user_report("u_once")["flags"]["refundAbuse"]["refunds"] == 1


def test_paying_for_one_entitlement_in_two_stores_is_reported(world):
    # GIVEN u_twice pays for pro on the web
    world.deliver(stripe.event(
        "customer.subscription.created", stripe.subscription("sub_web", "active", T0 + 30 * stripe.DAY, user_id="u_twice"), created=T0
    ))  # fmt: skip
    world.drain()
    assert world.publisher.notices() == []

    # WHEN they also subscribe in the App Store
    claim(world, "u_twice", T0 + 1)

    # THEN the double billing is reported: a notice, and the admin report
    expected = ["app_store:2000000000000001", "stripe:sub_web"]
    assert [(n["type"], n["entitlement"], n["purchaseIds"]) for n in world.publisher.notices()] == [
        ("billing.double_billing_detected", "pro", expected)
    ]
    assert world.user_report("u_twice")["flags"]["doubleBilling"] == [{"entitlement": "pro", "purchaseIds": expected}]


def test_the_admin_report_lists_the_events_behind_each_purchase(world):
    created = stripe.event("customer.subscription.created", stripe.subscription("sub_ev", user_id="u_ev"), created=T0)
    renewed = stripe.event("customer.subscription.updated", stripe.subscription("sub_ev", user_id="u_ev"), created=T0 + 1)
    world.deliver(created, renewed)
    world.drain()
    assert not world.failed

    purchase = world.user_report("u_ev")["purchases"][0]

    assert purchase["ownerIds"] == ["u_ev"]
    assert {(e["eventId"], e["source"]) for e in purchase["events"]} == {(created["id"], "stripe"), (renewed["id"], "stripe")}


def test_a_merge_that_also_finds_double_billing_writes_both_audit_lines(world):
    # GIVEN one person: u_ios subscribed in the App Store, u_web on the web
    claim(world, "u_ios")
    world.deliver(stripe.event(
        "customer.subscription.created", stripe.subscription("sub_web", "active", T0 + 30 * stripe.DAY, user_id="u_web"), created=T0
    ))  # fmt: skip
    world.drain()
    assert not world.failed

    # WHEN the accounts are merged (two audit lines of u_web in one transaction)
    world.merge("u_web", "u_ios")

    # THEN the double billing is reported next to the merge
    report = world.user_report("u_web")
    assert report["flags"]["doubleBilling"] == [{"entitlement": "pro", "purchaseIds": [APPLE_PURCHASE, "stripe:sub_web"]}]
    assert {"merged_from"} <= {c["action"] for c in report["claims"]}
    assert {n["type"] for n in world.publisher.notices()} == {"user.merged", "billing.double_billing_detected"}


def test_refunds_counted_on_a_merged_id_carry_over_and_can_flag_the_merged_user():
    world = World(refund_threshold=2)
    refund(world, "u_old_account", 1)
    refund(world, "u_new_account", 3)
    assert not flag_notices(world)

    world.merge("u_new_account", "u_old_account")

    flags = world.user_report("u_new_account")["flags"]["refundAbuse"]
    assert (flags["flagged"], flags["refunds"]) == (True, 2)
    assert [(n["userId"], n["refunds"]) for n in flag_notices(world)] == [("u_new_account", 2)]


# -------------------------------------------------------------------------------------------- property

STEPS = st.lists(st.tuples(st.sampled_from(["claim", "assign"]), st.sampled_from(["u_a", "u_b", "u_c"])), min_size=1, max_size=6)


@pytest.mark.parametrize("strategy", ["ALL", "FIRST", "LAST"])
def test_any_interleaving_of_claims_and_associations_ends_as_the_rules_predict(strategy):
    world = World(strategy=Strategy(strategy))
    keys = itertools.count(1)

    @settings(max_examples=8, deadline=None)
    @given(steps=STEPS)
    def run(steps):
        key = f"4{next(keys):015d}"
        for offset, (kind, user) in enumerate(steps):
            if kind == "assign":
                if world.store.get_purchase(f"app_store:{key}") is None:
                    claim(world, None, store_key=key)  # the purchase must exist to be associated
                world.assign_owner(f"app_store:{key}", user)
            else:
                claim(world, user, T0 + offset, store_key=key)
        expected = predicted_owners(steps, Strategy(strategy))
        assert set(world.owners(f"app_store:{key}")) == expected
        for user in ["u_a", "u_b", "u_c"]:
            held = {p["purchaseId"] for p in world.read(user)["purchases"]}
            assert (f"app_store:{key}" in held) == (user in expected)

    run()
