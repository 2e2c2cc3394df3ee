"""Hostile input on the handlers, in-process against moto: 4xx with the error shape, nothing stored,
and no stored event that fails the processor forever."""

from __future__ import annotations

import json

import pytest

from parity.domain.errors import VersionConflictError
from tests.support import stripe
from tests.support.harness import running_stack

DEEP = "[" * 50_000 + "]" * 50_000


def assert_error(answer, status: int, code: str | None = None) -> None:
    assert answer.status == status, (answer.status, answer.body)
    assert set(answer.body) == {"error"} and set(answer.body["error"]) == {"code", "message"}
    if code:
        assert answer.body["error"]["code"] == code


@pytest.mark.parametrize(
    "change",
    [
        {"data": []},
        {"data": {"object": "sub_1"}},
        {"created": 10**20},
        {"id": "evt_" + "x" * 3000},
    ],
    ids=["data-not-object", "object-not-object", "created-overflow", "id-3kb"],
)
def test_a_signed_but_malformed_stripe_event_is_400_and_nothing_is_stored(stack, t0, change):
    # GIVEN a validly signed Stripe event that is not one
    event = {**stripe.event("customer.subscription.updated", stripe.subscription("sub_m", "active", t0 + 99), created=t0), **change}
    before = stack.table_items()

    # WHEN it is posted
    answer = stack.post_stripe(event)

    # THEN it is refused with the error shape, and nothing was stored or queued
    assert_error(answer, 400, "malformed_body")
    assert stack.table_items() == before
    assert stack.queue_depth() == 0


@pytest.mark.parametrize("body", [DEEP.encode(), b'{"id": ' + b"9" * 5000 + b"}"], ids=["deep", "5000-digits"])
def test_hostile_json_to_the_stripe_webhook_is_400(stack, body):
    # (the App Store and Play webhooks are fuzzed configured in tests/e2e/test_fuzz.py)
    assert_error(stack.post_stripe(body), 400, "malformed_body")


def test_a_stored_event_the_processor_cannot_use_is_recorded_as_rejected_not_retried(stack, t0):
    # GIVEN a signed event that passes the door but carries a period end no datetime can hold
    subscription = stripe.subscription("sub_far", "active", t0 + 99, user_id="u_far")
    subscription["current_period_end"] = 10**18
    for item in subscription.get("items", {}).get("data", []):
        item["current_period_end"] = 10**18
    event = stripe.event("customer.subscription.updated", subscription, created=t0)
    assert stack.post_stripe(event).status == 200

    # WHEN the queue is drained
    drained = stack.drain()

    # THEN the message succeeded (no poison message): the event is recorded as processed and rejected
    assert not drained.failed and len(drained.succeeded) == 1
    item = stack.event_item(event["id"])
    assert item["outcome"] == "rejected" and "processedAt" in item


def test_a_subscription_id_beyond_the_limits_names_no_purchase(stack, t0):
    # GIVEN a signed event whose subscription id is 5 KB (a key DynamoDB refuses)
    subscription = stripe.subscription("sub_" + "x" * 5000, "active", t0 + 99, user_id="u_" + "y" * 3000)
    event = stripe.event("customer.subscription.updated", subscription, created=t0)

    # WHEN it is posted and processed
    assert stack.post_stripe(event).status == 200
    drained = stack.drain()

    # THEN nothing fails: the event concerns no purchase it could name
    assert not drained.failed
    assert stack.event_item(event["id"])["outcome"] in ("ignored", "rejected")


@pytest.mark.parametrize("user_id", ["u" * 300, "has space", "nul\x00", "é"])
def test_user_ids_beyond_the_contract_are_400_invalid_user_id_on_app_and_admin_routes(stack, user_id):
    assert_error(stack.read(user_id), 400, "invalid_user_id")
    assert_error(stack.submit_receipt(user_id, {"store": "stripe", "checkoutSessionId": "cs_1"}), 400, "invalid_user_id")
    assert_error(stack.user_report(user_id), 400, "invalid_user_id")
    assert_error(stack.merge(user_id, "u_1"), 400, "invalid_user_id")
    assert_error(stack.merge("u_1", user_id), 400, "invalid_user_id")
    assert_error(stack.assign_owner("stripe:sub_1", user_id), 400, "invalid_user_id")


def test_a_2000_character_jwt_subject_is_400_not_a_dynamodb_error(stack):
    sub = "s" * 2000
    assert_error(stack.read(sub, sub=sub), 400)


def test_a_purchase_id_beyond_the_limits_is_400(stack):
    assert_error(stack.assign_owner("stripe:" + "x" * 3000, "u_1"), 400)


def test_hostile_json_on_the_receipts_and_admin_routes_is_400(stack):
    assert_error(stack.submit_receipt("u_1", DEEP.encode()), 400, "malformed_body")
    answer = stack.admin("PUT", "/v1/admin/purchases/{purchaseId}/owner", None, purchaseId="stripe:sub_1")
    assert answer.status in (400, 422)


def test_a_version_conflict_after_the_retries_is_a_retryable_503(stack, monkeypatch):
    # GIVEN every write keeps losing its optimistic lock
    def conflict(*args, **kwargs):
        raise VersionConflictError("concurrent write")

    receipts = stack.function("receipts")
    monkeypatch.setattr(receipts.receipts, "submit", conflict)
    admin = stack.function("admin")
    monkeypatch.setattr(admin.admin, "user_report", conflict)

    # WHEN a receipt is submitted, and an admin report asked for
    for answer in (stack.submit_receipt("u_1", {"store": "stripe", "checkoutSessionId": "cs_1"}), stack.user_report("u_1")):
        # THEN the answer is a 503 the client may retry, with the error shape
        assert_error(answer, 503, "conflict")
        assert answer.headers.get("retry-after") == "1"


def test_a_malformed_message_body_is_recorded_as_rejected(stack, t0):
    # GIVEN a stored event (signed, accepted) whose queued copy is not a usable Stripe event
    event = stripe.event("customer.subscription.updated", stripe.subscription("sub_q", "active", t0 + 99), created=t0)
    assert stack.post_stripe(event).status == 200
    stack.drain()
    stack.send_raw(json.dumps({"source": "stripe", "eventId": "evt_never", "body": DEEP}), "g", "d1")

    # WHEN it is processed, THEN it does not fail the batch
    drained = stack.drain()
    assert not drained.failed


def test_not_configured_answers_name_no_server_file(tmp_path):
    # GIVEN a stack with no App Store configuration (the verifier names the missing root file in its log)
    with running_stack(catalog_dir=tmp_path) as unconfigured:
        # WHEN App Store data arrives on the webhook and the receipts route
        answers = [
            unconfigured.post_apple(json.dumps({"signedPayload": "a.b.c"}).encode()),
            unconfigured.submit_receipt("u_1", {"store": "app_store", "signedTransaction": "a.b.c"}),
        ]

    # THEN both are 503 not_configured, and no message names a path on the server
    for answer in answers:
        assert_error(answer, 503, "not_configured")
        message = answer.body["error"]["message"]
        assert "/" not in message and ".cer" not in message, message


def test_a_fault_past_normalization_fails_the_record_for_a_retry_and_is_not_recorded_as_rejected(stack, t0, monkeypatch):
    # GIVEN a usable event, and a repository that fails the way a bug would (KeyError)
    event = stripe.event("customer.subscription.updated", stripe.subscription("sub_bug", "active", t0 + 99), created=t0)
    assert stack.post_stripe(event).status == 200
    repository = stack.processor.service._repo

    def broken(*args, **kwargs):
        raise KeyError("a bug, not the event's fault")

    monkeypatch.setattr(repository, "read_purchase", broken)
    monkeypatch.setattr(repository, "load_user", broken)

    # WHEN it is processed
    drained = stack.drain()

    # THEN the record fails (SQS retries it, then the DLQ keeps it for a redrive): nothing is dropped
    assert len(drained.failed) == 1
    assert stack.event_item(event["id"]).get("outcome") != "rejected"
