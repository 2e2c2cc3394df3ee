"""When a purchase is due for a check with its store, and what a check found."""

from __future__ import annotations

from datetime import timedelta

import pytest

from parity.domain.drift import (
    DUE_SHARDS,
    MAX_EXPIRED_RECHECK,
    DriftKind,
    Due,
    budgeted,
    drift_between,
    due,
    due_at,
    due_shard,
    recheck_interval,
    shard_budget,
)
from parity.domain.model import Revocation, State
from tests.support.domain import T0, day, purchase

WEEK = timedelta(days=7)


def test_an_access_granting_purchase_is_due_when_its_access_ends():
    assert due_at(purchase(State.ACTIVE, day(2), event_time=T0), WEEK) == day(2)


def test_a_purchase_in_grace_is_due_at_its_grace_end():
    held = purchase(State.GRACE_PERIOD, day(1), grace_ends_at=day(3), event_time=T0)
    assert due_at(held, WEEK) == day(3)


@pytest.mark.parametrize("state", [State.BILLING_RETRY, State.ON_HOLD, State.PAUSED])
def test_a_purchase_that_may_come_back_is_due_a_recheck_after_its_last_check(state):
    assert due_at(purchase(state, day(-30), event_time=T0), WEEK) == day(7)
    assert due_at(purchase(state, day(-30), event_time=T0, checked_at=day(10)), WEEK) == day(17)
    assert due(purchase(state, day(-30), event_time=T0), WEEK).ends is False  # the rolling slice


@pytest.mark.parametrize("state", [State.EXPIRED, State.REVOKED])
def test_a_purchase_whose_access_ended_is_rechecked_less_and_less_often(state):
    # GIVEN a purchase that ended at T0, checked again and again as soon as it is due
    ended = purchase(state, T0, event_time=T0)
    checks, at = [], T0
    for _ in range(8):
        at = due_at(ended.with_changes(checked_at=at if checks else None), WEEK)
        checks.append((at - T0).days)
    # THEN the interval grows with the time since it ended (never below the recheck), up to a cap
    assert checks[:5] == [7, 14, 28, 56, 112]
    gaps = [b - a for a, b in zip(checks, checks[1:], strict=False)]
    assert gaps == sorted(gaps) and max(gaps) == MAX_EXPIRED_RECHECK.days
    assert recheck_interval(ended.with_changes(checked_at=day(3)), WEEK) == WEEK


def test_a_purchase_ended_long_ago_is_not_checked_every_week():
    old = purchase(State.EXPIRED, day(-400), event_time=T0)
    assert due_at(old, WEEK) == T0 + MAX_EXPIRED_RECHECK


def test_access_that_should_have_ended_is_in_the_first_pass_and_the_rest_in_the_rolling_slice():
    assert due(purchase(State.ACTIVE, day(2), event_time=T0), WEEK) == Due(day(2), ends=True)
    assert due(purchase(State.ACTIVE, day(30), event_time=T0), WEEK) == Due(day(7), ends=False)
    pending = purchase(State.ACTIVE, day(30), event_time=T0, pending_users=("u_2",))
    assert due(pending, WEEK) == Due(T0, ends=True)


def test_only_play_checks_spend_the_daily_budget_shared_evenly_over_the_shards():
    assert budgeted("play_store:token") and not budgeted("stripe:sub_1") and not budgeted("app_store:1")
    assert shard_budget(200_000, 32) == 6250
    assert shard_budget(10, 32) == 1  # every shard may check something
    assert shard_budget(0, 32) == 0


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


# -- whether the store agrees: then a check writes nothing but the check itself


def _snapshot_update(stored, **changes):
    from dataclasses import replace as _replace

    from parity.domain.model import PurchaseUpdate, Snapshot

    snapshot = Snapshot(
        stored.store_state, stored.expires_at, as_of=day(5), will_renew=stored.will_renew,
        product_id=stored.product_id, product_refs=stored.product_refs, raw_state=stored.raw_state,
        environment=stored.environment,
    )  # fmt: skip
    return PurchaseUpdate(stored.store, stored.store_key, "check", day(5), snapshot=_replace(snapshot, **changes))


def test_a_store_saying_what_is_stored_agrees_whatever_its_time():
    from parity.domain.drift import agrees

    stored = purchase(State.ACTIVE, day(30), event_time=T0, owner_ids=("u_1",))
    assert agrees(stored, _snapshot_update(stored))


def test_a_store_saying_another_state_period_or_renewal_does_not_agree():
    from parity.domain.drift import agrees

    stored = purchase(State.ACTIVE, day(30), event_time=T0, owner_ids=("u_1",))
    assert not agrees(stored, _snapshot_update(stored, store_state=State.EXPIRED))
    assert not agrees(stored, _snapshot_update(stored, expires_at=day(60)))
    assert not agrees(stored, _snapshot_update(stored, will_renew=not stored.will_renew))


def test_a_truth_that_could_claim_or_complete_users_takes_the_processors_path():
    from dataclasses import replace as _replace

    from parity.domain.drift import agrees

    stored = purchase(State.ACTIVE, day(30), event_time=T0, owner_ids=("u_1",))
    assert not agrees(stored, _replace(_snapshot_update(stored), linked_user="u_2"))
    assert agrees(stored, _replace(_snapshot_update(stored), linked_user="u_1"))
    assert not agrees(stored.with_changes(pending_users=("u_3",)), _snapshot_update(stored))
    assert not agrees(stored.with_changes(owner_ids=()), _replace(_snapshot_update(stored), customer_ref="cus_1"))
