"""The drift scan functions against moto: the due index selects without a table scan, a store outage
fails the reconcile record for SQS to retry, and the Play client's voided list is caught up. What the
scan finds, repairs and reports is tested on the in-memory fakes in tests/unit/test_drift_scan.py."""

from __future__ import annotations

import json
import os
from datetime import datetime, timedelta, timezone

import pytest

from parity import bootstrap
from parity.domain.drift import DUE_SHARDS
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


def test_the_schedule_fans_out_one_invocation_per_shard_through_the_shard_queue(stack, clock, t0):
    # GIVEN the drift scan wired as on AWS: its shard queue known; twelve subscriptions due
    for n in range(12):
        subscribe(stack, f"sub_shard_{n}", t0 + 20 * DAY, user=f"u_shard_{n}", created=t0)
    clock.travel(days=8)
    os.environ["DRIFT_SHARD_QUEUE_URL"] = stack.resources.queue_url("DriftShardQueue")
    stack.reload()
    scan_fn, sqs = stack.function("drift_scan"), stack.session.client("sqs")

    # WHEN the schedule invokes the function
    started = scan_fn.lambda_handler({}, LambdaContext("parity-drift-scan"))

    # THEN it queued one message per shard and no check yet
    shard_url = os.environ["DRIFT_SHARD_QUEUE_URL"]
    shards = []
    while messages := sqs.receive_message(QueueUrl=shard_url, MaxNumberOfMessages=10).get("Messages", []):
        shards += messages
        sqs.delete_message_batch(QueueUrl=shard_url, Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(messages)])
    assert started["shards"] == DUE_SHARDS and sorted(json.loads(m["Body"])["shard"] for m in shards) == list(range(DUE_SHARDS))
    # AND each shard's invocation (one record each, as the event source mapping delivers them) queues its checks
    stack.counter.reset()
    for message in shards:
        scan_fn.lambda_handler(sqs_event([message], stack.resources.arns["DriftShardQueue"]), LambdaContext("parity-drift-scan"))
    ids, _ = queued_ids_only(stack)
    assert ids == sorted(f"stripe:sub_shard_{n}" for n in range(12))
    assert stack.counter.count("dynamodb", "Scan") == 0
    assert stack.item("REPORTS", started["reportId"])["counts"]["selected"] == 12


def queued_ids_only(stack) -> tuple[list[str], list[dict]]:
    """The purchase checks (and the other messages) on the reconcile queue, taken off it."""
    sqs, url, ids, others = stack.session.client("sqs"), stack.env["RECONCILE_QUEUE_URL"], [], []
    while messages := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", []):
        for message in messages:
            body = json.loads(message["Body"])
            (ids.append(body["purchaseId"]) if body["kind"] == "purchase" else others.append(body))
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    return sorted(ids), others


def test_a_batch_of_checks_the_store_agrees_with_writes_no_transaction(stack, api, clock, t0):
    # GIVEN ten subscriptions Stripe describes as Parity has them
    for n in range(10):
        sub = f"sub_same_{n}"
        api.subscriptions[sub] = stripe.subscription(sub, "active", t0 + 20 * DAY, user_id=f"u_same_{n}")
        subscribe(stack, sub, t0 + 20 * DAY, user=f"u_same_{n}", created=t0)
    clock.travel(days=8)
    stack.function("drift_scan").lambda_handler({}, LambdaContext("parity-drift-scan"))
    sqs, url = stack.session.client("sqs"), stack.env["RECONCILE_QUEUE_URL"]
    checks = []
    while messages := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", []):
        checks += [m for m in messages if json.loads(m["Body"])["kind"] == "purchase"]
        for message in messages:
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])

    # WHEN the worker checks them in one batch
    stack.counter.reset()
    answer = stack.function("reconcile").lambda_handler(sqs_event(checks, stack.resources.arns["ReconcileQueue"]), LambdaContext("parity-reconcile"))

    # THEN one BatchGetItem, one UpdateItem per check and the report's, and the report read that tells
    # whether the scan is complete: no transaction, nothing recorded
    assert answer["batchItemFailures"] == []
    assert stack.counter.snapshot()["dynamodb"] == {"BatchGetItem": 1, "GetItem": 1, "UpdateItem": 11}
    assert all(stack.item(f"PURCHASE#stripe:sub_same_{n}", "PURCHASE").get("checkedAt") for n in range(10))


# ------------------------------------------------------------------------------------ a store to ask


@pytest.fixture
def api(stack):
    with stripe_api_server() as state:
        os.environ["STRIPE_API_KEY"] = "sk_test_drift"
        os.environ["STRIPE_API_BASE"] = state.base_url
        stack.reload()
        yield state


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
