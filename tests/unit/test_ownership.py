"""Who may use a purchase: ALL / FIRST / LAST, and a manual association outranking every claim."""

from __future__ import annotations

import pytest

from parity.domain.ownership import ClaimDecision, Strategy, decide_claim
from tests.support.domain import purchase

EVERY_STRATEGY = list(Strategy)


@pytest.mark.parametrize("strategy", EVERY_STRATEGY)
def test_the_first_claimant_of_an_unowned_purchase_becomes_its_owner(strategy):
    decision = decide_claim(purchase(owner_ids=()), "u_1", strategy)
    assert decision == ClaimDecision(("u_1",), accepted=True)
    assert not decision.refused


@pytest.mark.parametrize("strategy", EVERY_STRATEGY)
def test_the_same_claimant_again_is_accepted_and_changes_nothing(strategy):
    owned = purchase(owner_ids=("u_1", "u_2"))
    assert decide_claim(owned, "u_2", strategy) == ClaimDecision(("u_1", "u_2"), accepted=True)


def test_under_all_every_claimant_shares_the_purchase():
    # GIVEN a purchase owned by u_1
    owned = purchase(owner_ids=("u_1",))

    # WHEN u_2, then u_3 claim it under ALL
    second = decide_claim(owned, "u_2", Strategy.ALL)
    third = decide_claim(purchase(owner_ids=second.owner_ids), "u_3", Strategy.ALL)

    # THEN all are owners, the first one first
    assert second == ClaimDecision(("u_1", "u_2"), accepted=True)
    assert third == ClaimDecision(("u_1", "u_2", "u_3"), accepted=True)


def test_under_first_the_first_claimant_keeps_it_and_a_later_claim_is_refused():
    decision = decide_claim(purchase(owner_ids=("u_1",)), "u_2", Strategy.FIRST)
    assert decision == ClaimDecision(("u_1",), accepted=False)
    assert decision.refused


def test_under_last_the_latest_claimant_takes_it_over():
    assert decide_claim(purchase(owner_ids=("u_1",)), "u_2", Strategy.LAST) == ClaimDecision(("u_2",), accepted=True)


def test_under_last_a_takeover_of_a_shared_purchase_leaves_only_the_claimant():
    shared = purchase(owner_ids=("u_1", "u_2"))
    assert decide_claim(shared, "u_3", Strategy.LAST).owner_ids == ("u_3",)


@pytest.mark.parametrize("strategy", EVERY_STRATEGY)
def test_a_manual_association_outranks_every_claim_by_another_user(strategy):
    # GIVEN an operator associated the purchase with u_1
    manual = purchase(owner_ids=("u_1",), manual_owner=True)

    # WHEN u_2 claims it, under any strategy
    decision = decide_claim(manual, "u_2", strategy)

    # THEN the claim is refused and u_1 keeps it
    assert decision == ClaimDecision(("u_1",), accepted=False)


@pytest.mark.parametrize("strategy", EVERY_STRATEGY)
def test_the_manually_chosen_owner_may_claim_again(strategy):
    manual = purchase(owner_ids=("u_1",), manual_owner=True)
    assert decide_claim(manual, "u_1", strategy) == ClaimDecision(("u_1",), accepted=True)


@pytest.mark.parametrize(
    ("text", "strategy"), [("ALL", Strategy.ALL), ("FIRST", Strategy.FIRST), ("LAST", Strategy.LAST)]
)
def test_strategies_are_named_as_in_the_contract(text, strategy):
    assert Strategy(text) is strategy
