"""Convergence: Pub/Sub delivers Google's notifications late, out of order and more than once.

A notification is only a trigger: the processor re-fetches the subscription (`subscriptionsv2.get`) when
it handles the notification and normalizes Google's answer as of that fetch. For a realistic life of one
subscription (purchase or free trial, renewals, deferrals, pauses, billing failures into grace or account
hold, recovery or expiry after the hold, a cancellation then a restart or expiry, a revocation with its
voided purchase, a refund after the end), every notification is delivered any number of times, each
copy after any delay (re-fetching Google's truth at that moment), and the resulting facts are folded
with `apply_update` (stale ones skipped) in any order. The purchase must end as it does when every
notification is handled the moment it is sent, in order.

What converges (asserted below): the effective `state`, `store_state`, `expires_at`, `grace_ends_at`,
access at any moment, products, renewal intent, raw status, environment, and the revocations (by ref,
period and activity). What does not: when a revocation was learned (`Revocation.at`: the fetch time).

The simulator follows Google: each event changes the subscription resource from then on; a renewal is a
new order (`GPA.x..N`); grace extends `expiryTime` to the grace end; a revocation ends the subscription
at once (EXPIRED, `expiryTime` = the revocation) and comes with a voided purchase of the current order.
"""

from __future__ import annotations

import itertools
import os
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from hypothesis import HealthCheck, assume, event, given, note, settings
from hypothesis import strategies as st

from parity.domain import google
from parity.domain.errors import StaleEventError
from parity.domain.google import GoogleFacts, parse_notification, subscription_facts, voided_facts
from parity.domain.model import Purchase, State
from parity.domain.purchases import apply_update
from tests.support import play_payloads as pp
from tests.support.domain import T0

SECOND = timedelta(seconds=1)
HOUR = timedelta(hours=1)
DAY = timedelta(days=1)
MONTH = timedelta(days=30)
START = T0
GRACE = 7 * DAY
HOLD = 30 * DAY
TOKEN = pp.PURCHASE_TOKEN

ACTIVE = "SUBSCRIPTION_STATE_ACTIVE"
CANCELED = "SUBSCRIPTION_STATE_CANCELED"
IN_GRACE = "SUBSCRIPTION_STATE_IN_GRACE_PERIOD"
ON_HOLD = "SUBSCRIPTION_STATE_ON_HOLD"
PAUSED = "SUBSCRIPTION_STATE_PAUSED"
EXPIRED = "SUBSCRIPTION_STATE_EXPIRED"


# --------------------------------------------------------------------------- Google's side


@dataclass
class Sent:
    """One notification Google published at `at`, and the subscription as it reads from then on."""

    at: datetime
    notification: dict
    resource: dict
    message_id: str

    def __repr__(self) -> str:
        parsed = parse_notification(self.notification)
        name = parsed.type_name or parsed.kind
        return f"{name}@{(self.at - START) / DAY:.3f}d"


@dataclass
class Google:
    """The subscription as Google holds it, and the notifications its changes publish."""

    test: bool = False
    state: str = ACTIVE
    expiry: datetime = START + MONTH
    auto_renew: bool = True
    phase: str = "basePrice"
    order: int | None = None  # renewal index of the latest successful order (None: the first order)
    canceled: str | None = None
    resume_at: datetime | None = None
    ack: str = "ACKNOWLEDGEMENT_STATE_PENDING"
    sent: list[Sent] = field(default_factory=list)
    ids: itertools.count = field(default_factory=lambda: itertools.count(1))

    @property
    def order_id(self) -> str:
        return pp.renewal_order(self.order)

    def resource(self) -> dict:
        return pp.subscription(
            self.state,
            expiry=self.expiry,
            auto_renew=self.auto_renew,
            phase=self.phase,
            order_id=self.order_id,
            test=self.test,
            ack=self.ack,
            canceled=self.canceled,
            resume_at=self.resume_at,
        )

    def publish(self, notification_type: int, at: datetime, **changes) -> None:
        for name, value in changes.items():
            setattr(self, name, value)
        notification = pp.subscription_notification(notification_type, TOKEN, at)
        self.sent.append(Sent(at, notification, self.resource(), f"msg-{next(self.ids)}"))
        self.ack = "ACKNOWLEDGEMENT_STATE_ACKNOWLEDGED"  # Parity acknowledges what it is sent

    def void(self, at: datetime) -> None:
        notification = pp.voided_notification(TOKEN, self.order_id, 1, 1, at)
        self.sent.append(Sent(at, notification, self.resource(), f"msg-{next(self.ids)}"))

    def truth(self, moment: datetime) -> dict:
        """What subscriptionsv2.get answers at `moment`."""
        current = [sent for sent in self.sent if sent.at <= moment]
        return current[-1].resource


@dataclass
class Story:
    google: Google
    trial: bool
    ending: str
    revocations: frozenset[str] = frozenset()  # the refs the story's revocations must leave

    @property
    def revoked(self) -> bool:
        return bool(self.revocations)


@st.composite
def stories(draw) -> Story:
    soon = st.integers(min_value=1, max_value=3600).map(lambda s: s * SECOND)
    trial = draw(st.booleans())
    g = Google(test=draw(st.booleans()))
    g.publish(
        4, START + draw(soon), expiry=START + (7 * DAY if trial else MONTH), phase="freeTrial" if trial else "basePrice"
    )
    event(f"start: {'trial' if trial else 'paid'}")
    ending = "active"

    def last() -> datetime:
        return g.sent[-1].at

    def recover(until: datetime) -> None:
        at = draw(
            st.integers(min_value=1, max_value=int((until - last()) / SECOND) - 1).map(lambda s: last() + s * SECOND)
        )
        g.publish(1, at, state=ACTIVE, expiry=at + MONTH, order=(g.order or -1) + 1, phase="basePrice")

    for _ in range(draw(st.integers(min_value=0, max_value=4))):
        outcome = draw(st.sampled_from(["paid", "paid", "deferred", "pause", "grace", "hold"]))
        event(f"renewal: {outcome}")
        end = g.expiry
        if outcome == "paid":
            at = max(last() + SECOND, end - draw(st.integers(min_value=0, max_value=86400)) * SECOND)
            g.publish(2, at, expiry=end + MONTH, order=(g.order or -1) + 1, phase="basePrice")
        elif outcome == "deferred":  # the developer extended the period by a week (no payment)
            g.publish(9, last() + (end - last()) / 2, expiry=end + 7 * DAY)
        elif outcome == "pause":
            resume = end + MONTH
            g.publish(11, last() + (end - last()) / 2)  # pause scheduled: still active until the period end
            g.publish(10, end + draw(soon), state=PAUSED, resume_at=resume)
            if draw(st.integers(min_value=0, max_value=3)) == 0:
                ending = "paused"
                break
            g.publish(
                1,
                resume,
                state=ACTIVE,
                expiry=resume + MONTH,
                order=(g.order or -1) + 1,
                phase="basePrice",
                resume_at=None,
            )
        else:
            hold_from = end
            if outcome == "grace":
                g.publish(6, end + draw(soon), state=IN_GRACE, expiry=end + GRACE, phase="basePrice")
                fate = draw(st.sampled_from(["recovered", "recovered", "on hold", "still in grace"]))
                if fate == "still in grace":
                    ending = "grace_period"
                    break
                if fate == "recovered":
                    recover(end + GRACE)
                    continue
                hold_from = end + GRACE
            g.publish(5, hold_from + draw(soon), state=ON_HOLD, expiry=hold_from, phase="basePrice")
            fate = draw(st.sampled_from(["recovered", "recovered", "expired", "still on hold"]))
            if fate == "expired":
                g.publish(13, hold_from + HOLD, state=EXPIRED, auto_renew=False, canceled="system")
                ending = "expired"
                break
            if fate == "still on hold":
                ending = "on_hold"
                break
            recover(hold_from + HOLD)

    if ending == "active" and draw(st.booleans()):
        end = g.expiry
        canceled = last() + draw(st.integers(min_value=1, max_value=int((end - last()) / SECOND) - 2)) * SECOND
        g.publish(3, canceled, state=CANCELED, auto_renew=False, canceled="user")
        if draw(st.booleans()):
            g.publish(7, canceled + (end - canceled) / 2, state=ACTIVE, auto_renew=True, canceled=None)
        else:
            g.publish(13, end + draw(soon), state=EXPIRED)
            ending = "expired"

    story = Story(g, trial and g.phase == "freeTrial", ending)
    if draw(st.booleans()):
        revoked_at = last() + draw(st.integers(min_value=1, max_value=20 * 86400)) * SECOND
        refs = {f"voided:{g.order_id}"}
        if ending != "expired":
            g.publish(
                12,
                revoked_at,
                state=EXPIRED,
                expiry=min(g.expiry, revoked_at),
                auto_renew=False,
                canceled="developer",
                resume_at=None,
            )
            refs.add(f"revoked:{TOKEN}")
            voided = draw(st.booleans())
            event(f"ends: revoked{'' if voided else ' (no voided purchase)'}")
        else:
            voided = True
            event("ends: refunded after the end")
        if voided:
            g.void(revoked_at + draw(soon))
        else:
            refs.discard(f"voided:{g.order_id}")
        story.revocations = frozenset(refs)
    else:
        event(f"ends: {ending}")

    times = [sent.at for sent in g.sent]
    assume(times == sorted(times) and len(set(times)) == len(times))
    return story


ORACLE = {
    ACTIVE: State.ACTIVE,
    IN_GRACE: State.GRACE_PERIOD,
    ON_HOLD: State.ON_HOLD,
    PAUSED: State.PAUSED,
    EXPIRED: State.EXPIRED,
}


def expected_state(story: Story) -> State:
    """An oracle independent of the normalizer: how the story ends."""
    if story.revoked:
        return State.REVOKED
    state = ORACLE[story.google.sent[-1].resource["subscriptionState"]]
    return State.TRIALING if state is State.ACTIVE and story.trial else state


# --------------------------------------------------------------------------- Parity's side


@dataclass(frozen=True)
class Delivery:
    sent: Sent
    fetched_at: datetime  # when the processor handled it (and asked Google)

    def __repr__(self) -> str:
        return f"{self.sent!r}+{(self.fetched_at - self.sent.at) / DAY:.3f}d"


def handle(google_side: Google, delivery: Delivery) -> GoogleFacts:
    """What the processor does: parse, fetch what the notification names, normalize."""
    parsed = parse_notification(delivery.sent.notification)
    assert parsed.warnings == () and parsed.purchase_token == TOKEN
    truth = google_side.truth(delivery.fetched_at)
    if parsed.kind == google.SUBSCRIPTION:
        assert parsed.fetch == "subscriptionsv2"
        facts = subscription_facts(
            TOKEN,
            truth,
            delivery.fetched_at,
            delivery.sent.message_id,
            parsed.notification_type,
            event_time=parsed.event_time,
        )
    else:
        assert parsed.kind == google.VOIDED_PURCHASE and parsed.fetch == "subscriptionsv2"
        facts = voided_facts(
            delivery.sent.notification,
            parsed.event_time,
            delivery.sent.message_id,
            resource=truth,
            fetched_at=delivery.fetched_at,
        )
    assert facts.warnings == (), facts.warnings  # the simulator speaks Google's language only
    return facts


def fold(facts: list[GoogleFacts]) -> Purchase | None:
    purchase = None
    for item in facts:
        try:
            purchase = apply_update(purchase, item.update_for(TOKEN_USERS.get(item.claim_token)))
        except StaleEventError:
            pass
    return purchase


TOKEN_USERS = {pp.TOKEN: "u_1"}


def observable(purchase: Purchase | None) -> dict:
    """What must not depend on arrival order."""
    if purchase is None:
        return {}
    moments = [T0 + timedelta(days=d, hours=h) for d in range(0, 500, 2) for h in (0, 13)]
    return {
        "state": purchase.state,
        "store_state": purchase.store_state,
        "expires_at": purchase.expires_at,
        "grace_ends_at": purchase.grace_ends_at,
        "revocations": frozenset((r.ref, r.covers_until, r.active) for r in purchase.revocations),
        "access": tuple(purchase.grants_access(m) for m in moments),
        "product_refs": purchase.product_refs,
        "will_renew": purchase.will_renew,
        "raw_state": purchase.raw_state,
        "environment": purchase.environment,
    }


def in_order(story: Story) -> list[Delivery]:
    """Each notification handled the moment Google sent it, in Google's order."""
    return [Delivery(sent, sent.at) for sent in story.google.sent]


@st.composite
def deliveries(draw, story: Story) -> list[Delivery]:
    """Every notification at least once, copies too, each handled after any delay."""
    delays = st.one_of(
        st.just(timedelta(0)),
        st.integers(min_value=1, max_value=3600).map(lambda s: s * SECOND),
        st.integers(min_value=1, max_value=90 * 24).map(lambda h: h * HOUR),
    )
    handled = []
    for sent in story.google.sent:
        for _ in range(draw(st.integers(min_value=1, max_value=3))):
            handled.append(Delivery(sent, sent.at + draw(delays)))
    return handled


@settings(
    max_examples=int(os.environ.get("CONVERGENCE_EXAMPLES", "300")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
@given(data=st.data())
def test_any_delivery_order_with_duplicates_and_refetches_converges_on_the_in_order_result(data):
    # GIVEN the notifications of one subscription's life, each handled at once, in order
    story = data.draw(stories(), label="story")
    note(f"sent: {story.google.sent}")
    expected = observable(fold([handle(story.google, d) for d in in_order(story)]))
    event(f"in-order state: {expected['state'].value}")
    assert expected["state"] is expected_state(story)  # in order, the story's own ending
    assert {ref for ref, _, active in expected["revocations"] if active} == story.revocations

    # WHEN they are delivered late, several times, re-fetched then, and applied in any order
    handled = data.draw(deliveries(story), label="deliveries")
    facts = [handle(story.google, d) for d in handled]
    order = data.draw(st.permutations(range(len(facts))), label="order")
    note(f"applied: {[handled[i] for i in order]}")

    # THEN the purchase ends the same
    assert observable(fold([facts[i] for i in order])) == expected


# --------------------------------------------------------------------------- pinned examples


def _issue_lifecycle() -> tuple[Google, list[str]]:
    """The e2e story of the issue: purchase, grace, on hold, recovered, revoked, voided — with the state
    expected after each notification."""
    g = Google()
    g.publish(4, START)
    g.publish(6, START + MONTH + HOUR, state=IN_GRACE, expiry=START + MONTH + GRACE)
    g.publish(5, START + MONTH + GRACE + HOUR, state=ON_HOLD, expiry=START + MONTH + GRACE)
    recovered = START + MONTH + GRACE + 3 * DAY
    g.publish(1, recovered, state=ACTIVE, expiry=recovered + MONTH, order=0)
    g.publish(
        12, recovered + 5 * DAY, state=EXPIRED, expiry=recovered + 5 * DAY, auto_renew=False, canceled="developer"
    )
    g.void(recovered + 5 * DAY + SECOND)
    return g, ["active", "grace_period", "on_hold", "active", "revoked", "revoked"]


def test_the_lifecycle_of_the_issue_walks_through_the_contract_states():
    g, states = _issue_lifecycle()
    handled = [handle(g, Delivery(sent, sent.at)) for sent in g.sent]
    seen = [fold(handled[: n + 1]).state.value for n in range(len(handled))]
    assert seen == states
    assert handled[0].needs_acknowledgement and not any(f.needs_acknowledgement for f in handled[1:])


def test_the_lifecycle_of_the_issue_converges_backwards_doubled_and_late():
    g, _ = _issue_lifecycle()
    prompt = [handle(g, Delivery(sent, sent.at)) for sent in g.sent]
    late = [handle(g, Delivery(sent, sent.at + 40 * DAY)) for sent in g.sent]
    expected = observable(fold(prompt))
    assert expected["state"] is State.REVOKED
    assert observable(fold(prompt[::-1])) == expected
    assert observable(fold(prompt[::-1] + prompt)) == expected
    assert observable(fold(late + prompt[::-1])) == expected
    assert observable(fold([f for pair in zip(late, prompt[::-1], strict=True) for f in pair])) == expected


def test_every_late_delivery_refetches_the_final_truth():
    # GIVEN a subscription canceled on day 10, expired on day 30, whose notifications are all handled on day 45
    g = Google()
    g.publish(4, START)
    g.publish(3, START + 10 * DAY, state=CANCELED, auto_renew=False, canceled="user")
    g.publish(13, START + MONTH + SECOND, state=EXPIRED)
    late = [handle(g, Delivery(sent, START + 45 * DAY)) for sent in g.sent]

    # THEN each says the same thing (expired), and any one of them is enough
    assert {f.snapshot.store_state for f in late} == {State.EXPIRED}
    assert fold(late[:1]).state is State.EXPIRED and not fold(late[:1]).grants_access(START + 11 * DAY)
