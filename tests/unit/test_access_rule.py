"""The contract's access rule, on the purchase itself.

Access only for active, trialing and grace_period, and only while expiresAt (in grace: the grace end)
is in the future; a refund or dispute of the current period's payment overlays `revoked`.
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from parity.domain.model import ACCESS_STATES, Ownership, Revocation, State
from tests.support.domain import day, lifetime, purchase

NOW = day(10)
ONE_SECOND = timedelta(seconds=1)
NO_ACCESS_STATES = sorted(set(State) - ACCESS_STATES, key=lambda s: s.value)


def test_access_states_are_exactly_active_trialing_and_grace_period():
    assert ACCESS_STATES == {State.ACTIVE, State.TRIALING, State.GRACE_PERIOD}


@pytest.mark.parametrize("state", [State.ACTIVE, State.TRIALING])
def test_an_access_state_grants_while_expiry_is_in_the_future(state):
    # GIVEN a purchase in an access state expiring one second from now
    current = purchase(state, NOW + ONE_SECOND)

    # THEN it grants now, and no longer once the expiry is reached
    assert current.grants_access(NOW)
    assert not current.grants_access(NOW + ONE_SECOND)
    assert not current.grants_access(NOW + timedelta(days=1))


@pytest.mark.parametrize("state", [State.ACTIVE, State.TRIALING])
def test_an_access_state_with_expiry_in_the_past_does_not_grant(state):
    assert not purchase(state, NOW - ONE_SECOND).grants_access(NOW)


def test_grace_period_grants_until_the_grace_end_not_the_expiry():
    # GIVEN a purchase whose period ended but whose store grace runs 16 more days
    in_grace = purchase(State.GRACE_PERIOD, day(5), grace_ends_at=day(21))

    # THEN it grants after the expiry, up to (not at) the grace end
    assert in_grace.access_ends_at == day(21)
    assert in_grace.grants_access(day(20))
    assert not in_grace.grants_access(day(21))


def test_grace_period_without_a_known_grace_end_uses_the_expiry():
    in_grace = purchase(State.GRACE_PERIOD, day(5))
    assert in_grace.grants_access(day(4))
    assert not in_grace.grants_access(day(6))


@pytest.mark.parametrize("state", NO_ACCESS_STATES, ids=lambda s: s.value)
def test_every_other_state_never_grants_even_with_a_future_expiry(state):
    assert not purchase(state, day(365), grace_ends_at=day(400)).grants_access(NOW)


@pytest.mark.parametrize("state", NO_ACCESS_STATES, ids=lambda s: s.value)
def test_every_other_state_never_grants_even_for_a_lifetime_purchase(state):
    assert not lifetime(state).grants_access(NOW)


def test_a_lifetime_purchase_grants_forever():
    owned = lifetime()
    assert owned.access_ends_at is None
    assert owned.grants_access(NOW)
    assert owned.grants_access(day(100 * 365))


def test_grace_end_only_counts_in_grace_period():
    # GIVEN an active purchase that still carries a stale grace end from an earlier snapshot
    active = purchase(State.ACTIVE, day(5), grace_ends_at=day(21))
    # THEN its access ends at the expiry
    assert active.access_ends_at == day(5)
    assert not active.grants_access(day(6))


# --------------------------------------------------------------------------- revocation overlay


def refund(covers_until, active=True, at=None, ref="refund:ch_1"):
    return Revocation(ref, covers_until, active, at or day(3))


def test_a_refund_of_the_current_period_revokes():
    # GIVEN an active subscription paid through day 30, and that payment refunded
    refunded = purchase(State.ACTIVE, day(30), revocations=(refund(covers_until=day(30)),))

    # THEN it is revoked, grants nothing, but the store's own state is kept underneath
    assert refunded.state is State.REVOKED
    assert refunded.store_state is State.ACTIVE
    assert not refunded.grants_access(NOW)


def test_a_later_paid_period_lifts_the_revocation():
    # GIVEN the refund of the period ending day 30, and the store now reporting a period ending day 60
    renewed = purchase(State.ACTIVE, day(60), revocations=(refund(covers_until=day(30)),))

    # THEN the purchase is back to the store's state and grants access
    assert renewed.state is State.ACTIVE
    assert renewed.grants_access(day(40))


def test_a_revocation_covering_a_later_period_than_the_expiry_still_revokes():
    earlier_expiry = purchase(State.EXPIRED, day(20), revocations=(refund(covers_until=day(30)),))
    assert earlier_expiry.state is State.REVOKED


def test_a_revocation_of_unknown_period_revokes_the_whole_purchase():
    assert purchase(State.ACTIVE, day(60), revocations=(refund(covers_until=None),)).state is State.REVOKED


def test_a_refunded_lifetime_purchase_is_revoked():
    assert lifetime(revocations=(refund(covers_until=None),)).state is State.REVOKED
    assert not lifetime(revocations=(refund(covers_until=None),)).grants_access(NOW)


def test_a_dispute_won_lifts_the_revocation():
    # GIVEN a dispute that was opened and then won (the latest fact for that ref is inactive)
    won = Revocation("dispute:dp_1", day(30), active=False, at=day(9))
    disputed = purchase(State.ACTIVE, day(30), revocations=(won,))

    # THEN it does not revoke
    assert disputed.state is State.ACTIVE
    assert disputed.grants_access(NOW)


def test_a_dispute_lost_keeps_the_revocation():
    lost = Revocation("dispute:dp_1", day(30), active=True, at=day(9))
    assert purchase(State.ACTIVE, day(30), revocations=(lost,)).state is State.REVOKED


def test_one_active_revocation_among_lifted_ones_is_enough_to_revoke():
    revocations = (
        Revocation("dispute:dp_1", day(30), active=False, at=day(9)),
        refund(covers_until=day(30), ref="refund:ch_2"),
    )
    assert purchase(State.ACTIVE, day(30), revocations=revocations).state is State.REVOKED


def test_revoked_overlay_also_hides_grace_period():
    in_grace = purchase(State.GRACE_PERIOD, day(30), grace_ends_at=day(46), revocations=(refund(covers_until=day(30)),))
    assert in_grace.state is State.REVOKED
    assert not in_grace.grants_access(day(31))


# --------------------------------------------------------------------------- identity and ownership


def test_purchase_id_is_store_and_store_key():
    assert purchase(store_key="sub_42").purchase_id == "stripe:sub_42"


@pytest.mark.parametrize(
    ("owners", "manual", "user", "expected"),
    [
        (("u_1", "u_2"), False, "u_1", Ownership.OWNER),
        (("u_1", "u_2"), False, "u_2", Ownership.SHARED),
        (("u_1",), True, "u_1", Ownership.MANUAL),
    ],
)
def test_ownership_of_a_user(owners, manual, user, expected):
    assert purchase(owner_ids=owners, manual_owner=manual).ownership_of(user) is expected
