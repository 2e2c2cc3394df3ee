"""Convergence: Apple delivers notifications late, out of order and more than once (it retries for days).

For a realistic life of one auto-renewable subscription (subscribe, renewals, billing failures into
grace or billing retry, grace expired, recovery, a refund of any paid period and its reversal, a
voluntary or billing expiry), normalizing every notification, converting it with `update_for` and
folding with `apply_update` (stale ones skipped) must give the same purchase whatever the arrival
order and however many duplicates arrive.

What converges (asserted below): the effective `state`, `store_state`, `expires_at`, `grace_ends_at`,
access at any moment, products, renewal intent, raw status, environment, and the revocations as a set.
What does not: the tuple order of `revocations` (arrival order; `state` does not depend on it).

The generator follows Apple: every notification carries the transaction and renewal info as they are
when it is signed (a transaction refunded by then carries its `revocationDate`, one whose refund was
reversed by then does not); signedDates are distinct milliseconds.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import timedelta

from hypothesis import HealthCheck, assume, event, given, note, settings
from hypothesis import strategies as st

from parity.domain.apple import VerifiedNotification, normalize
from parity.domain.errors import StaleEventError
from parity.domain.model import Purchase, State
from parity.domain.purchases import apply_update
from tests.support import apple_payloads as ap
from tests.support.apple_payloads import DAY_MS, HOUR_MS, at, moment
from tests.support.domain import T0

DAY, HOUR, MONTH, SECOND = DAY_MS, HOUR_MS, 30 * DAY_MS, 1000
START = at(0)
USERS = {ap.TOKEN: "u_1"}


# --------------------------------------------------------------------------- a subscription's life


@dataclass
class Tx:
    transaction_id: str
    purchase: int
    expires: int
    trial: bool = False


@dataclass
class Sent:
    """One notification as Apple composes it: about transaction `tx`, signed at `signed`."""

    notification_type: str
    subtype: str | None
    tx: int
    signed: int
    renewal: dict = field(default_factory=dict)

    def __repr__(self) -> str:
        kind = f"{self.notification_type}/{self.subtype}" if self.subtype else self.notification_type
        return f"{kind}(tx{self.tx})@{(self.signed - START) / DAY:.3f}d"


@dataclass
class Life:
    txs: list[Tx] = field(default_factory=list)
    sent: list[Sent] = field(default_factory=list)
    refunded: tuple[int, int] | None = None  # (transaction index, refund time)
    reversed_at: int | None = None

    def buy(self, purchase: int, expires: int, trial: bool = False) -> int:
        self.txs.append(Tx(f"20000000{len(self.txs):08d}", purchase, expires, trial))
        return len(self.txs) - 1

    def send(self, notification_type, subtype, tx, signed, **renewal) -> None:
        self.sent.append(Sent(notification_type, subtype, tx, signed, renewal))

    def revoked_at(self, index: int, signed: int) -> int | None:
        """The revocationDate transaction `index` carries when signed at `signed`."""
        if self.refunded is None or self.refunded[0] != index or self.refunded[1] > signed:
            return None
        if self.reversed_at is not None and self.reversed_at <= signed:
            return None
        return self.refunded[1]

    def notifications(self) -> list[VerifiedNotification]:
        """Apple's order: by signedDate."""
        built = []
        for sent in sorted(self.sent, key=lambda s: s.signed):
            tx = self.txs[sent.tx]
            fields = {"offer_type": 1, "offer_discount_type": "FREE_TRIAL", "price": 0} if tx.trial else {}
            transaction = ap.transaction(
                tx.transaction_id,
                purchase=tx.purchase,
                expires=tx.expires,
                signed=sent.signed,
                revoked=self.revoked_at(sent.tx, sent.signed),
                reason="PURCHASE" if sent.tx == 0 else "RENEWAL",
                **fields,
            )
            renewal = ap.renewal(signed=sent.signed, **sent.renewal)
            built.append(
                ap.notification(
                    sent.notification_type, sent.subtype, transaction=transaction, renewal=renewal, signed=sent.signed
                )
            )
        return built


@st.composite
def lives(draw) -> Life:
    life = Life()
    soon = st.integers(min_value=SECOND, max_value=HOUR)

    # -- subscribe: paid at once, or with a one-week free trial
    trial = draw(st.booleans())
    current = life.buy(START, START + (7 * DAY if trial else MONTH), trial=trial)
    life.send("SUBSCRIBED", "INITIAL_BUY", current, START + draw(st.integers(0, 5 * SECOND)))
    end = life.txs[current].expires
    event(f"start: {'trial' if trial else 'paid'}")

    # -- renewals: paid (up to a day early), or a billing failure into grace or billing retry
    ended = False
    for _ in range(draw(st.integers(min_value=0, max_value=4))):
        outcome = draw(st.sampled_from(["paid", "paid", "grace", "retry"]))
        event(f"renewal: {outcome}")
        if outcome == "paid":
            signed = end - draw(st.integers(min_value=0, max_value=DAY))
            current = life.buy(signed, end + MONTH)
            life.send("DID_RENEW", None, current, signed)
            end += MONTH
            continue
        failed = end + draw(soon)
        grace_end = end + 16 * DAY if outcome == "grace" else None
        life.send("DID_FAIL_TO_RENEW", "GRACE_PERIOD" if grace_end else None, current, failed, retrying=True,
                  grace_expires=grace_end)
        last, within_grace = failed, grace_end is not None
        if grace_end is not None and draw(st.booleans()):
            last, within_grace = grace_end + draw(soon), False
            life.send("GRACE_PERIOD_EXPIRED", None, current, last, retrying=True, grace_expires=grace_end)
        if draw(st.integers(min_value=0, max_value=3)) == 0:
            # Retries exhausted: Apple expires the subscription at the end of the 60-day retry period.
            life.send("EXPIRED", "BILLING_RETRY", current, end + 60 * DAY, auto_renew=0, expiration_intent=2)
            event("ends: billing retry exhausted")
            ended = True
            break
        latest = (grace_end - SECOND) if within_grace else last + 10 * DAY
        recovered = draw(st.integers(min_value=last + SECOND, max_value=latest))
        current = life.buy(recovered, recovered + MONTH)
        life.send("DID_RENEW", "BILLING_RECOVERY", current, recovered)
        end = recovered + MONTH

    # -- the customer turns auto-renew off, and the subscription expires at the period end
    last_sent = max(s.signed for s in life.sent)
    if not ended and last_sent + SECOND < end and draw(st.booleans()):
        disabled = draw(st.integers(min_value=last_sent + SECOND, max_value=end - SECOND))
        life.send("DID_CHANGE_RENEWAL_STATUS", "AUTO_RENEW_DISABLED", current, disabled, auto_renew=0)
        life.send("EXPIRED", "VOLUNTARY", current, end + draw(soon), auto_renew=0, expiration_intent=1)
        event("ends: voluntary")
        ended = True

    # -- a refund request about any paid period, at any time after its payment (even after the end)
    paid = [index for index, tx in enumerate(life.txs) if not tx.trial]
    if paid and draw(st.booleans()):
        index = draw(st.sampled_from(paid))
        bought = life.txs[index].purchase
        requested = bought + draw(st.integers(min_value=2 * SECOND, max_value=60 * DAY))
        if draw(st.booleans()):
            life.send("CONSUMPTION_REQUEST", None, index, requested - SECOND)
        if draw(st.integers(min_value=0, max_value=3)) == 0:
            life.send("REFUND_DECLINED", None, index, requested)
            event("refund: declined")
        else:
            life.refunded = (index, requested)
            life.send("REFUND", None, index, requested)
            event(f"refund: {'current' if index == current else 'older'} period")
            others = [s.signed for s in life.sent if s.notification_type != "REFUND"]
            if not ended and requested > max(others) and requested + SECOND < end and draw(st.booleans()):
                # The App Store turns auto-renew off after a refund; its latest transaction may be the refunded one.
                life.send("DID_CHANGE_RENEWAL_STATUS", "AUTO_RENEW_DISABLED", current, requested + SECOND, auto_renew=0)
            if draw(st.booleans()):
                life.reversed_at = requested + draw(st.integers(min_value=HOUR, max_value=30 * DAY))
                life.send("REFUND_REVERSED", None, index, life.reversed_at)
                event("refund: reversed")

    signed = [s.signed for s in life.sent]
    assume(len(set(signed)) == len(signed))  # Apple signs in milliseconds: no two at once
    return life


SNAPSHOT_STATES = {
    ("SUBSCRIBED", "INITIAL_BUY"): State.ACTIVE,
    ("DID_RENEW", None): State.ACTIVE,
    ("DID_RENEW", "BILLING_RECOVERY"): State.ACTIVE,
    ("DID_CHANGE_RENEWAL_STATUS", "AUTO_RENEW_DISABLED"): State.ACTIVE,
    ("DID_FAIL_TO_RENEW", "GRACE_PERIOD"): State.GRACE_PERIOD,
    ("DID_FAIL_TO_RENEW", None): State.BILLING_RETRY,
    ("GRACE_PERIOD_EXPIRED", None): State.BILLING_RETRY,
    ("EXPIRED", "BILLING_RETRY"): State.EXPIRED,
    ("EXPIRED", "VOLUNTARY"): State.EXPIRED,
}


def expected_state(life: Life) -> State:
    """An oracle independent of the normalizer: the state the life ends in, read from the story.

    The last notification describing the subscription sets its state and period; a refund not reversed
    revokes it when the refunded period is the last one (a later period lifts it).
    """
    last = max((s for s in life.sent if (s.notification_type, s.subtype) in SNAPSHOT_STATES), key=lambda s: s.signed)
    state = SNAPSHOT_STATES[(last.notification_type, last.subtype)]
    if state is State.ACTIVE and life.txs[last.tx].trial:
        state = State.TRIALING
    if life.refunded is not None and life.reversed_at is None:
        if life.txs[life.refunded[0]].expires >= life.txs[last.tx].expires:
            return State.REVOKED
    return state


@st.composite
def deliveries(draw, notifications: list[VerifiedNotification]) -> list[VerifiedNotification]:
    """Any arrival order, with any notification delivered again at any time (Apple retries)."""
    order = draw(st.permutations(notifications))
    for duplicate in draw(st.lists(st.sampled_from(notifications), max_size=len(notifications))):
        order.insert(draw(st.integers(min_value=0, max_value=len(order))), duplicate)
    return order


# --------------------------------------------------------------------------- the fold


def fold(notifications) -> Purchase | None:
    purchase = None
    for notification in notifications:
        facts = normalize(notification)
        assert facts.warnings == (), facts.warnings  # the generator speaks Apple's language only
        if not facts.concerns_purchase:
            continue
        assert facts.purchase_key == ap.ORIGINAL
        try:
            purchase = apply_update(purchase, facts.update_for(USERS.get(facts.claim_token)))
        except StaleEventError:
            pass
    return purchase


def observable(purchase: Purchase | None) -> dict:
    """What must not depend on arrival order."""
    if purchase is None:
        return {}
    moments = [T0 + timedelta(days=d, hours=h) for d in range(0, 400, 2) for h in (0, 13)]
    return {
        "state": purchase.state,
        "store_state": purchase.store_state,
        "expires_at": purchase.expires_at,
        "grace_ends_at": purchase.grace_ends_at,
        "revocations": frozenset(purchase.revocations),
        "access": tuple(purchase.grants_access(m) for m in moments),
        "product_refs": purchase.product_refs,
        "will_renew": purchase.will_renew,
        "raw_state": purchase.raw_state,
        "environment": purchase.environment,
    }


@settings(
    max_examples=int(os.environ.get("CONVERGENCE_EXAMPLES", "300")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
@given(data=st.data())
def test_any_arrival_order_with_duplicates_converges_on_the_in_order_result(data):
    # GIVEN the notifications of one subscription's life, in Apple's order
    life = data.draw(lives(), label="life")
    notifications = life.notifications()
    expected = observable(fold(notifications))
    event(f"in-order state: {expected['state'].value}")
    note(f"in order: {sorted(life.sent, key=lambda s: s.signed)}")
    assert expected["state"] is expected_state(life)  # in order, the story's own ending

    # WHEN they arrive in another order, some more than once
    arrival = data.draw(deliveries(notifications), label="arrival")
    note(f"arrival: {[n.payload['notificationType'] + '@' + str(n.payload['signedDate']) for n in arrival]}")

    # THEN the purchase ends the same
    assert observable(fold(arrival)) == expected


# --------------------------------------------------------------------------- pinned examples


def _lifecycle() -> tuple[Life, list[str]]:
    """The e2e story of the issue: subscribe, renew, billing failure into grace, grace expired,
    recovery, refund, refund reversed, expiry — with the state expected after each notification."""
    life = Life()
    first = life.buy(START, START + MONTH)
    life.send("SUBSCRIBED", "INITIAL_BUY", first, START)
    second = life.buy(START + MONTH - HOUR, START + 2 * MONTH)
    life.send("DID_RENEW", None, second, START + MONTH - HOUR)
    end = START + 2 * MONTH
    life.send("DID_FAIL_TO_RENEW", "GRACE_PERIOD", second, end + HOUR, retrying=True, grace_expires=end + 16 * DAY)
    life.send("GRACE_PERIOD_EXPIRED", None, second, end + 16 * DAY + HOUR, retrying=True, grace_expires=end + 16 * DAY)
    recovered = end + 20 * DAY
    third = life.buy(recovered, recovered + MONTH)
    life.send("DID_RENEW", "BILLING_RECOVERY", third, recovered)
    life.refunded = (third, recovered + 5 * DAY)
    life.send("REFUND", None, third, recovered + 5 * DAY)
    life.reversed_at = recovered + 9 * DAY
    life.send("REFUND_REVERSED", None, third, recovered + 9 * DAY)
    life.send("DID_CHANGE_RENEWAL_STATUS", "AUTO_RENEW_DISABLED", third, recovered + 10 * DAY, auto_renew=0)
    life.send("EXPIRED", "VOLUNTARY", third, recovered + MONTH + SECOND, auto_renew=0, expiration_intent=1)
    states = ["active", "active", "grace_period", "billing_retry", "active", "revoked", "active", "active", "expired"]
    return life, states


def test_the_lifecycle_of_the_issue_walks_through_the_contract_states():
    life, states = _lifecycle()
    notifications = life.notifications()
    seen = [fold(notifications[: n + 1]).state.value for n in range(len(notifications))]
    assert seen == states


def test_the_lifecycle_of_the_issue_converges_backwards_and_doubled():
    notifications = _lifecycle()[0].notifications()
    expected = observable(fold(notifications))
    assert expected["state"] is State.EXPIRED
    assert observable(fold(notifications[::-1])) == expected
    assert observable(fold(notifications[::-1] + notifications)) == expected
    assert observable(fold([n for pair in zip(notifications, notifications[::-1], strict=True) for n in pair])) == expected


def test_a_refund_of_the_current_period_with_a_late_did_renew_and_a_later_renewal():
    # GIVEN a renewal refunded, its DID_RENEW delivered after the refund, then the next renewal
    life = Life()
    first = life.buy(START, START + MONTH)
    life.send("SUBSCRIBED", "INITIAL_BUY", first, START)
    second = life.buy(START + MONTH, START + 2 * MONTH)
    life.send("DID_RENEW", None, second, START + MONTH)
    life.refunded = (second, START + MONTH + 3 * DAY)
    life.send("REFUND", None, second, START + MONTH + 3 * DAY)
    third = life.buy(START + 2 * MONTH, START + 3 * MONTH)
    life.send("DID_RENEW", None, third, START + 2 * MONTH)
    subscribed, renewed, refund, later = life.notifications()

    # THEN the late DID_RENEW does not reinstate the refunded period, the later renewal does
    assert fold([subscribed, refund, renewed]).state is State.REVOKED
    assert fold([subscribed, refund, renewed, later]).state is State.ACTIVE
    assert observable(fold([later, refund, renewed, subscribed])) == observable(
        fold([subscribed, renewed, refund, later])
    )
    assert fold([subscribed, refund, renewed]).grants_access(moment(START + MONTH + 4 * DAY)) is False
