"""Convergence: Stripe delivers events late, out of order and more than once.

For a realistic life of one subscription (built with Stripe's basil shapes), normalizing every event,
converting it with `update_for` and folding with `apply_update` (stale events skipped) must give the
same purchase whatever the arrival order and however many duplicates arrive.

What converges (the invariants asserted below): the effective `state`, `store_state`, `expires_at`,
whether access is granted at any moment, the product refs, the renewal intent and raw status, and the
revocations as a set.
What does not:
- `event_time`: whether a paid invoice bumped it depends on what arrived first; it only guards ordering.
- the tuple order of `revocations`: arrival order (`state` does not depend on it).

Same-second rules the generator respects because Stripe does: a payment retried after a failure is
not in the same second as the failure, and a dispute is not opened and closed in the same second.
"""

from __future__ import annotations

import os
from datetime import datetime, timedelta

from hypothesis import HealthCheck, event, given, note, settings
from hypothesis import strategies as st

from parity.domain import stripe as stripe_domain
from parity.domain.errors import StaleEventError
from parity.domain.model import Purchase, State
from parity.domain.purchases import apply_update
from parity.domain.timeutil import from_epoch
from tests.support import stripe as fx
from tests.support.domain import T0

SUB = "sub_1"
PRICE, PRODUCT = "price_pro_monthly", "prod_pro"
START = int(T0.timestamp())
DAY = fx.DAY
MONTH = 30 * DAY
HOUR = 3600


class Delivered:
    """One Stripe event and the period end Parity's payment lookup knows for it (refunds, disputes)."""

    __slots__ = ("event", "period_end")

    def __init__(self, event: dict, period_end: datetime | None = None) -> None:
        self.event = event
        self.period_end = period_end

    @property
    def label(self) -> str:
        obj = self.event["data"]["object"]
        detail = obj.get("status", "")
        return f"{self.event['type']}({detail})@{self.event['created'] - START}"

    def __repr__(self) -> str:
        return self.label


# --------------------------------------------------------------------------- realistic event sequences


def _sub(status: str, period_end: int, created: int, **extra) -> Delivered:
    event_type = extra.pop("event_type", "customer.subscription.updated")
    body = fx.subscription(SUB, status=status, period_end=period_end, price=PRICE, product=PRODUCT, **extra)
    return Delivered(fx.event(event_type, body, created=created))


def _invoice(event_type: str, number: int, period_end: int, created: int, amount: int = 999) -> Delivered:
    body = fx.invoice(f"in_{number}", SUB, period_end=period_end)
    body["amount_due"] = amount
    body["amount_paid"] = amount if event_type == "invoice.paid" else 0
    body["lines"]["data"][0]["pricing"] = {
        "type": "price_details",
        "price_details": {"price": PRICE, "product": PRODUCT},
    }
    body["status"] = "paid" if event_type == "invoice.paid" else "open"
    return Delivered(fx.event(event_type, body, created=created))


def _charge_of(number: int) -> tuple[str, str]:
    return f"ch_{number}", f"pi_{number}"


@st.composite
def subscription_lives(draw) -> list[Delivered]:
    """The events of one subscription, in the order Stripe emits them (`created` never decreases)."""
    events: list[Delivered] = []
    delay = st.sampled_from([0, 0, 1, HOUR])  # Stripe stamps to the second: collisions are common
    payments = []  # (invoice number, period end, paid at) of the payments that have a charge
    ended = False

    # -- the start
    start = draw(
        st.sampled_from(["trial", "trial_without_card", "active", "incomplete_then_paid", "incomplete_expired"])
    )
    event(f"start: {start}")
    if start in ("trial", "trial_without_card"):
        end = START + 14 * DAY
        events.append(_sub("trialing", end, START, event_type="customer.subscription.created", trial_end=end))
        if draw(st.booleans()):
            # The trial's $0 invoice: Stripe marks it paid and sends invoice.paid, in the same second.
            events.append(_invoice("invoice.paid", 0, end, START, amount=0))
        if start == "trial_without_card":
            # The trial ends without a payment method: Stripe pauses the subscription.
            events.append(_sub("paused", end, end, event_type="customer.subscription.paused"))
            ended = True
            if draw(st.booleans()):
                # Resumed later, with a payment: a new period starts at the resume.
                resumed = end + draw(st.integers(min_value=1, max_value=10 * DAY))
                end = resumed + MONTH
                events.append(_sub("active", end, resumed, event_type="customer.subscription.resumed"))
                paid_at = resumed + draw(delay)
                events.append(_invoice("invoice.paid", 0, end, paid_at))
                payments.append((0, end, paid_at))
                ended = False
    elif start == "active":
        # Paid at once: Stripe creates the subscription active and sends the paid first invoice.
        end = START + MONTH
        paid_at = START + draw(delay)
        events.append(_sub("active", end, START, event_type="customer.subscription.created"))
        events.append(_invoice("invoice.paid", 0, end, paid_at))
        payments.append((0, end, paid_at))
    else:
        # The first payment needs more (3-D Secure) or fails: the subscription starts incomplete.
        end = START + MONTH
        events.append(_sub("incomplete", end, START, event_type="customer.subscription.created"))
        failed = start == "incomplete_expired" or draw(st.booleans())
        if failed:
            events.append(_invoice("invoice.payment_failed", 0, end, START))
        if start == "incomplete_expired":
            events.append(_sub("incomplete_expired", end, START + 23 * HOUR))
            ended = True
        else:
            # A retry after a failure is a person acting again: not in the same second.
            paid_at = START + draw(st.sampled_from([1, HOUR, 20 * HOUR] if failed else [0, 1, HOUR]))
            events.append(_invoice("invoice.paid", 0, end, paid_at))
            events.append(_sub("active", end, paid_at))
            payments.append((0, end, paid_at))
    if start != "incomplete_expired":
        session = fx.checkout_session(user_id="u_1", subscription_id=SUB)
        completed_at = payments[0][2] if payments else START
        events.append(Delivered(fx.event("checkout.session.completed", session, created=completed_at)))

    renewals = 0 if ended else draw(st.integers(min_value=0, max_value=3))
    for number in range(1, renewals + 1):
        boundary, end = end, end + MONTH
        # Stripe advances the period at the boundary, then collects the invoice (about an hour later).
        events.append(_sub("active", end, boundary))
        collect_at = boundary + draw(delay)
        outcome = draw(st.sampled_from(["paid", "paid", "failed_then_paid", "failed_for_good"]))
        event(f"renewal: {outcome}")
        if outcome != "paid":
            events.append(_invoice("invoice.payment_failed", number, end, collect_at))
            events.append(_sub("past_due", end, collect_at))
        if outcome == "failed_for_good":
            gave_up = collect_at + 7 * DAY
            verdict = draw(st.sampled_from(["still retrying", "unpaid", "canceled"]))
            if verdict == "unpaid":
                events.append(_sub("unpaid", end, gave_up))
            elif verdict == "canceled":
                events.append(
                    _sub("canceled", end, gave_up, event_type="customer.subscription.deleted", ended_at=gave_up)
                )
            ended = True
            break
        if outcome == "failed_then_paid":
            collect_at += draw(st.integers(min_value=1, max_value=5)) * DAY
        events.append(_invoice("invoice.paid", number, end, collect_at))
        charge, intent = _charge_of(number)
        payment = fx.invoice_payment(f"in_{number}", payment_intent=intent, charge=charge)
        events.append(Delivered(fx.event("invoice_payment.paid", payment, created=collect_at), from_epoch(end)))
        if outcome == "failed_then_paid":
            events.append(_sub("active", end, collect_at))
        payments.append((number, end, collect_at))

    # -- the end: canceled at the period end (announced first), or immediately
    if not ended and draw(st.booleans()):
        last = events[-1].event["created"]
        if draw(st.booleans()):
            events.append(_sub("active", end, last + draw(delay), cancel_at_period_end=True))
            events.append(_sub("canceled", end, end, event_type="customer.subscription.deleted", ended_at=end))
        else:
            now = last + draw(st.integers(min_value=0, max_value=DAY))
            events.append(_sub("canceled", end, now, event_type="customer.subscription.deleted", ended_at=now))

    # -- a refund and a dispute of payments made (any time after the payment, even after the end)
    if payments and draw(st.booleans()):
        number, period_end, paid_at = draw(st.sampled_from(payments))
        charge, intent = _charge_of(number)
        full = draw(st.booleans())
        at = paid_at + draw(st.integers(min_value=0, max_value=40 * DAY))
        body = fx.charge(charge, payment_intent=intent, amount=999, amount_refunded=999 if full else 300)
        events.append(Delivered(fx.event("charge.refunded", body, created=at), from_epoch(period_end)))
    if payments and draw(st.booleans()):
        number, period_end, paid_at = draw(st.sampled_from(payments))
        charge, intent = _charge_of(number)
        covers = from_epoch(period_end)
        opened = paid_at + draw(st.integers(min_value=0, max_value=40 * DAY))
        dispute = fx.dispute(f"dp_{number}", charge, intent, status="needs_response")
        events.append(Delivered(fx.event("charge.dispute.created", dispute, created=opened), covers))
        verdict = draw(st.sampled_from([None, "won", "lost", "warning_closed"]))
        if verdict is not None:
            closed = opened + draw(st.integers(min_value=1, max_value=60)) * DAY
            body = fx.dispute(f"dp_{number}", charge, intent, status=verdict)
            events.append(Delivered(fx.event("charge.dispute.closed", body, created=closed), covers))
            if verdict == "won" and draw(st.booleans()):
                reinstated = fx.event("charge.dispute.funds_reinstated", body, created=closed)
                events.append(Delivered(reinstated, covers))

    # Stripe's order: by `created`; within one second, the order they were emitted in (a stable sort).
    ordered = sorted(events, key=lambda e: e.event["created"])
    seconds = [e.event["created"] for e in ordered]
    event(f"events sharing a second: {len(seconds) - len(set(seconds)) > 0}")
    event(f"ends with: {ordered[-1].event['type']}")
    return ordered


@st.composite
def deliveries(draw, events: list[Delivered]) -> list[Delivered]:
    """Any arrival order of the events, with any of them delivered again at any time."""
    order = draw(st.permutations(events))
    duplicates = draw(st.lists(st.sampled_from(events), max_size=len(events)))
    for duplicate in duplicates:
        order.insert(draw(st.integers(min_value=0, max_value=len(order))), duplicate)
    return order


# --------------------------------------------------------------------------- the fold


def fold(delivered: list[Delivered]) -> Purchase | None:
    purchase = None
    for item in delivered:
        facts = stripe_domain.normalize(item.event)
        if not facts.concerns_purchase:
            continue
        assert facts.purchase_key in (SUB, None)  # one subscription; payments are looked up
        update = facts.update_for(SUB, item.period_end)
        try:
            purchase = apply_update(purchase, update)
        except StaleEventError:
            pass
    return purchase


def observable(purchase: Purchase | None) -> dict:
    """What must not depend on arrival order."""
    if purchase is None:
        return {}
    moments = [T0 + timedelta(days=d) for d in range(0, 200, 3)]
    return {
        "state": purchase.state,
        "store_state": purchase.store_state,
        "expires_at": purchase.expires_at,
        "revocations": frozenset(purchase.revocations),
        "access": tuple(purchase.grants_access(m) for m in moments),
        "product_refs": purchase.product_refs,
        "will_renew": purchase.will_renew,
        "raw_state": purchase.raw_state,
    }


@settings(
    max_examples=int(os.environ.get("CONVERGENCE_EXAMPLES", "300")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(data=st.data())
def test_any_arrival_order_with_duplicates_converges_on_the_in_order_result(data):
    # GIVEN the events of one subscription's life, in Stripe's order
    events = data.draw(subscription_lives(), label="events")
    expected = observable(fold(events))
    event(f"in-order state: {expected.get('state')}")

    # WHEN they arrive in another order, some more than once
    arrival = data.draw(deliveries(events), label="arrival")
    note(f"in order: {events}")

    # THEN the purchase ends the same
    assert observable(fold(arrival)) == expected


# --------------------------------------------------------------------------- pinned examples


def _trial_start() -> list[Delivered]:
    end = START + 14 * DAY
    return [
        _sub("trialing", end, START, event_type="customer.subscription.created", trial_end=end),
        _invoice("invoice.paid", 0, end, START, amount=0),  # the trial's $0 invoice, same second
    ]


def test_a_trial_and_its_zero_invoice_converge_in_either_order():
    # GIVEN "subscription created: trialing" and the trial's $0 invoice.paid, stamped the same second
    created, zero_invoice = _trial_start()

    # WHEN the invoice arrives first
    in_order, reversed_ = fold([created, zero_invoice]), fold([zero_invoice, created])

    # THEN both orders say trialing, with the snapshot's facts (will_renew) kept
    assert observable(reversed_) == observable(in_order)
    assert (reversed_.store_state, reversed_.will_renew) == (State.TRIALING, True)


def test_refund_and_dispute_of_the_current_period_converge():
    end = START + MONTH
    covers = from_epoch(end)
    charge, intent = _charge_of(0)
    events = [
        _sub("active", end, START, event_type="customer.subscription.created"),
        _invoice("invoice.paid", 0, end, START),
        Delivered(fx.event("charge.dispute.created", fx.dispute("dp_0", charge, intent), created=START + DAY), covers),
        Delivered(
            fx.event("charge.dispute.closed", fx.dispute("dp_0", charge, intent, "won"), created=START + 9 * DAY),
            covers,
        ),
        Delivered(fx.event("charge.refunded", fx.charge(charge, intent), created=START + 10 * DAY), covers),
    ]
    expected = fold(events)
    assert expected.state is State.REVOKED
    assert {r.ref: r.active for r in expected.revocations} == {"dispute:dp_0": False, "refund:ch_0": True}
    for arrival in (events[::-1], [events[3], events[4], events[2], events[0], events[1], events[3]]):
        assert observable(fold(arrival)) == observable(expected)


def test_period_ends_of_the_generated_events_are_read_back_by_the_normalizer():
    # A guard on the generator: the normalizer sees the period ends the scenario meant.
    created = _sub("active", START + MONTH, START, event_type="customer.subscription.created")
    paid = _invoice("invoice.paid", 0, START + MONTH, START)
    assert stripe_domain.normalize(created.event).snapshot.expires_at == from_epoch(START + MONTH)
    assert stripe_domain.normalize(paid.event).paid_through == from_epoch(START + MONTH)
    assert stripe_domain.normalize(paid.event).product_refs == (PRICE, PRODUCT)


def test_a_cancellation_and_a_paid_invoice_of_the_same_second_converge_on_the_cancellation():
    # GIVEN the renewal paid, and the subscription canceled immediately, both stamped the same second
    end = START + MONTH
    paid_at = START + 40 * DAY
    events = [
        _sub("active", end, START, event_type="customer.subscription.created"),
        _sub("active", end + MONTH, paid_at),
        _invoice("invoice.paid", 1, end + MONTH, paid_at),
        _sub("canceled", end + MONTH, paid_at, event_type="customer.subscription.deleted", ended_at=paid_at),
    ]

    # WHEN the paid invoice arrives after the cancellation (or before it)
    results = [fold(events), fold([events[0], events[3], events[1], events[2]]), fold(events[::-1])]

    # THEN access ended with the cancellation, in every order
    assert {(p.state, p.expires_at) for p in results} == {(State.EXPIRED, from_epoch(paid_at))}


def test_a_cancellation_ends_access_even_when_an_update_of_the_same_second_names_a_later_period_end():
    # GIVEN an update (active until the period end) and an immediate cancellation in the same second
    moment = START + 10 * DAY
    update = _sub("active", START + MONTH, moment)
    canceled = _sub("canceled", START + MONTH, moment, event_type="customer.subscription.deleted", ended_at=moment)

    # THEN in Stripe's order, and in the other, the purchase is expired from that moment
    for order in ([update, canceled], [canceled, update]):
        purchase = fold(order)
        assert (purchase.state, purchase.expires_at) == (State.EXPIRED, from_epoch(moment))
        assert not purchase.grants_access(from_epoch(moment + 1))


def test_will_renew_converges_when_the_first_invoice_arrives_before_the_created_snapshot():
    created = _sub("active", START + MONTH, START, event_type="customer.subscription.created")
    paid = _invoice("invoice.paid", 0, START + MONTH, START + 1)
    assert fold([paid, created]).will_renew == fold([created, paid]).will_renew
