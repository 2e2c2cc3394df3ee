"""`apply_update`: the ordering rule. An older fact never overwrites a newer one; duplicates and
reorderings converge; revocations are ordered per ref, whatever their arrival order."""

from __future__ import annotations

import itertools

import pytest

from parity.domain.errors import StaleEventError
from parity.domain.model import PaymentRef, Revocation, State
from parity.domain.purchases import apply_update
from tests.support.domain import (
    day,
    lifetime,
    paid_update,
    purchase,
    revocation_update,
    second,
    snapshot_update,
    update,
)


def fold(updates, start=None):
    """Apply updates in order, skipping the stale ones (as the processor does)."""
    current = start
    for item in updates:
        try:
            current = apply_update(current, item)
        except StaleEventError:
            pass
    return current


def in_every_order(updates, start=None):
    return {fold(order, start) for order in itertools.permutations(updates)}


# --------------------------------------------------------------------------- snapshots by store time


def test_a_newer_snapshot_replaces_the_stored_state():
    # GIVEN an active purchase last seen at T0
    current = purchase(State.ACTIVE, day(30), event_time=day(0), will_renew=True)

    # WHEN Stripe reports it canceled a month later
    after = apply_update(current, snapshot_update(State.EXPIRED, day(30), day(31), raw_state="canceled"))

    # THEN the stored state follows
    assert (after.store_state, after.expires_at, after.event_time) == (State.EXPIRED, day(30), day(31))
    assert after.raw_state == "canceled"
    assert after.will_renew is False


def test_an_older_snapshot_never_overwrites_a_newer_one():
    # GIVEN a purchase whose latest store state (day 31) is expired
    current = purchase(State.EXPIRED, day(30), event_time=day(31))

    # WHEN a delayed snapshot from day 1 says active
    # THEN nothing changes: the update is stale
    with pytest.raises(StaleEventError):
        apply_update(current, snapshot_update(State.ACTIVE, day(30), day(1)))


def test_an_older_snapshot_is_ignored_but_the_other_facts_of_its_event_still_apply():
    current = purchase(State.EXPIRED, day(30), event_time=day(31))
    late = update(
        day(1),
        snapshot=snapshot_update(State.ACTIVE, day(60), day(1)).snapshot,
        customer_ref="cus_1",
    )

    after = apply_update(current, late)

    assert (after.store_state, after.expires_at) == (State.EXPIRED, day(30))
    assert after.customer_ref == "cus_1"


def test_a_snapshot_keeps_the_known_product_when_it_names_none():
    current = purchase(product_id="price_pro_monthly", product_refs=("price_pro_monthly", "prod_pro"))
    after = apply_update(current, snapshot_update(State.EXPIRED, day(30), day(31), product_id=None))
    assert after.product_id == "price_pro_monthly"
    assert after.product_refs == ("price_pro_monthly", "prod_pro")


# --------------------------------------------------------------------------- same-second ties


def test_same_second_incomplete_and_active_converge_on_active_in_either_order():
    # GIVEN "created: incomplete" and "updated: active", stamped the same second (Stripe's resolution)
    created = snapshot_update(State.PENDING, day(30), second(0), raw_state="incomplete")
    activated = snapshot_update(State.ACTIVE, day(30), second(0), raw_state="active")

    # WHEN they arrive in either order THEN the one further along the lifecycle wins
    results = in_every_order([created, activated])
    assert {(p.store_state, p.raw_state) for p in results} == {(State.ACTIVE, "active")}


def test_same_second_active_and_canceled_converge_on_the_cancellation():
    active = snapshot_update(State.ACTIVE, day(30), second(5))
    canceled = snapshot_update(State.EXPIRED, day(30), second(5), raw_state="canceled")
    assert {p.store_state for p in in_every_order([active, canceled])} == {State.EXPIRED}


def test_same_second_past_due_and_active_converge_on_past_due():
    active = snapshot_update(State.ACTIVE, day(60), day(30))
    past_due = snapshot_update(State.BILLING_RETRY, day(60), day(30), raw_state="past_due")
    assert {p.store_state for p in in_every_order([active, past_due])} == {State.BILLING_RETRY}


def test_same_second_snapshots_with_different_expiry_converge_on_the_later_expiry():
    # A renewal and the state before it, stamped the same second: the later period end wins.
    before = snapshot_update(State.ACTIVE, day(30), day(30))
    renewed = snapshot_update(State.ACTIVE, day(60), day(30))
    assert {p.expires_at for p in in_every_order([before, renewed])} == {day(60)}


def test_same_second_later_expiry_wins_even_against_a_further_lifecycle_state():
    # Expiry is compared before lifecycle rank (unpaid before the renewal that was paid after all).
    on_hold = snapshot_update(State.ON_HOLD, day(30), day(30))
    renewed = snapshot_update(State.ACTIVE, day(60), day(30))
    assert {(p.store_state, p.expires_at) for p in in_every_order([on_hold, renewed])} == {(State.ACTIVE, day(60))}


def test_same_second_a_cancellation_wins_over_a_later_period_end():
    # GIVEN an update still naming the period end, and "canceled immediately" (ended now), same second
    still_active = snapshot_update(State.ACTIVE, day(30), day(12))
    canceled_now = snapshot_update(State.EXPIRED, day(12), day(12), raw_state="canceled")

    # THEN in either order the cancellation wins: nothing of that second outlives it
    assert {(p.store_state, p.expires_at) for p in in_every_order([still_active, canceled_now])} == {
        (State.EXPIRED, day(12))
    }


def test_same_second_a_cancellation_wins_over_a_paid_invoice():
    # The invoice paid in the second the subscription was canceled was paid before the cancellation.
    current = purchase(State.ACTIVE, day(30), event_time=day(0))
    paid = paid_update(day(60), day(30))
    canceled_now = snapshot_update(State.EXPIRED, day(30), day(30), raw_state="canceled")
    assert {(p.store_state, p.expires_at) for p in in_every_order([paid, canceled_now], current)} == {
        (State.EXPIRED, day(30))
    }


def test_an_expired_state_with_a_future_end_is_not_a_cancellation_and_loses_to_a_later_end():
    # e.g. "incomplete_expired" keeps the never-paid period end; a same-second later end still wins.
    expired_unpaid = snapshot_update(State.EXPIRED, day(30), day(1))
    renewed = snapshot_update(State.ACTIVE, day(60), day(1))
    assert {p.store_state for p in in_every_order([expired_unpaid, renewed])} == {State.ACTIVE}


def test_same_second_no_expiry_beats_a_dated_expiry():
    dated = snapshot_update(State.ACTIVE, day(30), day(1))
    unlimited = snapshot_update(State.ACTIVE, None, day(1))
    assert {p.expires_at for p in in_every_order([dated, unlimited])} == {None}


def test_a_snapshot_of_the_same_second_as_a_payment_still_brings_its_details():
    # GIVEN a purchase Parity only knows from an invoice paid at second 0 (active, nothing else known)
    paid_only = apply_update(None, paid_update(day(30), second(0)))
    assert (paid_only.product_id, paid_only.will_renew) == (None, False)

    # WHEN "updated: active" of that same second arrives, same period end
    after = apply_update(
        paid_only, snapshot_update(State.ACTIVE, day(30), second(0), will_renew=True, raw_state="active")
    )

    # THEN its details are taken (an equal lifecycle rank applies)
    assert (after.product_id, after.will_renew, after.raw_state) == ("price_pro_monthly", True, "active")


def test_a_duplicate_snapshot_leaves_the_purchase_as_it_was():
    snapshot = snapshot_update(State.ACTIVE, day(30), day(1))
    once = apply_update(None, snapshot)
    try:
        twice = apply_update(once, snapshot)
    except StaleEventError:
        twice = once
    assert twice == once


# --------------------------------------------------------------------------- invoice.paid (paid_through)


def test_a_paid_invoice_for_the_next_period_extends_access():
    current = purchase(State.ACTIVE, day(30), event_time=day(0))

    after = apply_update(current, paid_update(day(60), day(30)))

    assert (after.store_state, after.expires_at, after.event_time) == (State.ACTIVE, day(60), day(30))


def test_an_older_paid_invoice_never_shortens_the_expiry():
    # GIVEN a purchase paid through day 60
    current = purchase(State.ACTIVE, day(60), event_time=day(30))

    # WHEN the invoice of the first period (ending day 30) is delivered again later
    # THEN nothing changes
    with pytest.raises(StaleEventError):
        apply_update(current, paid_update(day(30), day(31)))


def test_a_paid_invoice_older_than_the_stored_state_is_ignored():
    # The subscription was canceled on day 40; the invoice paid on day 30 arrives after that.
    current = purchase(State.EXPIRED, day(40), event_time=day(40))
    with pytest.raises(StaleEventError):
        apply_update(current, paid_update(day(60), day(30)))


def test_a_paid_invoice_recovers_a_failed_renewal_of_the_same_period():
    current = purchase(State.BILLING_RETRY, day(60), event_time=day(30))
    after = apply_update(current, paid_update(day(60), day(33)))
    assert (after.store_state, after.expires_at) == (State.ACTIVE, day(60))


def test_a_paid_invoice_for_the_current_period_of_a_trial_keeps_trialing():
    current = purchase(State.TRIALING, day(14), event_time=day(0))
    with pytest.raises(StaleEventError):
        apply_update(current, paid_update(day(14), day(0)))


def test_a_paid_invoice_on_an_unknown_purchase_makes_it_active_until_the_period_end():
    after = apply_update(None, paid_update(day(30), day(0)))
    assert (after.store_state, after.expires_at, after.event_time) == (State.ACTIVE, day(30), day(0))


def test_a_paid_invoice_does_not_put_an_expiry_on_a_lifetime_purchase():
    with pytest.raises(StaleEventError):
        apply_update(lifetime(), paid_update(day(30), day(1)))


def test_products_named_by_a_payment_fill_in_only_when_none_are_known():
    unknown_product = purchase(product_id=None)
    after = apply_update(unknown_product, update(day(1), product_refs=("price_pro_monthly", "prod_pro")))
    assert (after.product_id, after.product_refs) == ("price_pro_monthly", ("price_pro_monthly", "prod_pro"))

    known = purchase(product_refs=("price_pro_yearly",))
    with pytest.raises(StaleEventError):
        apply_update(known, update(day(1), product_refs=("price_pro_monthly",)))


# --------------------------------------------------------------------------- refunds and later payments


def refunded_first_period():
    current = purchase(State.ACTIVE, day(30), event_time=day(0))
    return apply_update(current, revocation_update("refund:ch_1", day(30), True, day(5)))


def test_a_refund_of_the_current_period_revokes_the_purchase():
    assert refunded_first_period().state is State.REVOKED


def test_an_old_paid_invoice_after_a_refund_does_not_reinstate():
    # GIVEN the first period's payment refunded
    revoked = refunded_first_period()

    # WHEN that period's invoice.paid is delivered (again, or late)
    try:
        after = apply_update(revoked, paid_update(day(30), day(0)))
    except StaleEventError:
        after = revoked

    # THEN the purchase stays revoked
    assert after.state is State.REVOKED
    assert not after.grants_access(day(6))


def test_the_next_periods_paid_invoice_lifts_the_refund():
    after = apply_update(refunded_first_period(), paid_update(day(60), day(30)))
    assert after.state is State.ACTIVE
    assert after.grants_access(day(31))


# --------------------------------------------------------------------------- invoice.payment_failed


def test_a_failed_payment_moves_an_active_purchase_to_billing_retry():
    current = purchase(State.ACTIVE, day(60), event_time=day(30))
    after = apply_update(current, update(day(31), payment_failed=True))
    assert (after.store_state, after.event_time, after.expires_at) == (State.BILLING_RETRY, day(31), day(60))
    assert not after.grants_access(day(32))


def test_a_failed_payment_moves_a_trial_to_billing_retry():
    current = purchase(State.TRIALING, day(14), event_time=day(0))
    assert apply_update(current, update(day(14), payment_failed=True)).store_state is State.BILLING_RETRY


def test_a_failed_payment_older_than_the_stored_state_is_stale():
    # The renewal was recovered (paid on day 33); the failure of day 31 arrives after that.
    current = purchase(State.ACTIVE, day(60), event_time=day(33))
    with pytest.raises(StaleEventError):
        apply_update(current, update(day(31), payment_failed=True))


@pytest.mark.parametrize("state", [State.EXPIRED, State.REVOKED, State.PENDING, State.BILLING_RETRY, State.ON_HOLD])
def test_a_failed_payment_does_not_touch_a_purchase_without_access(state):
    current = purchase(state, day(30), event_time=day(0))
    with pytest.raises(StaleEventError):
        apply_update(current, update(day(31), payment_failed=True))


def test_a_failed_payment_on_an_unknown_purchase_teaches_nothing():
    with pytest.raises(StaleEventError):
        apply_update(None, update(day(1), payment_failed=True))


# --------------------------------------------------------------------------- revocations, per ref by `at`


DISPUTE_OPENED = revocation_update("dispute:dp_1", day(30), True, day(10))
DISPUTE_WON = revocation_update("dispute:dp_1", day(30), False, day(40))
DISPUTE_LOST = revocation_update("dispute:dp_1", day(30), True, day(40))


def test_a_won_dispute_lifts_the_revocation_whatever_the_arrival_order():
    results = in_every_order([DISPUTE_OPENED, DISPUTE_WON], purchase(State.ACTIVE, day(30)))
    assert {p.state for p in results} == {State.ACTIVE}
    assert {p.revocations for p in results} == {(DISPUTE_WON.revocation,)}


def test_a_lost_dispute_keeps_the_revocation_whatever_the_arrival_order():
    results = in_every_order([DISPUTE_OPENED, DISPUTE_LOST], purchase(State.ACTIVE, day(30)))
    assert {p.state for p in results} == {State.REVOKED}
    assert {p.revocations for p in results} == {(DISPUTE_LOST.revocation,)}


def test_an_older_fact_about_the_same_ref_is_stale():
    won = apply_update(purchase(), DISPUTE_WON)
    with pytest.raises(StaleEventError):
        apply_update(won, DISPUTE_OPENED)


def test_a_duplicate_revocation_is_stale():
    opened = apply_update(purchase(), DISPUTE_OPENED)
    with pytest.raises(StaleEventError):
        apply_update(opened, DISPUTE_OPENED)


def test_revocations_apply_even_when_older_than_the_stored_snapshot():
    # Revocations have their own ordering: a refund from day 5 counts after a snapshot from day 20.
    current = purchase(State.ACTIVE, day(30), event_time=day(20))
    after = apply_update(current, revocation_update("refund:ch_1", day(30), True, day(5)))
    assert after.state is State.REVOKED


def test_revocations_of_different_refs_are_kept_side_by_side():
    after = fold(
        [DISPUTE_OPENED, DISPUTE_WON, revocation_update("refund:ch_2", day(30), True, day(12))],
        purchase(State.ACTIVE, day(30)),
    )
    assert {r.ref: r.active for r in after.revocations} == {"dispute:dp_1": False, "refund:ch_2": True}
    assert after.state is State.REVOKED


def test_a_revocation_of_unknown_period_covers_the_stored_current_period():
    after = apply_update(purchase(State.ACTIVE, day(30)), revocation_update("refund:ch_1", None, True, day(5)))
    assert after.revocations == (Revocation("refund:ch_1", day(30), True, day(5)),)
    # ... so that the next period lifts it
    assert apply_update(after, paid_update(day(60), day(30))).state is State.ACTIVE


# --------------------------------------------------------------------------- what is (not) news


def test_a_claim_alone_is_never_stale_ownership_is_decided_elsewhere():
    current = purchase(owner_ids=("u_1",))
    assert apply_update(current, update(day(1), claimant="u_2")) == current


def test_the_first_customer_ref_is_kept():
    current = apply_update(purchase(), update(day(1), customer_ref="cus_1"))
    assert current.customer_ref == "cus_1"
    with pytest.raises(StaleEventError):
        apply_update(current, update(day(2), customer_ref="cus_2"))


def test_payment_refs_alone_do_not_change_the_purchase():
    # The processor records the refs itself (it catches this StaleEventError); the purchase is untouched.
    refs = (PaymentRef("pi_1", "stripe:sub_1", day(30)),)
    with pytest.raises(StaleEventError):
        apply_update(purchase(), update(day(1), payment_refs=refs))


def test_a_new_purchase_from_a_snapshot_starts_from_pending_defaults():
    created = apply_update(None, snapshot_update(State.TRIALING, day(14), day(0), will_renew=True))
    assert created.purchase_id == "stripe:sub_1"
    assert (created.store_state, created.expires_at, created.will_renew) == (State.TRIALING, day(14), True)
    assert created.owner_ids == () and created.revocations == ()


def test_a_snapshot_that_does_not_say_whether_it_renews_keeps_the_stored_intent():
    # GIVEN a purchase known to renew
    current = purchase(State.ACTIVE, day(30), event_time=day(0), will_renew=True)

    # WHEN a newer snapshot leaves renewal unsaid (an App Store receipt without renewal info)
    after = apply_update(current, snapshot_update(State.ACTIVE, day(30), day(1), will_renew=None))

    # THEN the purchase still renews
    assert after.will_renew is True


def test_an_invoice_and_the_subscription_update_of_its_period_store_the_same_purchase_in_either_order():
    # The renewal's subscription update (second 0) and its invoice.paid (second 1) name the same period;
    # found by the fault-injection run, where faults changed which was applied first.
    start = fold([snapshot_update(State.ACTIVE, day(30), second(-100))])
    renewal = snapshot_update(State.ACTIVE, day(60), second(0))
    invoice = paid_update(day(60), second(1))

    ends = in_every_order([renewal, invoice], start)

    assert len(ends) == 1
    [end] = ends
    assert (end.expires_at, end.event_time) == (day(60), second(1))
