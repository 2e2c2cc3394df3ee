"""The Stripe webhook function: verify, store the raw event once, enqueue it in its purchase's group."""

from __future__ import annotations

import json
import time
import zlib

import pytest

from tests.support import stripe


def test_webhook_stores_the_raw_body_compressed_and_enqueues_it_once_in_the_subscription_group(stack, t0):
    # GIVEN a signed customer.subscription.created event
    event = stripe.event(
        "customer.subscription.created", stripe.subscription("sub_store", user_id="u_store"), created=t0
    )
    body = stripe.encode(event)

    # WHEN Stripe posts it to the function URL
    response = stack.post_stripe(body)

    # THEN it answers 200 and the event log holds the exact bytes, compressed, not yet processed, in an
    # item of their own that expires after the body retention (90 days by default)
    assert response.status == 200
    assert response.body == {"received": True, "eventId": event["id"], "duplicate": False}
    item = stack.event_item(event["id"])
    stored = stack.item(f"EVENT#stripe#{event['id']}", "BODY")
    assert zlib.decompress(stored["body"].value) == body
    assert len(stored["body"].value) < len(body)
    assert abs(int(stored["ttl"]) - (time.time() + 90 * 86400)) < 600
    assert "body" not in item
    assert item["eventType"] == "customer.subscription.created"
    assert item["GSI1PK"] == "EVENTS#stripe:sub_store"
    assert "processedAt" not in item
    # AND one message is queued, grouped by the subscription, deduplicated by the event id
    messages = stack.receive()
    assert len(messages) == 1
    assert messages[0]["Attributes"]["MessageGroupId"] == "sub_store"
    assert messages[0]["Attributes"]["MessageDeduplicationId"] == f"stripe:{event['id']}"
    assert json.loads(messages[0]["Body"]) == {"source": "stripe", "eventId": event["id"], "body": body.decode()}
    # AND the function made one DynamoDB write and one SQS send, nothing else
    assert stack.counter.snapshot() == {"dynamodb": {"TransactWriteItems": 1}, "sqs": {"SendMessage": 1}}


@pytest.mark.parametrize(
    ("event_type", "obj", "group"),
    [
        ("invoice.paid", stripe.invoice("in_g", "sub_g"), "sub_g"),
        ("invoice_payment.paid", stripe.invoice_payment("in_g", "pi_g", "ch_g"), "in_g"),
        ("charge.refunded", stripe.charge("ch_g", "pi_g"), "pi_g"),
        ("customer.updated", stripe.customer("cus_g"), "cus_g"),
    ],
)
def test_message_group_is_the_purchase_or_the_payment_the_event_concerns(stack, event_type, obj, group):
    stack.deliver(stripe.event(event_type, obj))

    [message] = stack.receive()

    assert message["Attributes"]["MessageGroupId"] == group


def test_a_base64_encoded_body_is_verified_over_the_decoded_bytes(stack):
    event = stripe.event("customer.subscription.created", stripe.subscription("sub_b64"))

    response = stack.post_stripe(event, base64_encoded=True)

    assert response.status == 200
    assert stack.queue_depth() == 1


def test_a_duplicate_delivery_of_a_processed_event_answers_200_and_sends_nothing(stack):
    # GIVEN an event that was delivered and processed
    event = stripe.event("customer.subscription.created", stripe.subscription("sub_dup", user_id="u_dup"))
    stack.deliver(event)
    assert not stack.drain().failed
    stack.counter.reset()

    # WHEN Stripe delivers it again
    response = stack.post_stripe(event)

    # THEN it is acknowledged as a duplicate, and nothing is sent or stored anew
    assert response.status == 200
    assert response.body == {"received": True, "eventId": event["id"], "duplicate": True}
    assert stack.counter.count("sqs", "SendMessage") == 0
    assert stack.counter.snapshot() == {"dynamodb": {"TransactWriteItems": 1}}  # the conditional put that found it
    assert stack.queue_depth() == 0
    assert stack.event_item(event["id"])["outcome"] == "applied"


def test_a_duplicate_of_a_stored_but_unprocessed_event_is_queued_again_and_deduplicated_by_sqs(stack):
    # GIVEN an event stored and queued but not processed yet
    event = stripe.event("customer.subscription.created", stripe.subscription("sub_dup2", user_id="u_dup2"))
    stack.deliver(event)

    # WHEN Stripe retries it before the processor ran
    response = stack.post_stripe(event)

    # THEN it is sent again (a crash between put and send must not lose it), and the FIFO dedup id keeps one copy
    assert response.body["duplicate"] is True
    assert stack.counter.count("sqs", "SendMessage") == 2
    drained = stack.drain()
    assert len(drained.succeeded) == 1 and not drained.failed
    assert stack.read("u_dup2").body["entitlements"]["pro"]["active"] is True


def _oversized() -> bytes:
    padding = "x" * (1024 * 1024)
    return stripe.encode(stripe.event("customer.subscription.created", stripe.subscription("sub_big", pad=padding)))


REJECTIONS = {
    "bad signature": (dict(secret="whsec_someone_else"), 400, "invalid_signature"),
    "stale timestamp": (dict(timestamp_offset=-305), 400, "stale_signature"),
    "future timestamp": (dict(timestamp_offset=+305), 400, "stale_signature"),
    "no signature": (dict(signature=""), 400, "missing_signature"),
    "garbled signature": (dict(signature="t=abc,v0=zzz"), 400, "invalid_signature"),
}


@pytest.mark.parametrize("case", list(REJECTIONS))
def test_an_unverifiable_request_is_refused_and_nothing_is_stored_or_queued(stack, case):
    kwargs, status, code = dict(REJECTIONS[case][0]), *REJECTIONS[case][1:]
    if "timestamp_offset" in kwargs:  # the 300 s tolerance, measured when the request is made
        kwargs["timestamp"] = int(time.time()) + kwargs.pop("timestamp_offset")
    event = stripe.event("customer.subscription.created", stripe.subscription("sub_rej"))

    response = stack.post_stripe(event, **kwargs)

    assert response.status == status
    assert response.body["error"]["code"] == code
    assert response.body["error"]["message"]
    assert stack.table_items() == []
    assert stack.queue_depth() == 0
    assert stack.counter.snapshot() == {}


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        (b"{this is not json", 400, "malformed_body"),
        (b"\xff\xfe not utf-8", 400, "malformed_body"),
        (b'{"id": "evt_x", "type": "charge.refunded"}', 400, "malformed_body"),
        (b"[]", 400, "malformed_body"),
    ],
    ids=["not json", "not utf-8", "not an event", "json array"],
)
def test_a_signed_but_malformed_body_is_refused_and_nothing_is_stored_or_queued(stack, body, status, code):
    response = stack.post_stripe(body, base64_encoded=True)

    assert (response.status, response.body["error"]["code"]) == (status, code)
    assert stack.table_items() == []
    assert stack.queue_depth() == 0


@pytest.mark.parametrize("base64_encoded", [False, True])
def test_a_body_over_1_mib_is_refused_with_413_and_nothing_is_stored_or_queued(stack, base64_encoded):
    body = _oversized()
    assert len(body) > 1024 * 1024

    response = stack.post_stripe(body, base64_encoded=base64_encoded)

    assert response.status == 413
    assert response.body["error"]["code"] == "payload_too_large"
    assert stack.table_items() == []
    assert stack.queue_depth() == 0
    assert stack.counter.snapshot() == {}


def test_a_body_of_exactly_1_mib_is_accepted_queued_without_its_body_and_processed_from_the_log(stack):
    # GIVEN an event of exactly 1 MiB (too large for an SQS message once wrapped)
    event = stripe.event("customer.subscription.created", stripe.subscription("sub_limit", user_id="u_limit", pad=""))
    body = stripe.encode(event)
    event["data"]["object"]["pad"] = "x" * (1024 * 1024 - len(body))
    body = stripe.encode(event)
    assert len(body) == 1024 * 1024

    # WHEN it is posted and the queue drained
    assert stack.post_stripe(body).status == 200
    [message] = stack.receive()
    assert json.loads(message["Body"]) == {"source": "stripe", "eventId": event["id"]}
    stack.redeliver_failed()
    assert not stack.process([message]).get("batchItemFailures")

    # THEN the processor read the body from the event log and applied it
    assert stack.read("u_limit").body["entitlements"]["pro"]["active"] is True


def test_other_methods_than_post_are_refused(stack):
    response = stack.post_stripe(stripe.event("customer.subscription.created", stripe.subscription()), method="GET")

    assert response.status == 405
    assert stack.table_items() == []


def test_a_signature_within_the_tolerance_is_accepted(stack):
    event = stripe.event("customer.subscription.created", stripe.subscription("sub_tol"))

    assert stack.post_stripe(event, timestamp=int(time.time()) - 290).status == 200


def test_any_v1_signature_may_match_during_secret_rotation(stack):
    event = stripe.event("customer.subscription.created", stripe.subscription("sub_rot"))
    body = stripe.encode(event)
    old = stripe.sign(body, "whsec_old").split(",")[1]

    response = stack.post_stripe(body, signature=f"{stripe.sign(body)},{old}")

    assert response.status == 200


def test_without_a_webhook_secret_the_webhook_answers_503_so_that_stripe_retries(stack, monkeypatch):
    monkeypatch.delenv("STRIPE_WEBHOOK_SECRET")
    stack.reload()

    response = stack.post_stripe(stripe.event("customer.subscription.created", stripe.subscription("sub_nocfg")))

    assert response.status == 503
    assert response.body["error"]["code"] == "not_configured"
    assert stack.table_items() == [] and stack.queue_depth() == 0


def test_on_aws_the_webhook_secret_is_read_from_secrets_manager(stack, monkeypatch):
    # GIVEN the template's layout: no secret in the environment, SECRETS_ID names a JSON secret
    secrets = stack.session.client("secretsmanager")
    arn = secrets.create_secret(
        Name=f"parity-test-secrets-{id(stack)}",
        SecretString=json.dumps({"STRIPE_WEBHOOK_SECRET": stripe.SECRET, "STRIPE_API_KEY": ""}),
    )["ARN"]
    monkeypatch.delenv("STRIPE_WEBHOOK_SECRET")
    monkeypatch.setenv("SECRETS_ID", arn)
    stack.reload()

    # WHEN signed events arrive
    first = stack.post_stripe(stripe.event("customer.subscription.created", stripe.subscription("sub_sm1")))
    forged = stack.post_stripe(
        stripe.event("customer.subscription.created", stripe.subscription("sub_sm2")), secret="whsec_x"
    )

    # THEN they are verified with the stored secret
    assert (first.status, forged.status) == (200, 400)
    assert stack.queue_depth() == 1
