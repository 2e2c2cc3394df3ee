"""The contract's input limits (CONTRACT.md, "Input limits"): malformed input is a 4xx, never a 5xx.

Each case here answered 500 before: deep JSON (RecursionError), a 5,000-digit number (ValueError),
nested JWS and JWT headers, signed Stripe events whose `data` is not an object, timestamps a datetime
cannot hold, ids longer than DynamoDB keys, user ids that are not ids.
"""

from __future__ import annotations

import base64
import json

import pytest

from parity.adapters.sqs import fifo_id
from parity.bodies import parse_receipt
from parity.domain import limits
from parity.domain.errors import ParityError
from parity.domain.timeutil import from_epoch, from_epoch_ms
from parity.http import check_user_id, path_parameter, require_own_user, status_of, user_id_parameter
from parity.webhooks import RejectedWebhook
from parity.webhooks.google import parse_push
from parity.webhooks.stripe import parse_event
from tests.support import stripe as fixtures

DEEP = "[" * 100_000 + "]" * 100_000  # far beyond the interpreter's recursion limit
JUST_TOO_DEEP = "[" * 65 + "]" * 65
HUGE_NUMBER = "1" * 5000


def b64url(data: bytes | str) -> str:
    data = data.encode() if isinstance(data, str) else data
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


# ----------------------------------------------------------------------------------- the loader


@pytest.mark.parametrize(
    "text",
    [
        DEEP,
        '{"a":' * 5000 + "1" + "}" * 5000,
        JUST_TOO_DEEP,
        HUGE_NUMBER,
        f'{{"n": {HUGE_NUMBER}}}',
        "1." + "0" * 70,
        "1e" + "9" * 70,
        "1e400",
        "NaN",
        '{"a": Infinity}',
        "-Infinity",
        "",
        "{",
        b"\xff\xfe",
        "\ud800",
    ],
    ids=[
        "deep-arrays", "deep-objects", "65-levels", "5000-digits", "5000-digits-inside", "long-fraction",
        "long-exponent", "float-overflow", "nan", "infinity", "minus-infinity", "empty", "truncated",
        "not-utf8", "lone-surrogate",
    ],
)  # fmt: skip
def test_loads_refuses_json_beyond_the_limits_with_a_value_error(text):
    # WHEN hostile JSON is loaded
    with pytest.raises(limits.MalformedJson) as raised:
        limits.loads(text)

    # THEN it is a ValueError with a message fit for a client (no RecursionError, no int conversion error)
    assert isinstance(raised.value, ValueError)
    assert str(raised.value)


def test_loads_accepts_json_at_the_limits():
    deep = "[" * 64 + "1" + "]" * 64
    assert limits.loads(deep) is not None
    assert limits.loads("9" * 64) == int("9" * 64)
    assert limits.loads('{"a": [1.5, -2e10, true, null, "x"]}') == {"a": [1.5, -2e10, True, None, "x"]}
    assert limits.loads(b'{"k": "v"}') == {"k": "v"}


@pytest.mark.parametrize(
    "value, valid",
    [
        ("u_123", True),
        ("a" * 256, True),
        ("auth0|5f7c8ec7c33c6c004bbafe82", True),
        ("../../etc/passwd", True),  # printable: a user id is only ever a key, never a path
        ("", False),
        ("a" * 257, False),
        ("a" * 2000, False),
        ("has space", False),
        ("tab\there", False),
        ("new\nline", False),
        ("nul\x00", False),
        ("del\x7f", False),
        ("é", False),
        (None, False),
        (123, False),
    ],
)
def test_a_user_id_is_1_to_256_printable_characters_without_whitespace(value, valid):
    assert limits.is_user_id(value) is valid
    if valid:
        assert check_user_id(value) == value
    else:
        with pytest.raises(ParityError) as raised:
            check_user_id(value)
        assert (status_of(raised.value), raised.value.code) == (400, "invalid_user_id")


# ------------------------------------------------------------------------------- HTTP plumbing


def event(path_params: dict | None = None, sub: str | None = None) -> dict:
    claims = {"sub": sub} if sub is not None else {}
    return {"pathParameters": path_params or {}, "requestContext": {"authorizer": {"jwt": {"claims": claims}}}}


@pytest.mark.parametrize("raw", ["a" * 300, "%00", "a%20b", "%FF", "%0a"])
def test_user_id_path_parameters_are_checked_after_percent_decoding(raw):
    with pytest.raises(ParityError) as raised:
        user_id_parameter(event({"userId": raw}))
    assert (status_of(raised.value), raised.value.code) == (400, "invalid_user_id")


def test_a_jwt_subject_that_is_not_a_user_id_is_400_not_a_500_later():
    # GIVEN a token whose verified `sub` is 2,000 characters (the user id route matches it)
    sub = "u" * 2000
    # WHEN / THEN the route refuses it before any DynamoDB key is built from it
    with pytest.raises(ParityError) as raised:
        require_own_user(event({"userId": sub}, sub=sub), sub)
    assert (status_of(raised.value), raised.value.code) == (400, "invalid_user_id")


def test_other_path_ids_are_bounded_for_dynamodb_keys():
    assert path_parameter(event({"purchaseId": "app_store%3A2000000123"}), "purchaseId") == "app_store:2000000123"
    for raw in ("x" * 3000, "a%20b", "%00"):
        with pytest.raises(ParityError) as raised:
            path_parameter(event({"purchaseId": raw}), "purchaseId")
        assert status_of(raised.value) == 400


@pytest.mark.parametrize("body", [DEEP.encode(), f'{{"store": "app_store", "transactionId": {HUGE_NUMBER}}}'.encode()])
def test_receipt_bodies_beyond_the_limits_are_400_malformed_body(body):
    with pytest.raises(ParityError) as raised:
        parse_receipt(body)
    assert (status_of(raised.value), raised.value.code) == (400, "malformed_body")


def test_oversized_receipt_fields_are_422():
    body = json.dumps(
        {"store": "play_store", "packageName": "p" * 5000, "productId": "x" * 5000, "purchaseToken": "t" * 5000}
    ).encode()
    with pytest.raises(ParityError) as raised:
        parse_receipt(body)
    assert status_of(raised.value) == 422


# ------------------------------------------------------------------------------------- webhooks


def stripe_body(**changes) -> bytes:
    document = {"id": "evt_1", "type": "customer.subscription.updated", "created": 1_700_000_000, "data": {"object": {}}}
    document.update(changes)
    return json.dumps(document).encode()


@pytest.mark.parametrize(
    "body",
    [
        stripe_body(data=[]),
        stripe_body(data="x"),
        stripe_body(data={"object": []}),
        stripe_body(data={"object": "sub_1"}),
        stripe_body(created=10**20),
        stripe_body(created=-(10**20)),
        stripe_body(created=True),
        stripe_body(id="e" * 5000),
        stripe_body(id="evt with space"),
        stripe_body(id=""),
        stripe_body(type="t" * 5000),
        DEEP.encode(),
        f'{{"id": "evt_1", "created": {HUGE_NUMBER}}}'.encode(),
    ],
    ids=[
        "data-list", "data-string", "object-list", "object-string", "created-overflow", "created-underflow",
        "created-bool", "id-5kb", "id-space", "id-empty", "type-5kb", "deep", "huge-number",
    ],
)  # fmt: skip
def test_signed_but_malformed_stripe_events_are_refused_at_the_door(body):
    with pytest.raises(RejectedWebhook) as raised:
        parse_event(body)
    assert raised.value.code == "malformed_body"


def test_a_valid_stripe_event_still_parses():
    assert parse_event(json.dumps(fixtures.event("invoice.paid", {"id": "in_1"})).encode())["type"] == "invoice.paid"


def push_body(notification: dict | str, message_id: str = "1") -> bytes:
    data = notification if isinstance(notification, str) else base64.b64encode(json.dumps(notification).encode()).decode()
    return json.dumps({"message": {"messageId": message_id, "data": data}, "subscription": "s"}).encode()


NOTE = {
    "version": "1.0",
    "packageName": "com.example",
    "eventTimeMillis": "1700000000000",
    "subscriptionNotification": {"version": "1.0", "notificationType": 4, "purchaseToken": "tok"},
}


@pytest.mark.parametrize(
    "body",
    [
        DEEP.encode(),
        push_body(base64.b64encode(DEEP.encode()).decode()),
        push_body(base64.b64encode(f'{{"n": {HUGE_NUMBER}}}'.encode()).decode()),
        push_body({**NOTE, "eventTimeMillis": "9" * 30}),
        push_body({**NOTE, "eventTimeMillis": 10**25}),
        push_body({**NOTE, "subscriptionNotification": {**NOTE["subscriptionNotification"], "purchaseToken": "t" * 5000}}),
        push_body(NOTE, message_id="m" * 5000),
    ],
    ids=["deep-envelope", "deep-data", "huge-number", "time-overflow-text", "time-overflow", "token-5kb", "message-id-5kb"],
)
def test_malformed_pubsub_pushes_are_400(body):
    with pytest.raises(RejectedWebhook) as raised:
        parse_push(body, "com.example")
    assert (raised.value.code, raised.value.status) == ("malformed_body", 400)


def test_times_a_datetime_cannot_hold_are_value_errors():
    for call, value in ((from_epoch, 10**20), (from_epoch, -(10**20)), (from_epoch_ms, "9" * 40)):
        with pytest.raises(ValueError):
            call(value)


# ------------------------------------------------------------------------------------- FIFO ids


@pytest.mark.parametrize("key", ["a" * 129, "has space", "é", "", "tab\t", "x" * 5000, "new\nline"])
def test_fifo_ids_are_always_what_sqs_accepts(key):
    assert limits.is_key_id(fifo_id(key), 128)


def test_fifo_ids_keep_valid_keys_and_never_merge_distinct_ones():
    assert fifo_id("stripe:evt_1") == "stripe:evt_1"
    assert fifo_id("a b") != fifo_id("a  b")
