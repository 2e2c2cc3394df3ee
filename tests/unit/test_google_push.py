"""Pub/Sub push envelopes → DeveloperNotifications (`parity.webhooks.google.parse_push`), and the small
pure helpers of the push verifier (bearer header; certs URL and Cache-Control, in `webhooks.google_certs`).
No keys, no network."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

import pytest

from parity.webhooks import RejectedWebhook
from parity.webhooks.google import PubSubPush, RejectedPush, bearer_token, parse_push
from parity.webhooks.google_certs import GOOGLE_CERTS_URL, max_age, normalize_url
from tests.support import google as fx

TOKEN = fx.purchase_token()
EVENT_MS = 1_767_225_600_123
SUB, OTP = "subscriptionNotification", "oneTimeProductNotification"
VOIDED, TEST = "voidedPurchaseNotification", "testNotification"


def rejection(body: bytes, package: str | None = fx.PACKAGE) -> RejectedPush:
    with pytest.raises(RejectedPush) as caught:
        parse_push(body, package)
    return caught.value


def envelope(message: dict | None = None, **top) -> bytes:
    return json.dumps({"message": message, "subscription": fx.SUBSCRIPTION, **top}).encode()


def b64(value) -> str:
    raw = value if isinstance(value, bytes) else json.dumps(value).encode()
    return base64.b64encode(raw).decode()


# --------------------------------------------------------------------------- each kind


@pytest.mark.parametrize(
    ("notification", "kind", "event_type", "token"),
    [
        (fx.subscription_notification(TOKEN, 4, event_time_ms=EVENT_MS), SUB, f"{SUB}:4", TOKEN),
        (fx.subscription_notification(TOKEN, 13, event_time_ms=EVENT_MS), SUB, f"{SUB}:13", TOKEN),
        (fx.subscription_notification(TOKEN, 42, event_time_ms=EVENT_MS), SUB, f"{SUB}:42", TOKEN),
        (fx.one_time_product_notification(TOKEN, 1, event_time_ms=EVENT_MS), OTP, f"{OTP}:1", TOKEN),
        (fx.one_time_product_notification(TOKEN, 2, event_time_ms=EVENT_MS), OTP, f"{OTP}:2", TOKEN),
        (fx.voided_purchase_notification(TOKEN, event_time_ms=EVENT_MS), VOIDED, VOIDED, TOKEN),
        (fx.test_notification(event_time_ms=EVENT_MS), TEST, TEST, None),
    ],
    ids=["sub-purchased", "sub-expired", "sub-later-type", "otp-purchased", "otp-canceled", "voided", "test"],
)
def test_each_developer_notification_kind_is_decoded(notification, kind, event_type, token):
    body = fx.push_body(notification, message_id="4242", publish_time="2026-01-01T00:00:00.123456789Z")

    push = parse_push(body, fx.PACKAGE)

    assert push == PubSubPush("4242", "2026-01-01T00:00:00.123456789Z", notification)
    assert (push.kind, push.event_type, push.purchase_token) == (kind, event_type, token)
    assert push.is_test is (kind == "testNotification")
    assert push.routing_key == (token or "4242")  # a purchase's events share its token; a test has none
    assert push.package_name == fx.PACKAGE
    assert push.event_time_millis == EVENT_MS
    assert push.event_time == datetime(2026, 1, 1, 0, 0, 0, 123000, tzinfo=timezone.utc)
    assert push.detail == notification[kind]


def test_the_result_is_frozen():
    push = parse_push(fx.push_body(fx.test_notification()))
    with pytest.raises(AttributeError):
        push.message_id = "other"  # type: ignore[misc]


def test_a_numeric_event_time_and_the_snake_case_spellings_are_read_too():
    notification = {**fx.test_notification(), "eventTimeMillis": EVENT_MS}
    body = envelope({"data": b64(notification), "message_id": "77", "publish_time": "2026-01-01T00:00:00Z"})

    push = parse_push(body, fx.PACKAGE)

    assert (push.message_id, push.publish_time, push.event_time_millis) == ("77", "2026-01-01T00:00:00Z", EVENT_MS)


def test_publish_time_is_optional():
    assert parse_push(envelope({"data": b64(fx.test_notification()), "messageId": "1"})).publish_time is None


@pytest.mark.parametrize("urlsafe", [False, True])
@pytest.mark.parametrize("padded", [True, False])
def test_data_in_either_base64_alphabet_with_or_without_padding_is_accepted(urlsafe, padded):
    # A notification whose JSON base64-encodes with '+'/'/' (or '-'/'_') and with padding.
    notification = fx.subscription_notification("a>?b~~" + TOKEN, 2, event_time_ms=EVENT_MS)
    raw = json.dumps(notification).encode() + b" "  # one more byte: padding appears
    data = (base64.urlsafe_b64encode if urlsafe else base64.b64encode)(raw).decode()
    assert ("=" in data) and any(c in data for c in ("-_" if urlsafe else "+/"))
    if not padded:
        data = data.rstrip("=")

    push = parse_push(envelope({"data": data, "messageId": "9"}), fx.PACKAGE)

    assert push.notification == notification


def test_attributes_and_unknown_envelope_fields_are_ignored():
    body = fx.push_body(fx.test_notification(), attributes={"origin": "play"})
    extended = json.loads(body)
    extended["deliveryAttempt"] = 3
    extended["message"]["orderingKey"] = ""
    assert parse_push(json.dumps(extended).encode()).is_test


# --------------------------------------------------------------------------- malformed → 400


GOOD = fx.subscription_notification(TOKEN, 4)


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(b"", id="empty"),
        pytest.param(b"not json", id="not-json"),
        pytest.param(b"\xff\xfe", id="not-utf8"),
        pytest.param(b"[]", id="array"),
        pytest.param(b'"message"', id="string"),
        pytest.param(json.dumps({"subscription": fx.SUBSCRIPTION}).encode(), id="no-message"),
        pytest.param(envelope(None), id="message-null"),
        pytest.param(envelope("text"), id="message-not-object"),
        pytest.param(envelope({"data": b64(GOOD)}), id="no-message-id"),
        pytest.param(envelope({"data": b64(GOOD), "messageId": ""}), id="empty-message-id"),
        pytest.param(envelope({"data": b64(GOOD), "messageId": 123}), id="numeric-message-id"),
        pytest.param(envelope({"messageId": "1"}), id="no-data"),
        pytest.param(envelope({"messageId": "1", "data": ""}), id="empty-data"),
        pytest.param(envelope({"messageId": "1", "data": {"packageName": fx.PACKAGE}}), id="data-not-string"),
        pytest.param(envelope({"messageId": "1", "data": "not base64!"}), id="data-not-base64"),
        pytest.param(envelope({"messageId": "1", "data": "abcde"}), id="data-bad-length"),
        pytest.param(envelope({"messageId": "1", "data": "ab+c-d=="}), id="data-mixed-alphabets"),
        pytest.param(envelope({"messageId": "1", "data": b64(b"plain text")}), id="data-not-json"),
        pytest.param(envelope({"messageId": "1", "data": b64(b"\xff\xfe{}")}), id="data-not-utf8"),
        pytest.param(envelope({"messageId": "1", "data": b64([GOOD])}), id="data-array"),
        pytest.param(envelope({"messageId": "1", "data": b64("text")}), id="data-string"),
    ],
)
def test_a_malformed_envelope_is_a_400(body):
    rejected = rejection(body)
    assert (rejected.code, rejected.status) == ("malformed_body", 400)
    assert isinstance(rejected, RejectedWebhook)


def _without(mapping: dict, *path: str) -> dict:
    copy = json.loads(json.dumps(mapping))
    target = copy
    for key in path[:-1]:
        target = target[key]
    del target[path[-1]]
    return copy


def _with(mapping: dict, value, *path: str) -> dict:
    copy = json.loads(json.dumps(mapping))
    target = copy
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return copy


@pytest.mark.parametrize(
    "notification",
    [
        pytest.param(_without(GOOD, "packageName"), id="no-package"),
        pytest.param(_with(GOOD, "", "packageName"), id="empty-package"),
        pytest.param(_without(GOOD, "eventTimeMillis"), id="no-event-time"),
        pytest.param(_with(GOOD, "soon", "eventTimeMillis"), id="event-time-text"),
        pytest.param(_with(GOOD, "-5", "eventTimeMillis"), id="event-time-negative"),
        pytest.param(_with(GOOD, True, "eventTimeMillis"), id="event-time-bool"),
        pytest.param(_without(GOOD, "subscriptionNotification"), id="no-kind"),
        pytest.param({**GOOD, "subscriptionNotification": None}, id="kind-null"),
        pytest.param({**GOOD, "testNotification": {"version": "1.0"}}, id="two-kinds"),
        pytest.param(_with(GOOD, "x", "subscriptionNotification"), id="kind-not-object"),
        pytest.param(_without(GOOD, "subscriptionNotification", "purchaseToken"), id="no-token"),
        pytest.param(_with(GOOD, "", "subscriptionNotification", "purchaseToken"), id="empty-token"),
        pytest.param(_with(GOOD, 5, "subscriptionNotification", "purchaseToken"), id="numeric-token"),
        pytest.param(_without(GOOD, "subscriptionNotification", "notificationType"), id="no-type"),
        pytest.param(_with(GOOD, "4", "subscriptionNotification", "notificationType"), id="type-text"),
        pytest.param(_without(fx.voided_purchase_notification(TOKEN), VOIDED, "purchaseToken"), id="voided-no-token"),
        pytest.param(_without(fx.one_time_product_notification(TOKEN), OTP, "notificationType"), id="otp-no-type"),
    ],
)
def test_a_notification_that_is_not_a_developer_notification_is_a_400(notification):
    rejected = rejection(fx.push_body(notification))
    assert (rejected.code, rejected.status) == ("malformed_body", 400)


# --------------------------------------------------------------------------- the package


def test_another_package_is_refused():
    rejected = rejection(fx.push_body(fx.subscription_notification(TOKEN, package="com.example.other")))
    assert (rejected.code, rejected.status) == ("wrong_package", 400)


def test_the_package_comparison_is_exact():
    rejected = rejection(fx.push_body(fx.test_notification(package=fx.PACKAGE.upper())))
    assert rejected.code == "wrong_package"


def test_without_an_expected_package_any_is_read():
    # Readers of stored pushes (already checked at intake) parse without the configuration.
    push = parse_push(fx.push_body(fx.subscription_notification(TOKEN, package="com.example.other")))
    assert push.package_name == "com.example.other"


def test_a_malformed_notification_is_malformed_before_it_is_the_wrong_package():
    notification = _without(fx.subscription_notification(TOKEN, package="com.example.other"), "eventTimeMillis")
    assert rejection(fx.push_body(notification)).code == "malformed_body"


# --------------------------------------------------------------------------- helpers of the verifier


@pytest.mark.parametrize(
    ("header", "token"),
    [("Bearer a.b.c", "a.b.c"), ("bearer a.b.c", "a.b.c"), ("  BEARER   a.b.c  ", "a.b.c")],
)
def test_the_bearer_scheme_is_case_insensitive(header, token):
    assert bearer_token(header) == token


@pytest.mark.parametrize("header", [None, "", "   ", "Bearer", "Bearer   ", "Basic dXNlcjpwYXNz", "a.b.c", "Token abc"])
def test_no_bearer_token_is_missing_token_401(header):
    with pytest.raises(RejectedPush) as caught:
        bearer_token(header)
    assert (caught.value.code, caught.value.status) == ("missing_token", 401)


@pytest.mark.parametrize(
    ("configured", "used"),
    [
        (None, GOOGLE_CERTS_URL),
        ("", GOOGLE_CERTS_URL),
        (GOOGLE_CERTS_URL, GOOGLE_CERTS_URL),
        (GOOGLE_CERTS_URL + "/", GOOGLE_CERTS_URL),
        ("http://127.0.0.1:9000/", "http://127.0.0.1:9000"),
        ("http://127.0.0.1:9000/oauth2/v1/certs//", "http://127.0.0.1:9000/oauth2/v1/certs"),
    ],
)
def test_the_certs_url_works_with_or_without_a_trailing_slash(configured, used):
    assert normalize_url(configured) == used


@pytest.mark.parametrize(
    ("headers", "lifetime"),
    [
        ({"Cache-Control": "public, max-age=21600, must-revalidate, no-transform"}, 21600),
        ({"cache-control": "max-age=600", "Age": "100"}, 500),
        ({"Cache-Control": "max-age=60", "age": "600"}, 0),
        ({"Cache-Control": "no-cache"}, 0),
        ({"Cache-Control": "private, no-store, max-age=60"}, 0),
        ({"Cache-Control": "public"}, None),
        ({"Cache-Control": "max-age=soon"}, None),
        ({}, None),
        (None, None),
    ],
)
def test_cache_control_max_age_minus_age_is_the_certs_lifetime(headers, lifetime):
    assert max_age(headers) == lifetime


def test_parsing_does_not_import_google_auth():
    # Readers of stored pushes (the processor) pay for google-auth only if they verify tokens.
    root = Path(__file__).resolve().parents[2]
    code = "import sys, parity.webhooks.google; assert not [m for m in sys.modules if m.startswith('google')]"
    env = {"PYTHONPATH": str(root / "layers" / "common")}
    result = subprocess.run([sys.executable, "-c", code], cwd=root, env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
