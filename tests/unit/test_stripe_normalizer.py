"""Stripe events → normalized facts (`parity.domain.stripe.normalize`), on Stripe's own shapes.

Basil (2025-03-31) is the reference shape; older shapes are read where they differ.
"""

from __future__ import annotations

import pytest

from parity.domain import stripe as stripe_domain
from parity.domain.model import PaymentRef, Revocation, State
from parity.domain.stripe import SUBSCRIPTION_STATES, normalize
from parity.domain.timeutil import from_epoch
from tests.support import stripe as fx
from tests.support.domain import T0

NOW = int(T0.timestamp())
PERIOD_END = NOW + 30 * fx.DAY
DAY = fx.DAY


def facts_of(event_type: str, obj: dict, created: int = NOW) -> stripe_domain.StripeFacts:
    return normalize(fx.event(event_type, obj, created=created, event_id="evt_1"))


def subscription_facts(status: str = "active", event_type: str = "customer.subscription.updated", **fields):
    fields.setdefault("period_end", PERIOD_END)
    return facts_of(event_type, fx.subscription(status=status, **fields))


# --------------------------------------------------------------------------- subscription statuses


@pytest.mark.parametrize(
    ("status", "state"),
    [
        ("trialing", State.TRIALING),
        ("active", State.ACTIVE),
        ("past_due", State.GRACE_PERIOD),
        ("unpaid", State.ON_HOLD),
        ("canceled", State.EXPIRED),
        ("incomplete", State.PENDING),
        ("incomplete_expired", State.EXPIRED),
        ("paused", State.PAUSED),
    ],
)
def test_every_subscription_status_maps_as_the_table_says(status, state):
    facts = subscription_facts(status)
    assert SUBSCRIPTION_STATES[status] is state
    assert (facts.snapshot.store_state, facts.snapshot.raw_state) == (state, status)
    assert facts.warnings == ()


def test_the_status_table_covers_every_stripe_subscription_status():
    # Stripe's documented statuses (API 2025-03-31): none may fall through to "unknown".
    documented = {"incomplete", "incomplete_expired", "trialing", "active", "past_due", "canceled", "unpaid", "paused"}
    assert set(SUBSCRIPTION_STATES) == documented


def test_an_unknown_status_is_kept_raw_with_a_warning_and_does_not_crash():
    facts = subscription_facts("frozen_by_new_api")
    assert facts.snapshot.store_state is State.PENDING  # no access for what Parity does not understand
    assert facts.snapshot.raw_state == "frozen_by_new_api"
    assert len(facts.warnings) == 1 and "frozen_by_new_api" in facts.warnings[0]


def test_a_subscription_event_names_its_purchase_claimant_and_customer():
    facts = subscription_facts(sub_id="sub_9", user_id="u_7", customer="cus_3")
    assert (facts.purchase_key, facts.subscription_id) == ("sub_9", "sub_9")
    assert (facts.claimant, facts.customer_ref) == ("u_7", "cus_3")
    assert facts.occurred_at == from_epoch(NOW) and facts.snapshot.as_of == from_epoch(NOW)
    assert facts.event_id == "evt_1" and facts.event_type == "customer.subscription.updated"


def test_an_unexpanded_customer_id_is_not_a_claimant():
    assert subscription_facts(user_id=None, customer="cus_3").claimant is None


def test_the_user_id_of_an_expanded_customer_claims_the_subscription():
    facts = subscription_facts(user_id=None, customer=fx.customer("cus_3", user_id="u_8"))
    assert (facts.claimant, facts.customer_ref) == ("u_8", "cus_3")


@pytest.mark.parametrize(
    "event_type",
    [
        "customer.subscription.created",
        "customer.subscription.deleted",
        "customer.subscription.paused",
        "customer.subscription.resumed",
        "customer.subscription.trial_will_end",
        "customer.subscription.pending_update_applied",
    ],
)
def test_every_subscription_event_carries_a_snapshot(event_type):
    assert subscription_facts(event_type=event_type).snapshot is not None


# --------------------------------------------------------------------------- period ends and renewal


def test_basil_period_end_is_read_from_the_items():
    subscription = fx.subscription(period_end=PERIOD_END)
    assert "current_period_end" not in subscription
    assert facts_of("customer.subscription.updated", subscription).snapshot.expires_at == from_epoch(PERIOD_END)


def test_with_several_items_the_latest_period_end_counts():
    subscription = fx.subscription(period_end=PERIOD_END)
    later = dict(subscription["items"]["data"][0], id="si_2", current_period_end=PERIOD_END + DAY)
    subscription["items"]["data"].append(later)
    assert facts_of("customer.subscription.updated", subscription).snapshot.expires_at == from_epoch(PERIOD_END + DAY)


def test_older_api_period_end_and_plan_are_read_from_the_subscription():
    # GIVEN a pre-basil subscription: period on the subscription, the price as `plan`, items without periods
    legacy = {
        "id": "sub_old",
        "object": "subscription",
        "status": "active",
        "customer": "cus_1",
        "current_period_end": PERIOD_END,
        "plan": {"id": "price_pro_yearly", "object": "plan", "product": "prod_pro"},
        "items": {"object": "list", "data": []},
        "metadata": {"user_id": "u_1"},
        "livemode": True,
    }
    snapshot = facts_of("customer.subscription.updated", legacy).snapshot
    assert snapshot.expires_at == from_epoch(PERIOD_END)
    assert (snapshot.product_id, snapshot.product_refs) == ("price_pro_yearly", ("price_pro_yearly", "prod_pro"))
    assert snapshot.environment == "production"


def test_items_naming_their_price_as_plan_are_read():
    subscription = fx.subscription(period_end=PERIOD_END)
    item = subscription["items"]["data"][0]
    item["plan"] = item.pop("price")
    assert facts_of("customer.subscription.updated", subscription).snapshot.product_refs == (
        "price_pro_monthly",
        "prod_pro",
    )


def test_products_are_the_price_then_its_product_and_test_mode_is_sandbox():
    snapshot = subscription_facts(price="price_pro_monthly", product={"id": "prod_pro", "object": "product"}).snapshot
    assert (snapshot.product_id, snapshot.product_refs) == ("price_pro_monthly", ("price_pro_monthly", "prod_pro"))
    assert snapshot.environment == "sandbox"


def test_a_trial_expires_at_the_trial_end():
    trial_end = NOW + 14 * DAY
    snapshot = subscription_facts("trialing", period_end=trial_end + 3, trial_end=trial_end).snapshot
    assert snapshot.expires_at == from_epoch(trial_end)


def test_canceled_immediately_expires_at_ended_at_not_the_period_end():
    ended = NOW + 3 * DAY
    snapshot = subscription_facts("canceled", "customer.subscription.deleted", ended_at=ended).snapshot
    assert (snapshot.store_state, snapshot.expires_at) == (State.EXPIRED, from_epoch(ended))


def test_canceled_at_the_period_end_expires_at_the_period_end():
    snapshot = subscription_facts("canceled", "customer.subscription.deleted", ended_at=PERIOD_END).snapshot
    assert snapshot.expires_at == from_epoch(PERIOD_END)


@pytest.mark.parametrize(
    ("status", "fields", "will_renew"),
    [
        ("active", {}, True),
        ("trialing", {}, True),
        ("past_due", {}, True),
        ("active", {"cancel_at_period_end": True}, False),
        ("active", {"cancel_at": PERIOD_END}, False),
        ("canceled", {}, False),
        ("unpaid", {}, False),
        ("paused", {}, False),
        ("incomplete", {}, False),
    ],
)
def test_will_renew(status, fields, will_renew):
    assert subscription_facts(status, **fields).snapshot.will_renew is will_renew


# --------------------------------------------------------------------------- checkout.session.completed


def test_a_subscription_checkout_claims_the_subscription_for_its_client_reference_id():
    session = fx.checkout_session(user_id="u_1", subscription_id="sub_1")
    facts = facts_of("checkout.session.completed", session)
    assert (facts.purchase_key, facts.subscription_id, facts.claimant) == ("sub_1", "sub_1", "u_1")
    assert facts.checkout_session_id == session["id"] and facts.customer_ref == "cus_1"
    assert facts.snapshot is None  # an unexpanded subscription says nothing about its state


def test_a_subscription_checkout_falls_back_to_metadata_user_id():
    session = fx.checkout_session(user_id=None, metadata={"user_id": "u_2"})
    assert facts_of("checkout.session.completed", session).claimant == "u_2"


def test_a_checkout_without_any_user_link_claims_nothing():
    assert facts_of("checkout.session.completed", fx.checkout_session(user_id=None)).claimant is None


def test_a_checkout_with_an_expanded_subscription_carries_its_snapshot():
    session = fx.checkout_session(subscription_id=None)
    session["subscription"] = fx.subscription("sub_5", status="active", period_end=PERIOD_END)
    facts = facts_of("checkout.session.completed", session)
    assert facts.purchase_key == "sub_5"
    assert (facts.snapshot.store_state, facts.snapshot.expires_at) == (State.ACTIVE, from_epoch(PERIOD_END))


def lifetime_session(**fields):
    fields.setdefault("payment_intent", "pi_9")
    return fx.checkout_session(mode="payment", **fields)


def test_a_payment_checkout_is_a_lifetime_purchase_keyed_by_its_payment_intent():
    session = lifetime_session(
        line_items={"object": "list", "data": [{"price": {"id": "price_lifetime", "product": "prod_lifetime"}}]}
    )
    facts = facts_of("checkout.session.completed", session)
    assert facts.purchase_key == "pi_9" and facts.payment_refs == ("pi_9",)
    assert facts.claimant == "u_1" and facts.subscription_id is None
    snapshot = facts.snapshot
    assert (snapshot.store_state, snapshot.expires_at) == (State.ACTIVE, None)
    assert (snapshot.product_id, snapshot.product_refs) == ("price_lifetime", ("price_lifetime", "prod_lifetime"))


def test_a_payment_checkout_without_line_items_reads_products_from_metadata():
    session = lifetime_session(metadata={"price_id": "price_lifetime", "product_id": "prod_lifetime"})
    assert facts_of("checkout.session.completed", session).snapshot.product_refs == ("price_lifetime", "prod_lifetime")


def test_an_unpaid_payment_checkout_is_pending_until_the_async_payment_succeeds():
    session = lifetime_session(payment_status="unpaid")
    assert facts_of("checkout.session.completed", session).snapshot.store_state is State.PENDING
    assert facts_of("checkout.session.async_payment_succeeded", session).snapshot.store_state is State.ACTIVE
    assert facts_of("checkout.session.async_payment_failed", session).snapshot.store_state is State.EXPIRED


def test_a_setup_checkout_concerns_no_purchase():
    facts = facts_of("checkout.session.completed", fx.checkout_session(mode="setup"))
    assert not facts.concerns_purchase and facts.customer_ref == "cus_1"


# --------------------------------------------------------------------------- invoices


def test_basil_invoice_paid_names_its_subscription_in_parent_subscription_details():
    invoice = fx.invoice("in_7", "sub_3", period_end=PERIOD_END, user_id="u_4")
    assert "subscription" not in invoice
    facts = facts_of("invoice.paid", invoice)
    assert (facts.purchase_key, facts.subscription_id, facts.claimant) == ("sub_3", "sub_3", "u_4")
    assert facts.paid_through == from_epoch(PERIOD_END) == facts.payment_period_end
    assert facts.payment_refs == ("in_7",)
    assert facts.customer_ref == "cus_1"


def test_basil_invoice_lines_name_the_product():
    invoice = fx.invoice(period_end=PERIOD_END)
    invoice["lines"]["data"][0]["pricing"] = {
        "type": "price_details",
        "price_details": {"price": "price_pro_monthly", "product": "prod_pro"},
    }
    assert facts_of("invoice.paid", invoice).product_refs == ("price_pro_monthly", "prod_pro")


def test_legacy_invoice_paid_names_subscription_payment_intent_and_charge_at_top_level():
    legacy = {
        "id": "in_8",
        "object": "invoice",
        "customer": "cus_1",
        "subscription": "sub_legacy",
        "payment_intent": "pi_8",
        "charge": "ch_8",
        "lines": {
            "data": [
                {
                    "period": {"start": NOW, "end": PERIOD_END},
                    "price": {"id": "price_pro_monthly", "product": "prod_pro"},
                }
            ]
        },
    }
    facts = facts_of("invoice.paid", legacy)
    assert facts.purchase_key == "sub_legacy"
    assert facts.payment_refs == ("in_8", "pi_8", "ch_8")
    assert facts.paid_through == from_epoch(PERIOD_END)
    assert facts.product_refs == ("price_pro_monthly", "prod_pro")


def test_invoice_payments_expanded_on_the_invoice_are_payment_refs():
    invoice = fx.invoice("in_7", period_end=PERIOD_END)
    invoice["payments"] = {
        "data": [{"payment": {"type": "payment_intent", "payment_intent": "pi_7", "charge": "ch_7"}}]
    }
    assert facts_of("invoice.paid", invoice).payment_refs == ("in_7", "pi_7", "ch_7")


def test_an_invoice_without_lines_falls_back_to_its_period_end():
    invoice = fx.invoice(period_end=PERIOD_END)
    invoice["lines"] = {"data": []}
    invoice["period_end"] = PERIOD_END - DAY
    assert facts_of("invoice.paid", invoice).paid_through == from_epoch(PERIOD_END - DAY)


def test_invoice_payment_succeeded_reads_like_invoice_paid():
    invoice = fx.invoice(period_end=PERIOD_END)
    assert facts_of("invoice.payment_succeeded", invoice).paid_through == from_epoch(PERIOD_END)


def test_a_zero_amount_invoice_pays_for_nothing():
    # A trial's $0 invoice: it must not make a trial "active" (see the convergence tests).
    invoice = dict(fx.invoice(period_end=PERIOD_END), amount_paid=0)
    facts = facts_of("invoice.paid", invoice)
    assert facts.paid_through is None
    assert facts.purchase_key == "sub_1" and facts.payment_period_end == from_epoch(PERIOD_END)


def test_an_invoice_with_an_amount_paid_pays_through_its_period():
    invoice = dict(fx.invoice(period_end=PERIOD_END), amount_paid=999)
    assert facts_of("invoice.paid", invoice).paid_through == from_epoch(PERIOD_END)


def test_an_invoice_outside_any_subscription_concerns_no_purchase():
    one_off = fx.invoice()
    one_off["parent"] = None
    facts = facts_of("invoice.paid", one_off)
    assert not facts.concerns_purchase and facts.paid_through is None


def test_invoice_payment_failed_marks_the_subscription_payment_failed():
    facts = facts_of("invoice.payment_failed", fx.invoice("in_2", "sub_2", status="open"))
    assert (facts.purchase_key, facts.payment_failed, facts.paid_through) == ("sub_2", True, None)


def test_invoice_payment_paid_links_the_payment_to_its_invoice():
    facts = facts_of("invoice_payment.paid", fx.invoice_payment("in_3", payment_intent="pi_3", charge="ch_3"))
    assert facts.purchase_key is None
    assert facts.payment_lookup == ("in_3",)
    assert facts.payment_refs == ("pi_3", "ch_3")
    assert facts.concerns_purchase


# --------------------------------------------------------------------------- refunds and disputes


def test_a_full_refund_revokes_the_charged_payment():
    facts = facts_of("charge.refunded", fx.charge("ch_1", "pi_1", amount=999, amount_refunded=999))
    assert facts.revocation == Revocation("refund:ch_1", None, True, from_epoch(NOW))
    assert facts.payment_lookup == ("pi_1", "ch_1")
    assert facts.purchase_key is None and facts.concerns_purchase


def test_a_refund_reaching_the_amount_is_full_even_without_the_refunded_flag():
    charge = dict(fx.charge(amount=999, amount_refunded=999), refunded=False)
    assert facts_of("charge.refunded", charge).revocation is not None


def test_a_partial_refund_does_not_revoke():
    facts = facts_of("charge.refunded", fx.charge(amount=999, amount_refunded=300))
    assert facts.revocation is None


def test_a_legacy_charge_also_looks_up_its_invoice():
    facts = facts_of("charge.refunded", fx.charge("ch_1", "pi_1", invoice="in_1"))
    assert facts.payment_lookup == ("pi_1", "in_1", "ch_1")


@pytest.mark.parametrize(
    ("event_type", "status", "revokes"),
    [
        ("charge.dispute.created", "needs_response", True),
        ("charge.dispute.closed", "won", False),
        ("charge.dispute.closed", "lost", True),
        ("charge.dispute.closed", "warning_closed", False),
        ("charge.dispute.funds_reinstated", "won", False),
    ],
)
def test_disputes(event_type, status, revokes):
    facts = facts_of(event_type, fx.dispute("dp_1", "ch_1", "pi_1", status=status), created=NOW + DAY)
    assert facts.revocation == Revocation("dispute:dp_1", None, revokes, from_epoch(NOW + DAY))
    assert facts.payment_lookup == ("pi_1", "ch_1")


# --------------------------------------------------------------------------- customers and the rest


def test_customer_updated_links_by_metadata_user_id_only():
    facts = facts_of("customer.updated", fx.customer("cus_1", email="a@example.com", user_id="u_1"))
    assert (facts.customer_ref, facts.customer_user) == ("cus_1", "u_1")
    assert not facts.concerns_purchase


def test_customer_email_is_ignored():
    # GIVEN a customer whose email happens to be a user's, without metadata.user_id
    facts = facts_of("customer.updated", fx.customer("cus_1", email="u_1", user_id=None))
    # THEN no user is linked
    assert facts.customer_user is None


@pytest.mark.parametrize("obj", [{}, {"id": "x", "weird": [1, 2]}, fx.charge()])
def test_unknown_event_types_concern_no_purchase_and_do_not_crash(obj):
    facts = facts_of("radar.early_fraud_warning.created", obj)
    assert not facts.concerns_purchase
    assert facts.revocation is None and facts.snapshot is None
    assert facts.routing_key == "evt_1"


def test_an_event_without_data_object_does_not_crash():
    facts = normalize({"id": "evt_2", "type": "invoice.paid", "created": NOW, "data": {}})
    assert not facts.concerns_purchase


# --------------------------------------------------------------------------- routing key and update_for


def test_routing_key_prefers_the_purchase_then_the_payment_then_the_customer_then_the_event():
    facts = stripe_domain.StripeFacts("evt_1", "x", from_epoch(NOW))
    assert facts.routing_key == "evt_1"
    facts = stripe_domain.StripeFacts("evt_1", "x", from_epoch(NOW), customer_ref="cus_1")
    assert facts.routing_key == "cus_1"
    facts = stripe_domain.StripeFacts(
        "evt_1", "x", from_epoch(NOW), payment_lookup=("pi_1", "ch_1"), customer_ref="cus_1"
    )
    assert facts.routing_key == "pi_1"
    facts = stripe_domain.StripeFacts("evt_1", "x", from_epoch(NOW), purchase_key="sub_1", payment_lookup=("pi_1",))
    assert facts.routing_key == "sub_1"


def test_all_events_of_one_subscription_route_together():
    keys = {
        facts_of("customer.subscription.updated", fx.subscription("sub_1")).routing_key,
        facts_of("invoice.paid", fx.invoice("in_1", "sub_1")).routing_key,
        facts_of("invoice.payment_failed", fx.invoice("in_2", "sub_1")).routing_key,
        facts_of("checkout.session.completed", fx.checkout_session(subscription_id="sub_1")).routing_key,
    }
    assert keys == {"sub_1"}


def test_update_for_gives_a_revocation_the_period_of_the_payment_found():
    facts = facts_of("charge.refunded", fx.charge("ch_1", "pi_1"))
    update = facts.update_for("sub_1", from_epoch(PERIOD_END))
    assert update.purchase_id == "stripe:sub_1"
    assert update.revocation == Revocation("refund:ch_1", from_epoch(PERIOD_END), True, from_epoch(NOW))


def test_update_for_leaves_the_period_unknown_when_nobody_knows_it():
    update = facts_of("charge.refunded", fx.charge("ch_1", "pi_1")).update_for("pi_1", None)
    assert update.revocation.covers_until is None


def test_update_for_records_payment_refs_with_the_invoice_period():
    facts = facts_of("invoice.paid", fx.invoice("in_1", "sub_1", period_end=PERIOD_END))
    update = facts.update_for("sub_1", None)
    assert update.payment_refs == (PaymentRef("in_1", "stripe:sub_1", from_epoch(PERIOD_END)),)
    assert update.paid_through == from_epoch(PERIOD_END) and update.claimant is None


def test_update_for_records_linked_payments_with_the_period_of_their_invoice():
    facts = facts_of("invoice_payment.paid", fx.invoice_payment("in_1", "pi_1", "ch_1"))
    update = facts.update_for("sub_1", from_epoch(PERIOD_END))
    assert update.payment_refs == (
        PaymentRef("pi_1", "stripe:sub_1", from_epoch(PERIOD_END)),
        PaymentRef("ch_1", "stripe:sub_1", from_epoch(PERIOD_END)),
    )
