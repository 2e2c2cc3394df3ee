"""Signed entitlements through the handlers: the entitlements and receipts answers carry a token that
verifies with the JWKS the discovery function serves; on AWS the key is a Secrets Manager secret read once
per container, and a rotation publishes the old and the new key."""

from __future__ import annotations

import time

import pytest

from parity.domain.errors import ConfigurationError
from parity.domain.timeutil import parse_rfc3339
from parity.signing import EntitlementSigner, generate_pem
from tests.support import stripe
from tests.support.lambda_events import LambdaContext, http_api_event
from tests.support.signing import verify

PLACEHOLDER = "not set: put a PEM EC P-256 private key here"


def get(stack, route: str):
    from tests.support.harness import Response

    event = http_api_event("GET", route, {}, None)
    return Response.of(stack.function("discovery").lambda_handler(event, LambdaContext("parity-discovery")))


def use_secret(stack, monkeypatch, value: str | bytes) -> tuple[object, str]:
    """The template's layout: ENTITLEMENT_SIGNING_KEY_SECRET names a secret holding the PEM, no key file."""
    secrets = stack.session.client("secretsmanager")
    text = value.decode() if isinstance(value, bytes) else value
    arn = secrets.create_secret(Name=f"parity-signing-{time.monotonic_ns()}", SecretString=text)["ARN"]
    monkeypatch.delenv("ENTITLEMENT_SIGNING_KEY_FILE")
    monkeypatch.setenv("ENTITLEMENT_SIGNING_KEY_SECRET", arn)
    return secrets, arn


def test_the_entitlements_answer_is_signed_and_verifies_with_the_published_keys(stack):
    # GIVEN a user with an active subscription
    end = int(time.time()) + 3600
    stack.deliver(stripe.event("customer.subscription.created", stripe.subscription("sub_sig", "active", end, user_id="u_sig")))
    assert not stack.drain().failed

    # WHEN the app reads its entitlements and fetches the JWKS
    body = stack.read("u_sig").body
    jwks = get(stack, "/.well-known/jwks.json")

    # THEN the token verifies, says the same as the answer, and expires at cacheUntil
    assert jwks.status == 200 and jwks.headers["cache-control"] == "public, max-age=300"
    claims = verify(body["signedEntitlements"], jwks.body)
    assert claims["sub"] == "u_sig"
    assert claims["exp"] == int(parse_rfc3339(body["cacheUntil"]).timestamp())
    assert claims["iat"] == int(parse_rfc3339(body["requestDate"]).timestamp())
    pro = body["entitlements"]["pro"]
    assert claims["entitlements"] == {  # the fixtures' events are test mode (livemode false): sandbox
        "pro": {"active": True, "state": "active", "expiresAt": pro["expiresAt"], "store": "stripe", "environment": "sandbox"}
    }


def test_on_aws_the_key_is_read_once_per_container_and_a_read_stays_one_dynamodb_request(stack, monkeypatch):
    # GIVEN the key in Secrets Manager
    pem = generate_pem()
    use_secret(stack, monkeypatch, pem)

    # WHEN a container starts and serves two reads
    stack.counter.reset()
    stack.reload()
    stack.function("entitlements")
    at_start = stack.counter.snapshot()
    stack.read("u_once")  # first read of a new user: the one-time token write
    stack.counter.reset()
    body = stack.read("u_once").body

    # THEN the secret was read once, at cold start, and a read is one Query
    assert at_start == {"secretsmanager": {"GetSecretValue": 1}}
    assert stack.counter.snapshot() == {"dynamodb": {"Query": 1}}
    assert verify(body["signedEntitlements"], EntitlementSigner.from_pem(pem).jwks())["sub"] == "u_once"


def test_a_rotation_publishes_the_previous_and_the_new_key(stack, monkeypatch):
    # GIVEN answers signed with the first key
    first, second = generate_pem(), generate_pem()
    secrets, arn = use_secret(stack, monkeypatch, first)
    stack.reload()
    old_token = stack.read("u_rot").body["signedEntitlements"]

    # WHEN the operator puts a new key (Secrets Manager keeps the old one as AWSPREVIOUS) and containers restart
    secrets.put_secret_value(SecretId=arn, SecretString=second.decode())
    stack.reload()
    new_token = stack.read("u_rot").body["signedEntitlements"]
    jwks = get(stack, "/.well-known/jwks.json").body

    # THEN new answers carry the new kid, and both verify with the JWKS
    kids = [EntitlementSigner.from_pem(first).kid, EntitlementSigner.from_pem(second).kid]
    assert [key["kid"] for key in jwks["keys"]] == kids[::-1]
    assert verify(old_token, jwks)["sub"] == verify(new_token, jwks)["sub"] == "u_rot"


def test_the_placeholder_secret_fails_the_cold_start_saying_what_to_do(stack, monkeypatch):
    use_secret(stack, monkeypatch, PLACEHOLDER)
    stack.reload()
    with pytest.raises(ConfigurationError, match="holds no PEM private key"):
        stack.function("entitlements")


def test_the_placeholder_is_never_published_as_a_previous_key(stack, monkeypatch):
    # GIVEN the template's placeholder, then the operator's first key
    secrets, arn = use_secret(stack, monkeypatch, PLACEHOLDER)
    key = generate_pem()
    secrets.put_secret_value(SecretId=arn, SecretString=key.decode())
    stack.reload()
    # THEN the JWKS holds the key alone
    assert [k["kid"] for k in get(stack, "/.well-known/jwks.json").body["keys"]] == [EntitlementSigner.from_pem(key).kid]


def test_an_unknown_discovery_route_is_a_404(stack):
    response = get(stack, "/nothing.json")
    assert (response.status, response.body["error"]["code"]) == (404, "not_found")
