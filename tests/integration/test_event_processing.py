"""The event processor: SQS FIFO batches of stored Stripe events into purchases, entitlements and change events.

Convergence in any delivery order, refunds and disputes are tested on the in-memory fakes in
tests/unit/test_stripe_processing.py."""

from __future__ import annotations

import json

import pytest

from tests.support import stripe
from tests.support.lambda_events import LambdaContext, sqs_event

DAY = stripe.DAY


def rfc3339(epoch: int) -> str:
    import time

    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))


def without_request_times(body: dict) -> dict:
    return {k: v for k, v in body.items() if k not in ("requestDate", "cacheUntil")}


# ------------------------------------------------------------------------------------------------ lifecycle


def test_a_subscription_lifecycle_flows_from_webhook_through_processor_to_the_entitlements_read(stack, t0):
    user, sub = "u_life", "sub_life"
    end = t0 + 30 * DAY
    # GIVEN the checkout, the subscription and its first invoice
    stack.deliver(
        stripe.event(
            "checkout.session.completed", stripe.checkout_session(user_id=user, subscription_id=sub), created=t0
        ),
        stripe.event(
            "customer.subscription.created", stripe.subscription(sub, "incomplete", end, user_id=user), created=t0
        ),
        stripe.event(
            "customer.subscription.updated", stripe.subscription(sub, "active", end, user_id=user), created=t0 + 1
        ),
        stripe.event("invoice.paid", stripe.paid_invoice("in_life", sub, end), created=t0 + 1),
    )

    # WHEN the queue is drained
    drained = stack.drain()

    # THEN every event is processed and the user has "pro" from the subscription
    assert not drained.failed and len(drained.succeeded) == 4
    read = stack.read(user)
    assert read.status == 200
    body = read.body
    assert body["userId"] == user
    assert body["entitlements"] == {
        "pro": {
            "active": True,
            "state": "active",
            "expiresAt": rfc3339(end),
            "gracePeriodExpiresAt": None,
            "willRenew": True,
            "store": "stripe",
            "productId": "price_pro_monthly",
            "purchaseId": f"stripe:{sub}",
            "environment": "sandbox",  # Stripe test mode (livemode: false)
        }
    }
    assert body["purchases"] == [
        {
            "purchaseId": f"stripe:{sub}",
            "store": "stripe",
            "productId": "price_pro_monthly",
            "state": "active",
            "expiresAt": rfc3339(end),
            "entitlements": ["pro"],
            "ownership": "owner",
            "environment": "sandbox",
            "app": None,
        }
    ]
    # AND every stored event is marked processed
    assert {stack.event_item(json.loads(b)["eventId"])["outcome"] for b in drained.bodies.values()} <= {
        "applied",
        "stale",
    }

    # WHEN the user cancels at the period end, and later the subscription ends
    stack.deliver(
        stripe.event(
            "customer.subscription.updated",
            stripe.subscription(sub, "active", end, user_id=user, cancel_at_period_end=True),
            created=t0 + 2,
        )
    )
    assert not stack.drain().failed
    assert stack.read(user).body["entitlements"]["pro"]["willRenew"] is False
    assert stack.read(user).body["entitlements"]["pro"]["active"] is True
    stack.deliver(
        stripe.event(
            "customer.subscription.deleted",
            stripe.subscription(sub, "canceled", end, user_id=user, ended_at=t0 + 3),
            created=t0 + 3,
        )
    )
    assert not stack.drain().failed

    # THEN the entitlement is still listed, inactive and expired
    pro = stack.read(user).body["entitlements"]["pro"]
    assert (pro["active"], pro["state"], pro["expiresAt"], pro["willRenew"]) == (
        False,
        "expired",
        rfc3339(t0 + 3),
        False,
    )


def test_the_processor_reads_only_records_it_was_given_and_deletes_nothing_itself(stack, t0):
    stack.deliver(
        stripe.event("customer.subscription.created", stripe.subscription("sub_nodel", user_id="u_nd"), created=t0)
    )
    messages = stack.receive()

    answer = stack.processor.lambda_handler(sqs_event(messages, stack.queue_arn), LambdaContext())

    assert answer == {"batchItemFailures": []}
    assert stack.counter.count("sqs") == 1  # the webhook's send; the event source mapping deletes


# ------------------------------------------------------------------------------------------------ redelivery


def _redelivery_scenarios(t0: int):
    sub, user, end = "sub_again", "u_again", t0 + 30 * DAY
    created = stripe.event(
        "customer.subscription.created", stripe.subscription(sub, "active", end, user_id=user), created=t0
    )
    return {
        "subscription.created": ([], created),
        "invoice.paid": ([created], stripe.event("invoice.paid", stripe.paid_invoice("in_again", sub, end), created=t0 + 1)),
        "invoice_payment.paid": (
            [created, stripe.event("invoice.paid", stripe.paid_invoice("in_again", sub, end), created=t0 + 1)],
            stripe.event(
                "invoice_payment.paid", stripe.invoice_payment("in_again", "pi_again", "ch_again"), created=t0 + 2
            ),
        ),
        "charge.refunded": (
            [
                created,
                stripe.event("invoice.paid", stripe.paid_invoice("in_again", sub, end), created=t0 + 1),
                stripe.event(
                    "invoice_payment.paid", stripe.invoice_payment("in_again", "pi_again", "ch_again"), created=t0 + 2
                ),
            ],
            stripe.event("charge.refunded", stripe.charge("ch_again", "pi_again"), created=t0 + 3),
        ),
        "customer.updated": (
            [created],
            stripe.event("customer.updated", stripe.customer("cus_1", user_id=user), created=t0 + 1),
        ),
    }


@pytest.mark.parametrize(
    "case", ["subscription.created", "invoice.paid", "invoice_payment.paid", "charge.refunded", "customer.updated"]
)
def test_an_sqs_redelivery_of_a_processed_message_changes_nothing_and_publishes_nothing(stack, t0, case):
    before, event = _redelivery_scenarios(t0)[case]
    stack.deliver(*before)
    assert not stack.drain().failed
    stack.changes()

    # GIVEN the message was processed, but SQS delivers it again (the delete was lost, the timeout ran out)
    stack.deliver(event)
    [message] = stack.receive()
    first = stack.processor.lambda_handler(sqs_event([message], stack.queue_arn), LambdaContext())
    assert first == {"batchItemFailures": []}
    state_after_first = sorted(stack.table_items(), key=lambda i: (i["PK"], i["SK"]))
    published_first = stack.changes()
    stack._failed_handles[message["MessageId"]] = message["ReceiptHandle"]
    stack.redeliver_failed()

    # WHEN the same message is processed a second time
    drained = stack.drain()

    # THEN it succeeds (it is not retried forever) and nothing in the table changes: applied once
    assert drained.failed == [] and drained.succeeded == [message["MessageId"]]
    assert sorted(stack.table_items(), key=lambda i: (i["PK"], i["SK"])) == state_after_first
    # AND what it publishes again, if anything, is what the first run recorded (same changeIds: consumers dedupe)
    republished = stack.changes()
    assert all(change in published_first for change in republished)
    if case == "charge.refunded":
        assert [c["new"]["state"] for c in published_first] == ["revoked"]


@pytest.mark.parametrize("case", ["subscription.created", "invoice.paid"])
def test_changes_committed_but_not_published_go_out_when_the_message_is_retried(stack, t0, case, monkeypatch):
    sub, user, end = "sub_pub", "u_pub", t0 + 30 * DAY
    created = stripe.event(
        "customer.subscription.created", stripe.subscription(sub, "active", end, user_id=user), created=t0
    )
    if case == "subscription.created":
        before, event = [], created
    else:  # a renewal that extends the period: a change to publish
        before, event = (
            [created],
            stripe.event("invoice.paid", stripe.paid_invoice("in_pub", sub, end + 30 * DAY), created=t0 + 1),
        )
    stack.deliver(*before)
    assert not stack.drain().failed
    stack.changes()

    # GIVEN the processor commits the event but EventBridge fails before anything is published
    publisher = stack.processor.service._updates._publisher
    real_publish = publisher.publish
    attempts = []

    def failing_once(details):
        attempts.append(list(details))
        if len(attempts) == 1:
            raise RuntimeError("EventBridge is unavailable")
        return real_publish(details)

    monkeypatch.setattr(publisher, "publish", failing_once)
    stack.deliver(event)
    first = stack.drain()
    assert len(first.failed) == 1
    assert stack.event_item(event["id"])["outcome"] == "applied"
    assert stack.changes() == []

    # WHEN SQS delivers the message again
    stack.redeliver_failed()
    second = stack.drain()

    # THEN the recorded changes are published (once), and the state is not applied twice
    assert second.failed == []
    [change] = stack.changes()
    assert change["cause"] == f"stripe:{event['id']}"
    assert change == attempts[0][0]
    assert stack.read(user).body["entitlements"]["pro"]["active"] is True


# ------------------------------------------------------------------------------------------------ refunds


def _paid_subscription(stack, t0, sub="sub_ref", user="u_ref", invoice="in_ref"):
    end = t0 + 30 * DAY
    stack.deliver(
        stripe.event(
            "customer.subscription.created", stripe.subscription(sub, "active", end, user_id=user), created=t0
        ),
        stripe.event("invoice.paid", stripe.paid_invoice(invoice, sub, end), created=t0 + 1),
    )
    assert not stack.drain().failed
    assert stack.read(user).body["entitlements"]["pro"]["active"] is True
    stack.changes()
    return end


def test_a_refund_before_its_purchase_is_known_fails_until_the_link_exists_then_succeeds(stack, t0):
    end = _paid_subscription(stack, t0)

    # GIVEN the refund arrives before the invoice_payment.paid that links its payment to the invoice
    refund = stripe.event("charge.refunded", stripe.charge("ch_ref", "pi_ref"), created=t0 + 100)
    stack.deliver(refund)

    # WHEN it is processed: it fails (every record of that invocation failed)
    first = stack.drain()
    assert len(first.failed) == 1 and first.succeeded == []
    assert stack.read("u_ref").body["entitlements"]["pro"]["active"] is True
    assert "processedAt" not in stack.event_item(refund["id"])

    # WHEN it is retried in a batch with the link, still ahead of it: only the refund is reported failed
    stack.redeliver_failed()
    link = stripe.event("invoice_payment.paid", stripe.invoice_payment("in_ref", "pi_ref", "ch_ref"), created=t0 + 2)
    stack.deliver(link)
    second = stack.drain()
    assert second.failed == first.failed
    [batch] = second.batches
    assert batch == {"batchItemFailures": [{"itemIdentifier": first.failed[0]}]}
    assert stack.event_item(link["id"])["outcome"] == "applied"

    # WHEN it is delivered again, after the link exists: it succeeds and revokes
    stack.redeliver_failed()
    third = stack.drain()
    assert third.succeeded == first.failed and third.failed == []
    pro = stack.read("u_ref").body["entitlements"]["pro"]
    assert (pro["active"], pro["state"], pro["expiresAt"]) == (False, "revoked", rfc3339(end))
    assert stack.event_item(refund["id"])["outcome"] == "applied"


def test_a_refund_of_a_payment_never_linked_is_recorded_unresolved_on_its_last_attempt(stack, t0, monkeypatch):
    monkeypatch.setenv("UNRESOLVED_AFTER_RECEIVES", "2")
    stack.reload()
    refund = stripe.event("charge.refunded", stripe.charge("ch_unknown", "pi_unknown"), created=t0)
    stack.deliver(refund)

    assert len(stack.drain().failed) == 1
    stack.redeliver_failed()
    last = stack.drain()

    assert last.failed == [] and len(last.succeeded) == 1
    assert stack.event_item(refund["id"])["outcome"] == "unresolved"
    assert "processedAt" not in stack.event_item(refund["id"])  # parked: still processable
    assert stack.queue_depth() == 0


def test_a_refund_parked_unresolved_applies_once_the_drift_scan_sends_it_back_after_its_link(stack, t0, monkeypatch):
    # GIVEN a refund whose link (invoice_payment.paid) was held up (a store outage, a dead letter) so long
    # that the refund was parked unresolved
    monkeypatch.setenv("UNRESOLVED_AFTER_RECEIVES", "2")
    stack.reload()
    end = _paid_subscription(stack, t0)
    refund = stripe.event("charge.refunded", stripe.charge("ch_ref", "pi_ref"), created=t0 + 100)
    stack.deliver(refund)
    stack.drain()
    stack.redeliver_failed()
    stack.drain()
    assert stack.event_item(refund["id"])["outcome"] == "unresolved"

    # WHEN the link is applied at last, and the nightly drift scan runs
    stack.deliver(stripe.event("invoice_payment.paid", stripe.invoice_payment("in_ref", "pi_ref", "ch_ref"), created=t0 + 2))
    assert not stack.drain().failed
    started = stack.function("drift_scan").lambda_handler({}, LambdaContext("parity-drift-scan"))

    # THEN the scan sent the parked refund back, and it revokes
    assert started["unresolvedRequeued"] == 1
    assert not stack.drain().failed
    pro = stack.read("u_ref").body["entitlements"]["pro"]
    assert (pro["active"], pro["state"], pro["expiresAt"]) == (False, "revoked", rfc3339(end))
    item = stack.event_item(refund["id"])
    assert (item["outcome"], "processedAt" in item) == ("applied", True)
    # AND a later scan finds nothing parked
    assert stack.function("drift_scan").lambda_handler({}, LambdaContext("parity-drift-scan"))["unresolvedRequeued"] == 0


# ------------------------------------------------------------------------------------------------ poison


def test_a_poison_message_is_reported_failed_without_failing_the_rest_of_the_batch(stack, t0):
    # GIVEN a batch with an unparsable message, a message from an unknown source, and a good event
    poison = stack.send_raw("{this is not json", group="poison", dedup_id="poison-1")
    stranger = stack.send_raw(
        json.dumps({"source": "nowhere", "eventId": "x", "body": "{}"}), group="stranger", dedup_id="x"
    )
    good = stripe.event("customer.subscription.created", stripe.subscription("sub_pz", user_id="u_pz"), created=t0)
    stack.deliver(good)

    # WHEN the processor gets the batch
    drained = stack.drain()

    # THEN exactly the two bad messages are reported, the good one is applied and deleted
    [batch] = drained.batches
    assert sorted(i["itemIdentifier"] for i in batch["batchItemFailures"]) == sorted([poison, stranger])
    assert len(drained.succeeded) == 1
    assert stack.read("u_pz").body["entitlements"]["pro"]["active"] is True
    # AND the poison keeps failing on every redelivery (SQS moves it to the DLQ after maxReceiveCount)
    stack.redeliver_failed()
    assert sorted(stack.drain().failed) == sorted([poison, stranger])


def test_a_failure_holds_back_the_rest_of_its_group_only(stack, t0):
    # GIVEN a poison message ahead of a good event in the same group, and a good event in another group
    poison = stack.send_raw("not json", group="sub_held", dedup_id="poison-held")
    held = stripe.event("customer.subscription.created", stripe.subscription("sub_held", user_id="u_held"), created=t0)
    other = stripe.event("customer.subscription.created", stripe.subscription("sub_free", user_id="u_free"), created=t0)
    stack.deliver(held, other)

    drained = stack.drain()

    # THEN the group's later message is not processed out of order; the other group goes on
    assert poison in drained.failed and len(drained.failed) == 2
    assert stack.read("u_held").body["entitlements"] == {}
    assert stack.read("u_free").body["entitlements"]["pro"]["active"] is True


# ------------------------------------------------------------------------------------------------ change events


def test_change_events_carry_old_and_new_state_on_activation_revocation_and_expiry(stack, t0):
    user, sub, end = "u_chg", "sub_chg", t0 + 30 * DAY

    # activation
    activation = stripe.event(
        "customer.subscription.created", stripe.subscription(sub, "active", end, user_id=user), created=t0
    )
    stack.deliver(activation)
    assert not stack.drain().failed
    [activated] = stack.changes()
    assert activated["userId"] == user and activated["entitlement"] == "pro"
    assert activated["cause"] == f"stripe:{activation['id']}"
    assert activated["changeId"] == f"stripe:{activation['id']}:{user}:pro"
    assert activated["old"] is None
    assert activated["new"] == {
        "active": True,
        "state": "active",
        "expiresAt": rfc3339(end),
        "gracePeriodExpiresAt": None,
        "willRenew": True,
        "store": "stripe",
        "productId": "price_pro_monthly",
        "purchaseId": f"stripe:{sub}",
        "environment": "sandbox",
    }
    assert activated["environment"] == "sandbox"

    # revocation (a dispute of the current period's payment)
    stack.deliver(
        stripe.event("invoice.paid", stripe.paid_invoice("in_chg", sub, end), created=t0 + 1),
        stripe.event("invoice_payment.paid", stripe.invoice_payment("in_chg", "pi_chg", "ch_chg"), created=t0 + 2),
    )
    assert not stack.drain().failed
    assert stack.changes() == []  # paying the period already granted changes nothing visible
    stack.deliver(stripe.event("charge.dispute.created", stripe.dispute("dp_chg", "ch_chg", "pi_chg"), created=t0 + 3))
    assert not stack.drain().failed
    [revoked] = stack.changes()
    assert revoked["old"] == activated["new"]
    assert (revoked["new"]["active"], revoked["new"]["state"]) == (False, "revoked")

    # the dispute is won, then the subscription ends: expiry
    stack.deliver(
        stripe.event("charge.dispute.closed", stripe.dispute("dp_chg", "ch_chg", "pi_chg", "won"), created=t0 + 4)
    )
    assert not stack.drain().failed
    [restored] = stack.changes()
    assert restored["new"] == activated["new"]
    stack.deliver(
        stripe.event(
            "customer.subscription.deleted",
            stripe.subscription(sub, "canceled", end, user_id=user, ended_at=t0 + 5),
            created=t0 + 5,
        )
    )
    assert not stack.drain().failed
    [expired] = stack.changes()
    assert expired["old"] == activated["new"]
    assert expired["new"] == {
        **activated["new"],
        "active": False,
        "state": "expired",
        "expiresAt": rfc3339(t0 + 5),
        "willRenew": False,
    }


def test_events_that_change_no_entitlement_publish_nothing(stack, t0):
    user, sub, end = "u_quiet", "sub_quiet", t0 + 30 * DAY
    stack.deliver(
        stripe.event("customer.subscription.created", stripe.subscription(sub, "active", end, user_id=user), created=t0)
    )
    assert not stack.drain().failed
    stack.changes()

    stack.deliver(
        stripe.event(
            "customer.subscription.created", stripe.subscription(sub, "active", end, user_id=user), created=t0 - 10
        ),
        stripe.event("customer.updated", stripe.customer("cus_quiet", user_id=user), created=t0 + 1),
        stripe.event("payment_intent.created", {"id": "pi_x", "object": "payment_intent"}, created=t0 + 2),
    )
    drained = stack.drain()

    assert not drained.failed
    assert stack.changes() == []
    outcomes = {stack.event_item(json.loads(b)["eventId"])["outcome"] for b in drained.bodies.values()}
    assert outcomes == {"stale", "customer_linked", "ignored"}


def test_a_one_time_purchase_grants_lifetime_access_until_its_payment_is_refunded(stack, t0):
    # GIVEN a one-time checkout (payment mode) naming its price in metadata
    session = stripe.checkout_session(
        user_id="u_once",
        mode="payment",
        subscription_id=None,
        payment_intent="pi_once",
        metadata={"price_id": "price_lifetime"},
    )
    stack.deliver(stripe.event("checkout.session.completed", session, created=t0))
    assert not stack.drain().failed

    body = stack.read("u_once").body
    assert {k: (v["active"], v["expiresAt"], v["purchaseId"]) for k, v in body["entitlements"].items()} == {
        "lifetime": (True, None, "stripe:pi_once"),
        "pro": (True, None, "stripe:pi_once"),
    }
    assert body["cacheUntil"] > body["requestDate"]

    # WHEN its charge is fully refunded
    stack.deliver(stripe.event("charge.refunded", stripe.charge("ch_once", "pi_once"), created=t0 + 100))
    assert not stack.drain().failed

    # THEN both entitlements are revoked
    body = stack.read("u_once").body
    assert {k: (v["active"], v["state"]) for k, v in body["entitlements"].items()} == {
        "lifetime": (False, "revoked"),
        "pro": (False, "revoked"),
    }
