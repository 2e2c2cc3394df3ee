"""The drift scan against moto: the due index selects, the reconcile worker repairs each kind of drift
seeded in the table and in a fake store, and the report counts it."""

from __future__ import annotations

import json
import os
from datetime import datetime, timedelta, timezone

import pytest

from parity import bootstrap
from tests.integration.test_play_flow import notify
from tests.support import google as push
from tests.support import stripe
from tests.support.harness import TEST_CATALOG, running_stack
from tests.support.lambda_events import LambdaContext, sqs_event
from tests.support.play_api import PACKAGE, generate_key, play_api_server
from tests.support.stripe_api import stripe_api_server

DAY = stripe.DAY


@pytest.fixture
def clock(monkeypatch):
    """Every service's clock, movable: `clock.travel(days=2)`."""

    class Clock:
        offset = timedelta()

        def travel(self, **delta) -> None:
            self.offset += timedelta(**delta)

    moved = Clock()
    real = bootstrap.SystemClock.now
    monkeypatch.setattr(bootstrap.SystemClock, "now", lambda self: real(self) + moved.offset)
    return moved


def scan(stack) -> dict:
    """Run the drift scan function, then the reconcile worker over everything it queued."""
    started = stack.function("drift_scan").lambda_handler({}, LambdaContext("parity-drift-scan"))
    url = stack.env["RECONCILE_QUEUE_URL"]
    sqs = stack.session.client("sqs")
    while True:
        messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, AttributeNames=["All"]).get("Messages", [])
        if not messages:
            break
        answer = stack.function("reconcile").lambda_handler(sqs_event(messages, stack.resources.arns["ReconcileQueue"]), LambdaContext("parity-reconcile"))
        failed = {f["itemIdentifier"] for f in answer["batchItemFailures"]}
        for message in messages:
            if message["MessageId"] not in failed:
                sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
        assert not failed, answer
    return {**started, **report(stack, started["reportId"])}


def report(stack, report_id: str) -> dict:
    item = stack.item("REPORTS", report_id)
    return {"counts": item.get("counts", {}), "examples": item.get("examples", []), "status": item["status"]}


def queued_ids(stack) -> list[str]:
    started = stack.function("drift_scan").lambda_handler({}, LambdaContext("parity-drift-scan"))
    sqs = stack.session.client("sqs")
    ids = []
    while True:
        messages = sqs.receive_message(QueueUrl=stack.env["RECONCILE_QUEUE_URL"], MaxNumberOfMessages=10).get("Messages", [])
        if not messages:
            return sorted(ids), started
        for message in messages:
            body = json.loads(message["Body"])
            if body["kind"] == "purchase":
                ids.append(body["purchaseId"])
            sqs.delete_message(QueueUrl=stack.env["RECONCILE_QUEUE_URL"], ReceiptHandle=message["ReceiptHandle"])


def subscribe(stack, sub: str, end: int, user: str | None = "u_drift", created: int | None = None) -> None:
    stack.deliver(stripe.event("customer.subscription.created", stripe.subscription(sub, "active", end, user_id=user), created=created))
    assert not stack.drain().failed


# ------------------------------------------------------------------------------------------ selection


def test_the_scan_selects_only_what_is_due_through_the_index(stack, clock, t0):
    # GIVEN a subscription renewing in 20 days and one whose period ends tomorrow
    subscribe(stack, "sub_later", t0 + 20 * DAY, created=t0)
    subscribe(stack, "sub_soon", t0 + DAY, created=t0)

    # THEN tonight nothing is due; in two days the one whose period ended is; in eight, both are (recheck 7 days)
    assert queued_ids(stack)[0] == []
    clock.travel(days=2)
    ids, started = queued_ids(stack)
    assert ids == ["stripe:sub_soon"] and started["selected"] == 1
    clock.travel(days=6)
    assert queued_ids(stack)[0] == ["stripe:sub_later", "stripe:sub_soon"]
    stack.counter.reset()
    queued_ids(stack)
    assert stack.counter.count("dynamodb", "Scan") == 0  # an index, never a table scan


def test_a_checked_purchase_is_not_due_again_until_its_recheck(stack, clock, t0):
    subscribe(stack, "sub_checked", t0 + 30 * DAY, created=t0)
    clock.travel(days=8)
    assert scan(stack)["selected"] == 1
    assert scan(stack)["selected"] == 0
    clock.travel(days=8)
    assert scan(stack)["selected"] == 1


# --------------------------------------------------------------------------------- stale access (sweep)


def test_stale_access_without_store_credentials_is_swept_and_published(stack, clock, t0):
    # GIVEN access until tomorrow, and no Stripe API key: nothing to ask
    subscribe(stack, "sub_stale", t0 + DAY, user="u_stale", created=t0)
    stack.changes()

    # WHEN the period has passed without a webhook and the scan runs
    clock.travel(days=2)
    result = scan(stack)

    # THEN the ended access is written and published, and the report says so
    assert stack.read("u_stale").body["entitlements"]["pro"]["active"] is False
    assert [(c["userId"], c["old"]["active"], c["new"]["active"]) for c in stack.changes()] == [("u_stale", True, False)]
    assert result["counts"]["stale_access"] == 1 and result["counts"]["swept"] == 1 and result["counts"]["repaired"] == 1
    assert result["examples"][0]["subject"] == "stripe:sub_stale"
    # AND a second scan finds nothing more to publish
    clock.travel(days=8)
    again = scan(stack)
    assert "stale_access" not in again["counts"] and stack.changes() == []


# ------------------------------------------------------------------------------------ a store to ask


@pytest.fixture
def api(stack):
    with stripe_api_server() as state:
        os.environ["STRIPE_API_KEY"] = "sk_test_drift"
        os.environ["STRIPE_API_BASE"] = state.base_url
        stack.reload()
        yield state


def test_each_kind_of_drift_is_found_repaired_and_reported(stack, api, clock, t0):
    # GIVEN Parity's view of four subscriptions, and Stripe's truth, which moved on without webhooks
    end = t0 + DAY
    for sub, user in [("sub_canceled", "u_1"), ("sub_renewed", "u_2"), ("sub_gone", "u_3"), ("sub_orphan", None)]:
        api.subscriptions[sub] = stripe.subscription(sub, "active", end, user_id=user)
        subscribe(stack, sub, end, user=user, created=t0)
    api.subscriptions["sub_canceled"] = stripe.subscription("sub_canceled", "canceled", end, user_id="u_1")
    api.subscriptions["sub_renewed"] = stripe.subscription("sub_renewed", "active", end + 30 * DAY, user_id="u_2")
    del api.subscriptions["sub_gone"]
    api.subscriptions["sub_orphan"] = stripe.subscription("sub_orphan", "active", end + 30 * DAY, user_id=None)
    api.requests.clear()
    stack.changes()

    # WHEN the period ends and the scan runs
    clock.travel(days=2)
    result = scan(stack)

    # THEN each purchase was asked about once, and the report counts each kind
    assert sorted(r["path"] for r in api.requests) == [f"/v1/subscriptions/{s}" for s in ("sub_canceled", "sub_gone", "sub_orphan", "sub_renewed")]
    counts = result["counts"]
    assert (counts["checked"], counts["unknown"]) == (3, 1)
    assert (counts["state_differs"], counts["expiry_differs"], counts["unknown_at_store"], counts["owner_missing"]) == (1, 2, 1, 1)
    assert counts["repaired"] == 3
    # AND the repairs went through the processing path: state, entitlements, change events
    assert stack.read("u_2").body["entitlements"]["pro"]["active"] is True
    assert stack.read("u_1").body["entitlements"]["pro"]["state"] == "expired"
    published = {(c["userId"], c["new"]["active"]) for c in stack.changes()}
    assert ("u_2", True) in published and ("u_1", False) in published
    # AND what Stripe said is in the event log, next to the webhooks
    fetched = [i for i in stack.table_items() if i["PK"].startswith("EVENT#reconcile#")]
    assert {i["eventType"] for i in fetched} == {"stripe.subscription"}


def test_a_store_outage_fails_the_check_for_sqs_to_retry(stack, api, clock, t0):
    api.subscriptions["sub_down"] = stripe.subscription("sub_down", "active", t0 + DAY, user_id="u_down")
    subscribe(stack, "sub_down", t0 + DAY, user="u_down", created=t0)
    api.fail_with = 503
    clock.travel(days=2)

    with pytest.raises(AssertionError):
        scan(stack)  # the record failed: SQS will retry it, then dead-letter it
    assert stack.item("PURCHASE#stripe:sub_down", "PURCHASE").get("checkedAt") is None


# ------------------------------------------------------------------------- Google refunds never notified


@pytest.fixture
def play_stack(tmp_path):
    with push.certs_server() as certs, play_api_server(generate_key()) as play:
        env = {
            "GOOGLE_PACKAGE_NAME": PACKAGE,
            "GOOGLE_PUBSUB_AUDIENCE": push.AUDIENCE,
            "GOOGLE_PUBSUB_SERVICE_ACCOUNT": push.SERVICE_ACCOUNT,
            "GOOGLE_OIDC_CERTS_URL": certs.url,
            "GOOGLE_API_BASE": play.base_url,
            "GOOGLE_SERVICE_ACCOUNT_FILE": str(play.write_service_account(tmp_path / "service-account.json")),
        }
        catalog = {"products": {**TEST_CATALOG["products"], "pro_monthly": ["pro"]}}
        with running_stack(catalog=catalog, catalog_dir=tmp_path, env=env) as stack:
            yield stack, play


def test_a_refund_no_notification_reported_is_caught_up_from_the_voided_list(play_stack):
    stack, play = play_stack
    account = stack.read("u_voided").body["appAccountToken"]
    token = push.purchase_token()
    bought = play.add_subscription(
        token,
        externalAccountIdentifiers={"obfuscatedExternalAccountId": account},
        acknowledgementState="ACKNOWLEDGEMENT_STATE_ACKNOWLEDGED",
    )
    notify(stack, push.subscription_notification(token, 4))
    assert not stack.drain().failed
    assert stack.read("u_voided").body["entitlements"]["pro"]["active"] is True

    # WHEN Google refunded it and the voided notification was lost, then the scan runs
    now_ms = int(datetime.now(timezone.utc).timestamp() * 1000)
    play.add_voided(token, now_ms - 60_000, orderId=bought["latestOrderId"])
    result = scan(stack)

    # THEN the purchase is revoked, and the report counts a refund noticed late
    pro = stack.read("u_voided").body["entitlements"]["pro"]
    assert (pro["active"], pro["state"]) == (False, "revoked")
    assert result["counts"]["refunded_unnoticed"] == 1
    # AND the catch-up runs from where it stopped: the same void is not applied twice
    again = scan(stack)
    assert "refunded_unnoticed" not in again["counts"]
