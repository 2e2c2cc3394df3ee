"""`Stripe-Signature` verification and event parsing (`parity.webhooks.stripe`), and the test signer
checked against the official stripe-python library."""

from __future__ import annotations

import json

import pytest
import stripe

from parity.webhooks.stripe import (
    DEFAULT_TOLERANCE_SECONDS,
    RejectedWebhook,
    compute_signature,
    parse_event,
    verify_signature,
)
from tests.support import stripe as fx

SECRET = fx.SECRET
NOW = 1_767_225_600
BODY = fx.encode(fx.event("customer.subscription.updated", fx.subscription(), created=NOW, event_id="evt_1"))


def rejection(body: bytes, header: str | None, secret: str = SECRET, now: float = NOW) -> RejectedWebhook:
    with pytest.raises(RejectedWebhook) as caught:
        verify_signature(body, header, secret, now=now)
    return caught.value


# --------------------------------------------------------------------------- accepted


def test_a_correctly_signed_body_is_accepted():
    assert verify_signature(BODY, fx.sign(BODY, SECRET, timestamp=NOW), SECRET, now=NOW) is None


def test_any_matching_v1_is_enough_during_secret_rotation():
    # GIVEN Stripe signing with the old and the new secret during a rotation
    old = fx.sign(BODY, "whsec_old", timestamp=NOW).split(",")[1]
    new = fx.sign(BODY, SECRET, timestamp=NOW).split(",")[1]
    header = f"t={NOW},{old},{new}"

    # THEN the endpoint holding either secret accepts it
    verify_signature(BODY, header, SECRET, now=NOW)
    verify_signature(BODY, header, "whsec_old", now=NOW)


def test_unknown_schemes_and_spaces_in_the_header_are_tolerated():
    signature = compute_signature(SECRET, NOW, BODY)
    verify_signature(BODY, f"t={NOW}, v0=deadbeef, v1={signature}", SECRET, now=NOW)


@pytest.mark.parametrize("skew", [-DEFAULT_TOLERANCE_SECONDS, 0, DEFAULT_TOLERANCE_SECONDS])
def test_a_timestamp_within_the_tolerance_is_accepted_up_to_the_boundary(skew):
    verify_signature(BODY, fx.sign(BODY, SECRET, timestamp=NOW + skew), SECRET, now=NOW)


# --------------------------------------------------------------------------- rejected, with a code


def test_a_missing_header_is_rejected():
    assert rejection(BODY, None).code == "missing_signature"
    assert rejection(BODY, "").code == "missing_signature"


def test_a_header_without_timestamp_is_rejected():
    signature = compute_signature(SECRET, NOW, BODY)
    assert rejection(BODY, f"v1={signature}").code == "invalid_signature"


def test_a_header_without_v1_is_rejected():
    assert rejection(BODY, f"t={NOW},v0={compute_signature(SECRET, NOW, BODY)}").code == "invalid_signature"


def test_a_non_integer_timestamp_is_rejected():
    signature = compute_signature(SECRET, NOW, BODY)
    assert rejection(BODY, f"t=soon,v1={signature}").code == "invalid_signature"


def test_a_signature_made_with_another_secret_is_rejected():
    assert rejection(BODY, fx.sign(BODY, "whsec_attacker", timestamp=NOW)).code == "invalid_signature"


def test_a_tampered_body_is_rejected():
    header = fx.sign(BODY, SECRET, timestamp=NOW)
    tampered = BODY.replace(b'"status":"active"', b'"status":"trialing"')
    assert tampered != BODY
    assert rejection(tampered, header).code == "invalid_signature"


def test_a_re_serialized_body_is_rejected_signatures_cover_the_raw_bytes():
    header = fx.sign(BODY, SECRET, timestamp=NOW)
    pretty = json.dumps(json.loads(BODY), indent=2).encode()
    assert rejection(pretty, header).code == "invalid_signature"


def test_a_signature_with_a_changed_timestamp_is_rejected():
    signature = compute_signature(SECRET, NOW, BODY)
    assert rejection(BODY, f"t={NOW + 1},v1={signature}", now=NOW).code == "invalid_signature"


@pytest.mark.parametrize("skew", [-DEFAULT_TOLERANCE_SECONDS - 1, DEFAULT_TOLERANCE_SECONDS + 1, -86400])
def test_a_timestamp_outside_the_tolerance_is_rejected_as_stale(skew):
    # Older: a replay. Newer: a clock far off, or a forged future timestamp.
    error = rejection(BODY, fx.sign(BODY, SECRET, timestamp=NOW + skew))
    assert error.code == "stale_signature"
    assert "300" in str(error)


def test_the_tolerance_is_configurable():
    header = fx.sign(BODY, SECRET, timestamp=NOW - 60)
    with pytest.raises(RejectedWebhook):
        verify_signature(BODY, header, SECRET, tolerance=30, now=NOW)


def test_the_current_time_is_used_when_none_is_given():
    verify_signature(BODY, fx.sign(BODY, SECRET), SECRET)
    with pytest.raises(RejectedWebhook):
        verify_signature(BODY, fx.sign(BODY, SECRET, timestamp=NOW), SECRET)  # 2026-01-01 is not now


def test_a_rejection_is_a_value_error_carrying_a_safe_message():
    error = rejection(BODY, None)
    assert isinstance(error, ValueError)
    assert SECRET not in str(error)


# --------------------------------------------------------------------------- parse_event


def test_a_verified_body_parses_into_the_event():
    event = parse_event(BODY)
    assert (event["id"], event["type"], event["created"]) == ("evt_1", "customer.subscription.updated", NOW)


@pytest.mark.parametrize("body", [b"not json", b"{", b"\xff\xfe\x00", b""])
def test_a_body_that_is_not_json_is_malformed(body):
    with pytest.raises(RejectedWebhook) as caught:
        parse_event(body)
    assert caught.value.code == "malformed_body"


EVENT = {"id": "evt_1", "type": "invoice.paid", "created": NOW, "data": {"object": {"id": "in_1"}}}


@pytest.mark.parametrize(
    "event",
    [
        [EVENT],
        "evt_1",
        None,
        {key: value for key, value in EVENT.items() if key != "id"},
        {key: value for key, value in EVENT.items() if key != "type"},
        {key: value for key, value in EVENT.items() if key != "created"},
        {**EVENT, "created": "1767225600"},
        {**EVENT, "data": {}},
        {**EVENT, "data": {"object": "in_1"}},
        {**EVENT, "data": None},
    ],
    ids=[
        "array",
        "string",
        "null",
        "no id",
        "no type",
        "no created",
        "created as text",
        "no object",
        "object as text",
        "null data",
    ],
)
def test_json_that_is_not_a_stripe_event_is_malformed(event):
    with pytest.raises(RejectedWebhook) as caught:
        parse_event(json.dumps(event).encode())
    assert caught.value.code == "malformed_body"


# --------------------------------------------------------------------------- the fixtures match Stripe


def test_the_test_signer_produces_what_the_official_stripe_library_accepts():
    # GIVEN a body signed by the fixtures' `sign` at the current time
    header = fx.sign(BODY, SECRET)

    # WHEN stripe-python verifies it
    event = stripe.Webhook.construct_event(BODY, header, SECRET)

    # THEN it accepts it and reads the same event
    assert (event["id"], event["type"]) == ("evt_1", "customer.subscription.updated")


def test_the_official_library_rejects_what_the_test_signer_signed_with_another_secret():
    # The check above can fail: stripe-python does verify the signature.
    with pytest.raises(stripe.SignatureVerificationError):
        stripe.Webhook.construct_event(BODY, fx.sign(BODY, "whsec_other"), SECRET)


def test_parity_accepts_a_header_generated_by_the_official_library():
    header = stripe.WebhookSignature.generate_signature_header(BODY.decode(), SECRET, timestamp=NOW)
    verify_signature(BODY, header, SECRET, now=NOW)


def test_a_non_ascii_signature_is_rejected_not_crashed():
    assert rejection(BODY, f"t={NOW},v1=signé").code == "invalid_signature"
