"""When a purchase is due for a check with its store, and what a check found."""

from __future__ import annotations

from datetime import timedelta

import pytest

from parity.domain.drift import DUE_SHARDS, DriftKind, drift_between, due_at, due_shard
from parity.domain.model import Revocation, State
from tests.support.domain import T0, day, purchase

WEEK = timedelta(days=7)


def test_an_access_granting_purchase_is_due_when_its_access_ends():
    assert due_at(purchase(State.ACTIVE, day(2), event_time=T0), WEEK) == day(2)


def test_a_purchase_in_grace_is_due_at_its_grace_end():
    held = purchase(State.GRACE_PERIOD, day(1), grace_ends_at=day(3), event_time=T0)
    assert due_at(held, WEEK) == day(3)


@pytest.mark.parametrize("state", [State.EXPIRED, State.REVOKED, State.BILLING_RETRY, State.ON_HOLD])
def test_other_purchases_are_due_a_recheck_after_their_last_check(state):
    assert due_at(purchase(state, day(-30), event_time=T0), WEEK) == day(7)
    assert due_at(purchase(state, day(-30), event_time=T0, checked_at=day(10)), WEEK) == day(17)


def test_a_long_period_is_still_checked_every_recheck_and_lifetime_too():
    assert due_at(purchase(State.ACTIVE, day(365), event_time=T0), WEEK) == day(7)
    assert due_at(purchase(State.ACTIVE, None, event_time=T0, checked_at=day(1)), WEEK) == day(8)


def test_shards_spread_purchases_and_are_stable():
    shards = {due_shard(f"stripe:sub_{n}") for n in range(200)}
    assert shards == set(range(DUE_SHARDS))
    assert due_shard("app_store:1") == due_shard("app_store:1")


def test_what_a_check_changed_is_named():
    before = purchase(State.ACTIVE, day(30), owner_ids=("u_1",))
    assert drift_between(before, before) == frozenset()
    assert drift_between(before, before.with_changes(store_state=State.EXPIRED)) == {DriftKind.STATE}
    assert drift_between(before, before.with_changes(expires_at=day(60))) == {DriftKind.EXPIRY}
    refunded = before.with_changes(revocations=(Revocation("refund:ch_1", None, True, day(1)),))
    assert drift_between(before, refunded) == {DriftKind.REFUNDED}
    assert drift_between(before, before.with_changes(owner_ids=())) == {DriftKind.OWNER_MISSING}
