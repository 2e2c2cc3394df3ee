"""From purchases and the catalog to entitlements: who wins, history, cacheUntil, diffs, ageing."""

from __future__ import annotations

import itertools
from dataclasses import replace
from datetime import timedelta

import pytest

from parity.domain.entitlements import (
    Catalog,
    Entitlement,
    EntitlementChange,
    cache_until,
    compute_entitlements,
    diff_entitlements,
    entitlements_with_history,
)
from parity.domain.model import Revocation, State, Store
from tests.support.domain import day, lifetime, purchase

NOW = day(10)
GRACE = timedelta(days=1)
CATALOG = Catalog.from_document(
    {
        "products": {
            "price_pro_monthly": ["pro"],
            "price_pro_yearly": ["pro"],
            "prod_pro": ["pro"],
            "price_lifetime": ["pro", "lifetime"],
            "com.example.pro.monthly": ["pro"],
        }
    }
)


# --------------------------------------------------------------------------- catalog


def test_catalog_maps_a_stripe_price_id():
    assert CATALOG.entitlements_of(purchase(product_id="price_pro_yearly")) == ("pro",)


def test_catalog_maps_a_stripe_product_id_when_the_price_is_unknown():
    # GIVEN a subscription on a price the catalog does not list, of a product it does
    on_new_price = purchase(product_id="price_new", product_refs=("price_new", "prod_pro"))
    assert CATALOG.entitlements_of(on_new_price) == ("pro",)


def test_catalog_maps_store_product_ids():
    app_store = purchase(store=Store.APP_STORE, store_key="2000000123", product_id="com.example.pro.monthly")
    assert CATALOG.entitlements_of(app_store) == ("pro",)


def test_catalog_lists_each_entitlement_once_in_catalog_order():
    both = purchase(product_id="price_lifetime", product_refs=("price_lifetime", "prod_pro"))
    assert CATALOG.entitlements_of(both) == ("pro", "lifetime")


def test_an_unknown_or_missing_product_unlocks_nothing():
    assert CATALOG.entitlements_of(purchase(product_id="price_other")) == ()
    assert CATALOG.entitlements_of(purchase(product_id=None)) == ()


@pytest.mark.parametrize(
    "document",
    [{}, ["pro"], {"products": ["pro"]}, {"items": {}}, {"products": {"price_pro": "pro"}}, {"products": {"p": [1]}}],
    ids=["empty", "array", "products as array", "no products", "entitlements as a string", "entitlement not text"],
)
def test_a_catalog_document_of_the_wrong_shape_is_refused(document):
    with pytest.raises(ValueError):
        Catalog.from_document(document)


# --------------------------------------------------------------------------- the winning purchase


def winner(*purchases):
    """The purchase shown for `pro`, checked to be the same in every input order."""
    shown = {
        compute_entitlements(order, CATALOG, NOW)["pro"].purchase_id for order in itertools.permutations(purchases)
    }
    assert len(shown) == 1, f"the winner depends on the order of purchases: {shown}"
    return shown.pop()


def test_lifetime_beats_a_dated_subscription():
    monthly = purchase(State.ACTIVE, day(365), store_key="sub_1")
    forever = lifetime(store_key="pi_1")
    assert winner(monthly, forever) == "stripe:pi_1"


def test_an_active_purchase_beats_an_inactive_one_that_ends_later():
    active = purchase(State.ACTIVE, day(20), store_key="sub_active")
    on_hold_longer = purchase(State.ON_HOLD, day(90), store_key="sub_on_hold")
    assert winner(active, on_hold_longer) == "stripe:sub_active"


def test_among_active_purchases_the_longest_access_wins_counting_the_grace_end():
    monthly = purchase(State.ACTIVE, day(30), store_key="sub_monthly")
    in_grace = purchase(State.GRACE_PERIOD, day(9), grace_ends_at=day(40), store_key="sub_grace")
    assert winner(monthly, in_grace) == "stripe:sub_grace"


def test_among_inactive_purchases_the_one_ending_last_is_shown():
    ended_earlier = purchase(State.EXPIRED, day(2), store_key="sub_old")
    ended_last = purchase(State.EXPIRED, day(8), store_key="sub_recent")
    revoked_earlier = purchase(
        State.ACTIVE, day(5), store_key="sub_refunded", revocations=(Revocation("refund:ch", day(5), True, day(1)),)
    )
    assert winner(ended_earlier, ended_last, revoked_earlier) == "stripe:sub_recent"


def test_an_active_purchase_past_its_expiry_is_inactive():
    # Stored as active, but its period ended: it does not outrank an expired one ending later.
    lapsed = purchase(State.ACTIVE, day(5), store_key="sub_lapsed")
    expired_later = purchase(State.EXPIRED, day(8), store_key="sub_expired")
    entitlement = compute_entitlements([lapsed, expired_later], CATALOG, NOW)["pro"]
    assert (entitlement.purchase_id, entitlement.active) == ("stripe:sub_expired", False)


def test_a_tie_is_decided_the_same_whatever_the_order_of_purchases():
    # GIVEN two purchases giving exactly the same access (bought lifetime twice)
    first, second = lifetime(store_key="pi_1"), lifetime(store_key="pi_2")
    # THEN the one shown does not depend on which was updated (and listed) last
    winner(first, second)


def test_the_entitlement_carries_the_winning_purchase_as_the_contract_shows_it():
    grace = purchase(
        State.GRACE_PERIOD,
        day(9),
        grace_ends_at=day(25),
        will_renew=True,
        store=Store.APP_STORE,
        store_key="2000000123",
        product_id="com.example.pro.monthly",
    )
    assert compute_entitlements([grace], CATALOG, NOW) == {
        "pro": Entitlement(
            entitlement_id="pro",
            active=True,
            state=State.GRACE_PERIOD,
            expires_at=day(9),
            grace_ends_at=day(25),
            will_renew=True,
            store=Store.APP_STORE,
            product_id="com.example.pro.monthly",
            purchase_id="app_store:2000000123",
        )
    }


def test_a_purchase_unlocking_two_entitlements_wins_each_separately():
    monthly = purchase(State.ACTIVE, day(30), store_key="sub_1")
    expired_lifetime = lifetime(State.REVOKED, store_key="pi_1")
    entitlements = compute_entitlements([monthly, expired_lifetime], CATALOG, NOW)
    assert list(entitlements) == ["lifetime", "pro"]
    assert entitlements["pro"].purchase_id == "stripe:sub_1"
    assert (entitlements["lifetime"].purchase_id, entitlements["lifetime"].active) == ("stripe:pi_1", False)


def test_no_purchases_no_entitlements():
    assert compute_entitlements([], CATALOG, NOW) == {}


# --------------------------------------------------------------------------- history


def test_a_lost_entitlement_stays_in_the_answer_as_inactive():
    # GIVEN a user whose lifetime purchase was taken over by someone else (it is no longer theirs)
    before = compute_entitlements([lifetime(store_key="pi_1")], CATALOG, NOW)
    assert before["lifetime"].active

    # WHEN entitlements are computed from what they now hold (a monthly subscription)
    after = entitlements_with_history([purchase(State.ACTIVE, day(30))], before, CATALOG, NOW)

    # THEN "lifetime" still appears with its last known purchase, withdrawn; "pro" comes from the subscription
    assert list(after) == ["lifetime", "pro"]
    assert after["lifetime"] == replace(before["lifetime"], active=False, state=State.REVOKED, will_renew=False)
    assert (after["pro"].purchase_id, after["pro"].active) == ("stripe:sub_1", True)


def test_a_past_entitlement_that_had_ended_keeps_its_state():
    before = compute_entitlements([purchase(State.EXPIRED, day(-2), store_key="sub_old")], CATALOG, NOW)
    after = entitlements_with_history([], before, CATALOG, NOW)
    assert after["pro"] == before["pro"]


def test_current_purchases_take_precedence_over_history():
    history = compute_entitlements([purchase(State.EXPIRED, day(2), store_key="sub_old")], CATALOG, NOW)
    after = entitlements_with_history([purchase(State.ACTIVE, day(30))], history, CATALOG, NOW)
    assert (after["pro"].purchase_id, after["pro"].active) == ("stripe:sub_1", True)


# --------------------------------------------------------------------------- cacheUntil


def entitlement(active=True, state=State.ACTIVE, expires_at=None, grace_ends_at=None, eid="pro"):
    return Entitlement(eid, active, state, expires_at, grace_ends_at, False, Store.STRIPE, "price", f"stripe:{eid}")


def test_cache_until_is_now_plus_the_offline_grace_without_entitlements():
    assert cache_until([], NOW, GRACE) == NOW + GRACE


def test_cache_until_stops_at_the_next_access_end_within_the_grace():
    ends_soon = entitlement(expires_at=NOW + timedelta(hours=3))
    assert cache_until([ends_soon], NOW, GRACE) == NOW + timedelta(hours=3)


def test_cache_until_is_the_earliest_of_several_access_ends():
    ends = [entitlement(expires_at=NOW + timedelta(hours=h), eid=f"e{h}") for h in (20, 5, 12)]
    assert cache_until(ends, NOW, GRACE) == NOW + timedelta(hours=5)


def test_an_access_end_beyond_the_grace_does_not_extend_it():
    assert cache_until([entitlement(expires_at=NOW + timedelta(days=30))], NOW, GRACE) == NOW + GRACE


def test_the_grace_end_counts_for_an_entitlement_in_grace():
    in_grace = entitlement(
        state=State.GRACE_PERIOD, expires_at=NOW - timedelta(days=1), grace_ends_at=NOW + timedelta(hours=6)
    )
    assert cache_until([in_grace], NOW, GRACE) == NOW + timedelta(hours=6)


def test_lifetime_and_inactive_entitlements_do_not_shorten_it():
    forever = entitlement(expires_at=None)
    inactive = entitlement(active=False, state=State.EXPIRED, expires_at=NOW + timedelta(hours=1), eid="old")
    assert cache_until([forever, inactive], NOW, GRACE) == NOW + GRACE


def test_cache_until_follows_the_computed_entitlements():
    # End to end in the domain: a trial ending in two hours caps the offline trust at two hours.
    trial = purchase(State.TRIALING, NOW + timedelta(hours=2))
    assert cache_until(compute_entitlements([trial], CATALOG, NOW).values(), NOW, GRACE) == NOW + timedelta(hours=2)


# --------------------------------------------------------------------------- diff


def test_no_change_is_reported_between_equal_projections():
    same = {"pro": entitlement(expires_at=day(30))}
    assert diff_entitlements("u_1", same, dict(same)) == []


@pytest.mark.parametrize(
    "change",
    [
        {"active": False},
        {"state": State.BILLING_RETRY},
        {"expires_at": day(60)},
        {"grace_ends_at": day(45)},
        {"purchase_id": "stripe:sub_2"},
        {"will_renew": True},
    ],
    ids=lambda c: next(iter(c)),
)
def test_a_change_of_access_or_of_the_purchase_behind_it_is_reported(change):
    old = {"pro": entitlement(expires_at=day(30))}
    new = {"pro": replace(old["pro"], **change)}
    assert diff_entitlements("u_1", old, new) == [EntitlementChange("u_1", "pro", old["pro"], new["pro"])]


def test_gained_and_lost_entitlements_are_reported_in_id_order():
    old = {"pro": entitlement(expires_at=day(30))}
    new = {"lifetime": entitlement(eid="lifetime")}
    assert diff_entitlements("u_1", old, new) == [
        EntitlementChange("u_1", "lifetime", None, new["lifetime"]),
        EntitlementChange("u_1", "pro", old["pro"], None),
    ]


# --------------------------------------------------------------------------- Entitlement.at (ageing)


def test_a_stored_projection_deactivates_once_its_access_ended():
    stored = entitlement(expires_at=day(30))
    assert stored.at(day(29)) is stored
    assert stored.at(day(30)) == replace(stored, active=False)


def test_ageing_uses_the_grace_end_in_grace():
    in_grace = entitlement(state=State.GRACE_PERIOD, expires_at=day(5), grace_ends_at=day(21))
    assert in_grace.at(day(20)).active
    assert not in_grace.at(day(21)).active


def test_ageing_never_activates():
    # GIVEN an inactive entitlement (e.g. lost to another user) with an end still in the future
    inactive = entitlement(active=False, expires_at=day(30))
    # THEN judging it at an earlier or later time keeps it inactive
    assert inactive.at(day(1)) is inactive
    assert inactive.at(day(40)) is inactive


def test_a_lifetime_entitlement_never_ages():
    forever = entitlement(expires_at=None)
    assert forever.at(day(100 * 365)) is forever


def test_the_catalogs_manual_store_is_the_models():
    # domain/catalog.py names the manual store by its value, so that parsing the catalog at every cold
    # start does not load the purchase model.
    from parity.domain import catalog
    from parity.domain.model import Store

    assert catalog.MANUAL == Store.MANUAL.value
