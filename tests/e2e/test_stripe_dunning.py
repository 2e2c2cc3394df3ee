"""Stripe dunning, pauses and the refunds and disputes catch-up on the local stack, over HTTP: a stack of
its own with a three-second STRIPE_GRACE_SECONDS, a Stripe API key and the Stripe API imitation as
STRIPE_API_BASE (every event is re-read from it, and `parity scan` lists its refunds and disputes)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import pytest

from tests.e2e.conftest import Parity, local_stack, stripe_event, wait_until
from tests.e2e.test_cli_dlq import parity_cli
from tests.support import stripe as s
from tests.support.stripe import DAY
from tests.support.stripe_api import StripeApiState, stripe_api_server

pytestmark = pytest.mark.e2e

GRACE = 3  # seconds


@pytest.fixture(scope="module")
def stripe_api() -> Iterator[StripeApiState]:
    with stripe_api_server() as state:
        yield state


@pytest.fixture(scope="module")
def parity(tmp_path_factory, idp, stripe_api) -> Iterator[Parity]:
    workdir = tmp_path_factory.mktemp("stripe-dunning-stack")
    connection = workdir / "connection" / "local.json"
    with local_stack(
        workdir,
        idp,
        PARITY_LOCAL_FILE=str(connection),
        STRIPE_GRACE_SECONDS=str(GRACE),
        STRIPE_API_KEY="sk_test_parity_dunning",
        STRIPE_API_BASE=stripe_api.base_url,
    ) as stack:
        stack.connection = connection
        yield stack


def rfc3339(epoch: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))


def pro(parity: Parity, user: str) -> dict:
    return parity.read(user)["entitlements"].get("pro") or {}


def test_a_failed_renewal_keeps_access_for_the_grace_then_billing_retry_and_a_payment_restores_it(parity, stripe_api, ids):
    now = int(time.time())
    start, end = now - 1, now - 1 + 30 * DAY  # the unpaid period began a second ago
    # GIVEN a subscriber whose renewal payment failed: Stripe says past_due
    stripe_api.subscriptions[ids.sub] = s.subscription(ids.sub, "past_due", end, customer=ids.customer, user_id=ids.user)
    parity.deliver(stripe_event("invoice.payment_failed", s.invoice(ids.invoice, ids.sub, end, customer=ids.customer), now))
    parity.deliver(stripe_event("customer.subscription.updated", stripe_api.subscriptions[ids.sub], now))
    # THEN access is kept, in grace until the unpaid period's start + STRIPE_GRACE_SECONDS
    grace = pro(parity, ids.user)
    assert (grace["active"], grace["state"], grace["expiresAt"], grace["gracePeriodExpiresAt"]) == (
        True, "grace_period", rfc3339(start), rfc3339(start + GRACE),
    )
    # WHEN the grace end passes with no event: billing_retry, no access, in the answer and its purchases
    wait_until(lambda: pro(parity, ids.user)["state"] == "billing_retry", timeout=GRACE + 5)
    body = parity.read(ids.user)
    assert body["entitlements"]["pro"]["active"] is False and body["purchases"][0]["state"] == "billing_retry"
    # WHEN the customer pays
    stripe_api.subscriptions[ids.sub] = s.subscription(ids.sub, "active", end, customer=ids.customer, user_id=ids.user)
    parity.deliver(stripe_event("invoice.payment_succeeded", s.paid_invoice(ids.invoice, ids.sub, end), int(time.time())))
    # THEN access is back until the period's end
    back = pro(parity, ids.user)
    assert (back["active"], back["state"], back["expiresAt"], back["gracePeriodExpiresAt"]) == (True, "active", rfc3339(end), None)


def test_a_paused_collection_ends_access_with_the_paid_period_and_resuming_restores_it(parity, stripe_api, ids):
    now = int(time.time())
    end = now + 3  # the paid period ends in three seconds
    paused = s.subscription(ids.sub, "active", end, customer=ids.customer, user_id=ids.user, pause_collection={"behavior": "void"})
    stripe_api.subscriptions[ids.sub] = paused
    parity.deliver(stripe_event("customer.subscription.updated", paused, now))
    first = pro(parity, ids.user)
    assert (first["active"], first["state"], first["willRenew"]) == (True, "active", False)
    assert parity.read(ids.user)["cacheUntil"] == rfc3339(end)
    wait_until(lambda: pro(parity, ids.user)["state"] == "paused", timeout=10)
    assert pro(parity, ids.user)["active"] is False
    # resumed from the portal: pause_collection null, a new period paid
    resumed = s.subscription(ids.sub, "active", end + 30 * DAY, customer=ids.customer, user_id=ids.user)
    stripe_api.subscriptions[ids.sub] = resumed
    parity.deliver(stripe_event("customer.subscription.resumed", resumed, int(time.time())))
    back = pro(parity, ids.user)
    assert (back["active"], back["state"], back["willRenew"]) == (True, "active", True)


def test_stripe_status_paused_reads_paused(parity, stripe_api, ids):
    now = int(time.time())
    stripe_api.subscriptions[ids.sub] = s.subscription(ids.sub, "paused", now - 60, customer=ids.customer, user_id=ids.user)
    parity.deliver(stripe_event("customer.subscription.paused", stripe_api.subscriptions[ids.sub], now))
    assert (pro(parity, ids.user)["active"], pro(parity, ids.user)["state"]) == (False, "paused")


def test_a_portal_plan_switch_moves_the_purchase_to_the_new_price_without_a_gap(parity, stripe_api, ids):
    now, end = int(time.time()), int(time.time()) + 30 * DAY
    monthly = s.subscription(ids.sub, "active", end, customer=ids.customer, user_id=ids.user)
    stripe_api.subscriptions[ids.sub] = monthly
    parity.deliver(stripe_event("customer.subscription.created", monthly, now))
    yearly = s.subscription(ids.sub, "active", now + 365 * DAY, customer=ids.customer, user_id=ids.user, price="price_pro_yearly")
    stripe_api.subscriptions[ids.sub] = yearly
    parity.deliver(stripe_event("customer.subscription.updated", yearly, now + 1))
    body = parity.read(ids.user)
    assert [(p["purchaseId"], p["productId"]) for p in body["purchases"]] == [(f"stripe:{ids.sub}", "price_pro_yearly")]
    assert (body["entitlements"]["pro"]["active"], body["entitlements"]["pro"]["expiresAt"]) == (True, rfc3339(now + 365 * DAY))
    assert all(change["new"]["active"] for change in parity.changes(ids.user))


def test_parity_scan_catches_up_a_refund_whose_webhook_was_lost(parity, stripe_api, ids):
    now, end = int(time.time()), int(time.time()) + 30 * DAY
    # GIVEN a subscriber whose payment is linked, and a full refund Stripe lists but never delivered
    stripe_api.subscriptions[ids.sub] = s.subscription(ids.sub, "active", end, customer=ids.customer, user_id=ids.user)
    parity.deliver(stripe_event("customer.subscription.created", stripe_api.subscriptions[ids.sub], now))
    parity.deliver(stripe_event("invoice.paid", s.paid_invoice(ids.invoice, ids.sub, end), now))
    parity.deliver(stripe_event("invoice_payment.paid", s.invoice_payment(ids.invoice, ids.payment_intent), now))
    assert pro(parity, ids.user)["active"] is True
    stripe_api.refunds.append(s.refund(f"re_{ids.sub}", s.charge(ids.charge, ids.payment_intent, customer=ids.customer), created=now))

    # WHEN an operator runs the drift scan
    report = json.loads(parity_cli(parity, "scan", "--wait", "--timeout", "30", "--json").stdout)

    # THEN access is revoked, and the report says a refund went unnoticed
    assert report["counts"]["refunded_unnoticed"] == 1
    assert (pro(parity, ids.user)["active"], pro(parity, ids.user)["state"]) == (False, "revoked")
    # AND the refund webhook arriving late changes nothing more
    parity.deliver(stripe_event("charge.refunded", s.charge(ids.charge, ids.payment_intent, customer=ids.customer), now + 5))
    revoked = [c for c in parity.changes(ids.user) if c["new"] and c["new"]["state"] == "revoked"]
    assert len(revoked) == 1
    assert parity.admin_report(ids.user)["flags"]["refundAbuse"]["refunds"] == 1
