"""Stripe dunning, pauses and the refunds and disputes catch-up through the functions against moto: the
webhook function stores and queues, the processor writes DynamoDB, the entitlements function reads it,
and the drift scan and reconcile functions ask the Stripe API imitation (`tests.support.stripe_api`)
through the real client. The rules themselves are tested on the fakes (tests/unit/test_stripe_*.py)."""

from __future__ import annotations

import os
import time

import pytest

from tests.integration.test_drift import clock, scan  # noqa: F401 - `clock` is a fixture
from tests.support import stripe as fx
from tests.support.stripe_api import stripe_api_server

DAY = fx.DAY
GRACE_SECONDS = 3 * DAY


def rfc3339(epoch: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))


@pytest.fixture
def api(stack):
    """The Stripe API imitation as STRIPE_API_BASE, with a key: the processor re-reads, the scan asks it."""
    with stripe_api_server() as state:
        os.environ["STRIPE_API_KEY"] = "sk_test_dunning"
        os.environ["STRIPE_API_BASE"] = state.base_url
        stack.reload()
        yield state


def pro(stack, user: str) -> dict:
    return stack.read(user).body["entitlements"]["pro"]


def test_past_due_gives_grace_then_billing_retry_and_a_payment_restores_active(stack, clock, t0):  # noqa: F811
    user, sub = "u_dun", "sub_dun"
    start, end = t0 - 60, t0 - 60 + 30 * DAY  # the unpaid period started a minute ago
    # GIVEN a subscriber whose renewal just failed: Stripe says past_due
    stack.deliver(
        fx.event("customer.subscription.created", fx.subscription(sub, "active", start, user_id=user), created=start - 30 * DAY),
        fx.event("invoice.payment_failed", fx.invoice(f"in_{sub}", sub, period_end=end), created=t0),
        fx.event("customer.subscription.updated", fx.subscription(sub, "past_due", end, user_id=user), created=t0),
    )
    assert not stack.drain().failed
    # THEN access is kept in grace, until the unpaid period's start + STRIPE_GRACE_SECONDS
    grace = pro(stack, user)
    assert (grace["active"], grace["state"], grace["expiresAt"], grace["gracePeriodExpiresAt"]) == (
        True, "grace_period", rfc3339(start), rfc3339(start + GRACE_SECONDS),
    )
    item = stack.purchase_item(f"stripe:{sub}")
    assert (item["storeState"], item["lapsesTo"]) == ("grace_period", "billing_retry")
    # WHEN the grace end passes with no event: the read says billing_retry, no access
    clock.travel(seconds=GRACE_SECONDS + 60)
    after = stack.read(user).body
    assert (after["entitlements"]["pro"]["active"], after["entitlements"]["pro"]["state"]) == (False, "billing_retry")
    assert after["purchases"][0]["state"] == "billing_retry"
    assert stack.user_report(user).body["purchases"][0]["state"] == "billing_retry"
    # WHEN the customer pays at last (invoice.payment_succeeded; delivered at the real time, which the
    # webhook's signature check holds it to)
    clock.travel(seconds=-(GRACE_SECONDS + 60))
    stack.deliver(fx.event("invoice.payment_succeeded", fx.paid_invoice(f"in_{sub}", sub, end), created=t0 + 120))
    assert not stack.drain().failed
    # THEN access is back until the paid period's end
    restored = pro(stack, user)
    assert (restored["active"], restored["state"], restored["expiresAt"], restored["gracePeriodExpiresAt"]) == (
        True, "active", rfc3339(end), None,
    )


def test_a_pause_ends_access_with_the_paid_period_and_resuming_restores_it(stack, clock, t0):  # noqa: F811
    user, sub, end = "u_pause", "sub_pause", t0 + 2 * DAY
    pause = {"behavior": "void", "resumes_at": None}
    stack.deliver(
        fx.event("customer.subscription.created", fx.subscription(sub, "active", end, user_id=user), created=t0 - DAY),
        fx.event("customer.subscription.updated", fx.subscription(sub, "active", end, user_id=user, pause_collection=pause), created=t0),
    )
    assert not stack.drain().failed
    paused = pro(stack, user)
    assert (paused["active"], paused["state"], paused["willRenew"]) == (True, "active", False)
    clock.travel(days=3)
    ended = pro(stack, user)
    assert (ended["active"], ended["state"], ended["expiresAt"]) == (False, "paused", rfc3339(end))
    clock.travel(days=-3)  # back to the real time, which the webhook's signature check holds deliveries to
    # resuming (pause_collection null), a new period paid
    resumed_at, new_end = t0 + 3 * DAY, t0 + 33 * DAY
    stack.deliver(
        fx.event("customer.subscription.resumed", fx.subscription(sub, "active", new_end, user_id=user), created=resumed_at),
        fx.event("invoice.paid", fx.paid_invoice("in_resume", sub, new_end), created=resumed_at),
    )
    assert not stack.drain().failed
    back = pro(stack, user)
    assert (back["active"], back["state"], back["willRenew"], back["expiresAt"]) == (True, "active", True, rfc3339(new_end))


def test_the_scan_catches_up_a_refund_and_a_dispute_through_the_paged_stripe_lists(stack, api, t0):
    # GIVEN two subscribers, their payments linked (invoice_payment.paid), and Stripe's lists: a full
    # refund of one, a dispute of the other, behind a page of partial refunds of unknown charges
    end = t0 + 20 * DAY
    for user, sub, pi in (("u_ref", "sub_ref", "pi_ref"), ("u_dis", "sub_dis", "pi_dis")):
        api.subscriptions[sub] = fx.subscription(sub, "active", end, user_id=user)
        stack.deliver(
            fx.event("customer.subscription.created", api.subscriptions[sub], created=t0 - DAY),
            fx.event("invoice.paid", fx.paid_invoice(f"in_{sub}", sub, end), created=t0 - DAY),
            fx.event("invoice_payment.paid", fx.invoice_payment(f"in_{sub}", pi), created=t0 - DAY),
        )
    assert not stack.drain().failed
    api.refunds += [fx.refund(f"re_p{n:03d}", fx.charge(f"ch_p{n:03d}", f"pi_p{n:03d}", amount_refunded=1), created=t0 + 10) for n in range(120)]
    api.refunds.append(fx.refund("re_ref", fx.charge("ch_ref", "pi_ref"), created=t0))
    api.disputes.append(fx.listed_dispute("dp_dis", t0, charge_id="ch_dis", payment_intent="pi_dis"))

    # WHEN the drift scan runs
    report = scan(stack)

    # THEN both lost webhooks are caught up: access revoked, reported, each user counted once
    for user in ("u_ref", "u_dis"):
        assert (pro(stack, user)["active"], pro(stack, user)["state"]) == (False, "revoked")
        assert stack.item(f"USER#{user}", "PROFILE")["refunds"] == 1
    assert report["counts"]["refunded_unnoticed"] == 1 and report["counts"]["caught_up"] == 1
    # AND the lists were read since a month back, paged after the last id, charges expanded
    listed = [r for r in api.requests if r["path"] in ("/v1/refunds", "/v1/disputes")]
    refunds = [r["query"] for r in listed if r["path"] == "/v1/refunds"]
    assert len(refunds) == 2 and "starting_after" not in refunds[0] and refunds[1]["starting_after"] == ["re_p020"]
    assert {q["expand[0]"][0] for q in refunds} == {"data.charge"}
    assert abs(int(refunds[0]["created[gte]"][0]) - (int(time.time()) - 30 * DAY)) < 120
    # AND the cursor is stored; a second scan applies nothing again
    assert stack.item("CURSOR", "stripe_payments")["value"]
    again = scan(stack)
    assert "refunded_unnoticed" not in again["counts"]
    assert stack.item("USER#u_ref", "PROFILE")["refunds"] == 1
