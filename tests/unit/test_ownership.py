"""Who may use a purchase: ALL / FIRST / LAST, and a manual association outranking every claim."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from parity.domain.ownership import (
    Action,
    ClaimDecision,
    Refusal,
    Strategy,
    assign,
    claim_records,
    decide_claim,
    merge_owner,
)
from tests.support.domain import T0, purchase

EVERY_STRATEGY = list(Strategy)


@pytest.mark.parametrize("strategy", EVERY_STRATEGY)
def test_the_first_claimant_of_an_unowned_purchase_becomes_its_owner(strategy):
    decision = decide_claim(purchase(owner_ids=()), "u_1", strategy)
    assert decision == ClaimDecision(("u_1",), accepted=True, action=Action.CLAIMED)
    assert not decision.refused


@pytest.mark.parametrize("strategy", EVERY_STRATEGY)
def test_the_same_claimant_again_is_accepted_and_changes_nothing(strategy):
    owned = purchase(owner_ids=("u_1", "u_2"))
    assert decide_claim(owned, "u_2", strategy) == ClaimDecision(("u_1", "u_2"), accepted=True, action=None)


def test_under_all_every_claimant_shares_the_purchase():
    # GIVEN a purchase owned by u_1
    owned = purchase(owner_ids=("u_1",))

    # WHEN u_2, then u_3 claim it under ALL
    second = decide_claim(owned, "u_2", Strategy.ALL)
    third = decide_claim(purchase(owner_ids=second.owner_ids), "u_3", Strategy.ALL)

    # THEN all are owners, the first one first
    assert second == ClaimDecision(("u_1", "u_2"), accepted=True, action=Action.SHARED)
    assert third == ClaimDecision(("u_1", "u_2", "u_3"), accepted=True, action=Action.SHARED)


def test_under_first_the_first_claimant_keeps_it_and_a_later_claim_is_refused():
    decision = decide_claim(purchase(owner_ids=("u_1",)), "u_2", Strategy.FIRST)
    assert decision == ClaimDecision(("u_1",), accepted=False, action=Action.REFUSED, refusal=Refusal.HELD)
    assert decision.refused


def test_under_last_the_latest_claimant_takes_it_over():
    decision = decide_claim(purchase(owner_ids=("u_1",)), "u_2", Strategy.LAST)
    assert decision == ClaimDecision(("u_2",), accepted=True, action=Action.TOOK_OVER)


def test_under_last_a_takeover_of_a_shared_purchase_leaves_only_the_claimant():
    shared = purchase(owner_ids=("u_1", "u_2"))
    assert decide_claim(shared, "u_3", Strategy.LAST).owner_ids == ("u_3",)


@pytest.mark.parametrize("strategy", EVERY_STRATEGY)
def test_a_manual_association_outranks_every_claim_by_another_user(strategy):
    # GIVEN an operator associated the purchase with u_1
    manual = assign(purchase(owner_ids=("u_0", "u_9")), "u_1")
    assert manual.owner_ids == ("u_1",) and manual.manual_owner

    # WHEN u_2 claims it, under any strategy
    decision = decide_claim(manual, "u_2", strategy)

    # THEN the claim is refused and u_1 keeps it
    assert decision == ClaimDecision(("u_1",), accepted=False, action=Action.REFUSED, refusal=Refusal.HELD)


@pytest.mark.parametrize("strategy", EVERY_STRATEGY)
def test_the_manually_chosen_owner_may_claim_again(strategy):
    manual = purchase(owner_ids=("u_1",), manual_owner=True)
    assert decide_claim(manual, "u_1", strategy) == ClaimDecision(("u_1",), accepted=True)


def test_a_merge_replaces_the_merged_user_among_the_owners_once():
    shared = purchase(owner_ids=("u_old", "u_other", "u_new"), manual_owner=True)
    merged = merge_owner(shared, "u_old", "u_new")
    assert merged.owner_ids == ("u_new", "u_other")
    assert merged.manual_owner  # a manual association survives a merge


def test_a_refusal_is_recorded_for_the_claimant_and_for_each_owner():
    decision = decide_claim(purchase(owner_ids=("u_1",)), "u_2", Strategy.FIRST)
    records = claim_records(("u_1",), decision.owner_ids, "u_2", decision, "stripe:sub_1", T0, "stripe", "evt_1", Strategy.FIRST)
    assert [(r.user_id, r.action, r.other_user_ids) for r in records] == [
        ("u_2", Action.REFUSED, ("u_1",)),
        ("u_1", Action.CLAIM_REFUSED, ("u_2",)),
    ]
    assert {(r.source, r.event_id, r.purchase_id, r.strategy) for r in records} == {
        ("stripe", "evt_1", "stripe:sub_1", Strategy.FIRST)
    }


def test_a_takeover_is_recorded_for_the_new_owner_and_each_owner_who_lost_it():
    before = ("u_1", "u_2")
    decision = decide_claim(purchase(owner_ids=before), "u_3", Strategy.LAST)
    records = claim_records(before, decision.owner_ids, "u_3", decision, "p", T0, "app_store", "n_1", Strategy.LAST)
    assert [(r.user_id, r.action, r.other_user_ids) for r in records] == [
        ("u_3", Action.TOOK_OVER, ("u_1", "u_2")),
        ("u_1", Action.LOST, ("u_3",)),
        ("u_2", Action.LOST, ("u_3",)),
    ]


def test_a_claim_by_an_owner_records_nothing():
    decision = decide_claim(purchase(owner_ids=("u_1",)), "u_1", Strategy.LAST)
    assert claim_records(("u_1",), ("u_1",), "u_1", decision, "p", T0, "stripe", "e", Strategy.LAST) == ()


@pytest.mark.parametrize(
    ("text", "strategy"), [("ALL", Strategy.ALL), ("FIRST", Strategy.FIRST), ("LAST", Strategy.LAST)]
)
def test_strategies_are_named_as_in_the_contract(text, strategy):
    assert Strategy(text) is strategy


# ------------------------------------------------------------------------------- property

USERS = st.sampled_from(["u_a", "u_b", "u_c", "u_d"])
STEPS = st.lists(st.tuples(st.sampled_from(["claim", "assign"]), USERS), max_size=12)


def predicted_owners(steps: list[tuple[str, str]], strategy: Strategy) -> set[str]:
    """The rules, stated without the implementation: the last manual association wins over everything
    after it; before any, ALL keeps every claimant, FIRST the first, LAST the last."""
    manual = [user for kind, user in steps if kind == "assign"]
    if manual:
        return {manual[-1]}
    claimants = [user for _, user in steps]
    if not claimants:
        return set()
    return {Strategy.ALL: set(claimants), Strategy.FIRST: {claimants[0]}, Strategy.LAST: {claimants[-1]}}[strategy]


@given(strategy=st.sampled_from(EVERY_STRATEGY), steps=STEPS)
def test_any_interleaving_of_claims_and_manual_associations_ends_as_the_rules_predict(strategy, steps):
    held = purchase(owner_ids=())
    for kind, user in steps:
        if kind == "assign":
            held = assign(held, user)
        else:
            decision = decide_claim(held, user, strategy)
            assert decision.accepted == (user in decision.owner_ids)  # a refused claimant never holds it
            held = held.with_changes(owner_ids=decision.owner_ids)
    assert set(held.owner_ids) == predicted_owners(steps, strategy)
    assert len(held.owner_ids) == len(set(held.owner_ids))
    if strategy is not Strategy.ALL or held.manual_owner:
        assert len(held.owner_ids) <= 1  # never two owners under FIRST or LAST


# ------------------------------------------------------------------------ verified links and ids alone


@pytest.mark.parametrize("strategy", EVERY_STRATEGY)
@pytest.mark.parametrize("owners", [(), ("u_a",), ("u_owner",)])
def test_a_purchase_the_store_links_to_a_user_is_refused_to_anyone_else_under_every_strategy(strategy, owners):
    linked = purchase(owner_ids=owners).with_changes(linked_user="u_a")

    decision = decide_claim(linked, "u_b", strategy)

    assert (decision.accepted, decision.owner_ids, decision.refusal) == (False, owners, Refusal.LINKED)


@pytest.mark.parametrize("strategy", EVERY_STRATEGY)
def test_the_linked_user_claims_an_unowned_purchase(strategy):
    linked = purchase(owner_ids=()).with_changes(linked_user="u_a")
    assert decide_claim(linked, "u_a", strategy) == ClaimDecision(("u_a",), accepted=True, action=Action.CLAIMED)


@pytest.mark.parametrize("strategy", EVERY_STRATEGY)
def test_a_manual_association_outranks_the_link(strategy):
    manual = assign(purchase(owner_ids=()).with_changes(linked_user="u_a"), "u_ops")

    decision = decide_claim(manual, "u_a", strategy)

    assert (decision.accepted, decision.owner_ids, decision.refusal) == (False, ("u_ops",), Refusal.HELD)


@pytest.mark.parametrize("strategy", EVERY_STRATEGY)
def test_an_id_alone_takes_nothing_from_an_owner(strategy):
    decision = decide_claim(purchase(owner_ids=("u_a",)), "u_b", strategy, id_only=True)
    assert (decision.accepted, decision.owner_ids, decision.refusal) == (False, ("u_a",), Refusal.UNPROVEN)


@pytest.mark.parametrize("strategy", EVERY_STRATEGY)
def test_an_id_alone_claims_a_purchase_nobody_holds_or_one_linked_to_the_claimant(strategy):
    assert decide_claim(purchase(owner_ids=()), "u_b", strategy, id_only=True).owner_ids == ("u_b",)
    mine = purchase(owner_ids=()).with_changes(linked_user="u_b")
    assert decide_claim(mine, "u_b", strategy, id_only=True).owner_ids == ("u_b",)



@given(
    strategy=st.sampled_from(EVERY_STRATEGY),
    link=USERS,
    claims=st.lists(st.tuples(USERS, st.booleans()), max_size=12),
)
def test_whatever_the_claims_only_the_linked_user_ever_holds_a_linked_purchase(strategy, link, claims):
    held = purchase(owner_ids=()).with_changes(linked_user=link)
    for user, id_only in claims:
        decision = decide_claim(held, user, strategy, id_only)
        assert decision.accepted == (user == link)
        held = held.with_changes(owner_ids=decision.owner_ids)
    assert set(held.owner_ids) <= {link}
# ------------------------------------------------------------------------------ the bound on sharing


def test_under_all_a_claimant_past_the_bound_is_refused_as_too_many_owners():
    # GIVEN a purchase shared by 3 users, the most allowed
    full = purchase(owner_ids=("u_1", "u_2", "u_3"))

    # WHEN a fourth user claims it
    decision = decide_claim(full, "u_4", Strategy.ALL, max_owners=3)

    # THEN the claim is refused for that reason, the owners unchanged
    assert decision == ClaimDecision(("u_1", "u_2", "u_3"), accepted=False, action=Action.REFUSED, refusal=Refusal.TOO_MANY_OWNERS)


def test_under_all_a_claimant_below_the_bound_shares_and_an_owner_claims_again_at_it():
    assert decide_claim(purchase(owner_ids=("u_1", "u_2")), "u_3", Strategy.ALL, max_owners=3).accepted
    assert decide_claim(purchase(owner_ids=("u_1", "u_2", "u_3")), "u_2", Strategy.ALL, max_owners=3).accepted


@pytest.mark.parametrize("strategy", [Strategy.FIRST, Strategy.LAST])
def test_the_bound_on_sharing_changes_nothing_under_first_and_last(strategy):
    owned = purchase(owner_ids=("u_1",))
    assert decide_claim(owned, "u_2", strategy, max_owners=1) == decide_claim(owned, "u_2", strategy)


def test_a_bound_of_one_lets_nobody_share():
    decision = decide_claim(purchase(owner_ids=("u_1",)), "u_2", Strategy.ALL, max_owners=1)
    assert decision.refused and decision.refusal is Refusal.TOO_MANY_OWNERS


def test_a_refusal_for_too_many_owners_is_one_line_of_the_claimants_trail_only():
    owners = ("u_1", "u_2")
    decision = decide_claim(purchase(owner_ids=owners), "u_3", Strategy.ALL, max_owners=2)

    records = claim_records(owners, decision.owner_ids, "u_3", decision, "p", T0, "app_store", "e_1", Strategy.ALL)

    assert [(r.user_id, r.action, r.other_user_ids, r.detail) for r in records] == [
        ("u_3", Action.REFUSED, owners, "too_many_owners")
    ]
