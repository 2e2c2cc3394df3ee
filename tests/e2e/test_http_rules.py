"""The HTTP rules every route obeys: JWT auth like API Gateway's, the 1 MiB limit, the error shape,
the entitlements read of a new user and how long an answer may be trusted offline."""

from __future__ import annotations

import http.client
import time
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from tests.e2e.conftest import AUDIENCE, OFFLINE_GRACE_SECONDS, stripe_event
from tests.support import stripe as s

pytestmark = pytest.mark.e2e

MIB = 1024 * 1024


def parse(text: str) -> datetime:
    return datetime.fromisoformat(text)


# ------------------------------------------------------------------------------------------ auth


def test_entitlements_need_a_valid_token_of_the_same_user(parity, ids, idp):
    parity.entitlements(ids.user, token=None).assert_error(401)
    parity.entitlements(ids.user, token="not-a-jwt").assert_error(401)
    parity.entitlements(ids.user, token=idp.token("u_someone_else")).assert_error(403)
    assert parity.entitlements(ids.user).status == 200


@pytest.mark.parametrize(
    "forge",
    [
        pytest.param(lambda idp, user: idp.token(user, exp=int(time.time()) - 60), id="expired"),
        pytest.param(lambda idp, user: idp.token(user, nbf=int(time.time()) + 600), id="not-yet-valid"),
        pytest.param(lambda idp, user: idp.token(user, iss="https://evil.example/"), id="wrong-issuer"),
        pytest.param(lambda idp, user: idp.token(user, aud="another-api"), id="wrong-audience"),
        pytest.param(
            lambda idp, user: idp.token(user, key="a-shared-secret-of-at-least-32-bytes!", algorithm="HS256"),
            id="hs256",
        ),
        pytest.param(
            lambda idp, user: idp.token(user, key=rsa.generate_private_key(public_exponent=65537, key_size=2048)),
            id="signed-by-another-key",
        ),
        pytest.param(
            lambda idp, user: idp.token(user, key=ec.generate_private_key(ec.SECP256R1()), algorithm="ES256"),
            id="es256-by-unknown-key",
        ),
        pytest.param(lambda idp, user: idp.token(user, kid="unknown-kid"), id="unknown-kid"),
    ],
)
def test_tokens_api_gateway_would_refuse_are_refused(parity, ids, idp, forge):
    reply = parity.entitlements(ids.user, token=forge(idp, ids.user))
    reply.assert_error(401, "unauthorized")


def test_es256_tokens_are_accepted(parity, ids, idp):
    token = idp.token(ids.user, key=idp.ec_key, algorithm="ES256", kid=idp.EC_KID)
    assert parity.entitlements(ids.user, token=token).status == 200


def test_audience_may_be_any_of_the_configured_ones(parity, ids, idp):
    assert parity.entitlements(ids.user, token=idp.token(ids.user, aud=["first", AUDIENCE])).status == 200
    assert parity.entitlements(ids.user, token=idp.token(ids.user, aud="some-other-app")).status == 200


def test_user_id_in_the_path_may_be_percent_encoded(parity, idp):
    user = f"auth0|{uuid.uuid4().hex[:8]}"
    reply = parity.entitlements(user, token=idp.token(user), path_user=user.replace("|", "%7C"))
    assert reply.status == 200, reply.raw
    assert reply.json["userId"] == user


def test_demo_routes_are_off_when_auth_is_configured(parity):
    parity.request("POST", "/_demo/token", b'{"sub": "u_1"}').assert_error(404, "not_found")
    parity.request("GET", "/_demo/jwks.json").assert_error(404, "not_found")


# ------------------------------------------------------------------------------ entitlements read


def test_a_new_user_has_nothing_and_a_stable_app_account_token(parity, ids):
    first = parity.read(ids.user)
    assert first["userId"] == ids.user
    assert first["entitlements"] == {} and first["purchases"] == []
    assert str(uuid.UUID(first["appAccountToken"])) == first["appAccountToken"].lower()
    assert parity.read(ids.user)["appAccountToken"] == first["appAccountToken"]
    request_date, cache_until = parse(first["requestDate"]), parse(first["cacheUntil"])
    assert cache_until == request_date + timedelta(seconds=OFFLINE_GRACE_SECONDS)


def test_cache_until_never_outlives_an_entitlement_ending_sooner(parity, ids, t0):
    ends = int(time.time()) + 600  # before requestDate + OFFLINE_GRACE_SECONDS (3600 s)
    parity.deliver(
        stripe_event(
            "customer.subscription.created",
            s.subscription(ids.sub, "active", ends, customer=ids.customer, user_id=ids.user),
            t0,
        )
    )
    body = parity.read(ids.user)
    entitlement = body["entitlements"]["pro"]
    assert entitlement["active"] is True
    request_date, cache_until = parse(body["requestDate"]), parse(body["cacheUntil"])
    assert cache_until <= request_date + timedelta(seconds=OFFLINE_GRACE_SECONDS)
    assert cache_until <= parse(entitlement["expiresAt"])
    assert cache_until == datetime.fromtimestamp(ends, UTC)


# ----------------------------------------------------------------------------------- body limits


def test_a_body_over_1_mib_is_refused_and_the_stack_stays_healthy(parity):
    parity.request("POST", "/webhooks/stripe", b"x" * (MIB + 1), {"Stripe-Signature": "t=1,v1=00"}).assert_error(
        413, "payload_too_large"
    )
    # Exactly 1 MiB is accepted for verification (and refused for its signature, not its size).
    parity.request("POST", "/webhooks/stripe", b"x" * MIB, {"Stripe-Signature": "t=1,v1=00"}).assert_error(400)
    assert parity.request("GET", "/health").json == {"status": "ok"}


def test_a_chunked_body_over_1_mib_is_refused(parity):
    host, port = parity.base_url.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=10)
    chunks = (b"y" * 65536 for _ in range(20))  # 1.25 MiB
    try:
        connection.request(
            "POST", "/webhooks/stripe", body=chunks, headers={"Transfer-Encoding": "chunked"}, encode_chunked=True
        )
        response = connection.getresponse()
        assert response.status == 413
        assert b"payload_too_large" in response.read()
    except (BrokenPipeError, ConnectionResetError):
        pass  # the stack may close before the client is done sending; what matters is that it lives on
    finally:
        connection.close()
    assert parity.request("GET", "/health").json == {"status": "ok"}


def test_an_announced_huge_body_is_refused_before_it_is_sent(parity):
    """curl-style `Expect: 100-continue`: the 413 comes instead of the 100."""
    host, port = parity.base_url.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=10)
    try:
        connection.putrequest("POST", "/webhooks/stripe")
        connection.putheader("Content-Length", str(512 * MIB))
        connection.putheader("Expect", "100-continue")
        connection.endheaders()
        response = connection.getresponse()
        assert response.status == 413
        assert b"payload_too_large" in response.read()
    finally:
        connection.close()
    assert parity.request("GET", "/health").json == {"status": "ok"}


def test_unknown_routes_and_methods_answer_in_the_error_shape(parity, ids):
    parity.request("GET", "/v2/nothing/here").assert_error(404, "not_found")
    parity.request("DELETE", f"/v1/users/{ids.user}/entitlements").assert_error(405, "method_not_allowed")
    parity.request("POST", "/health", b"{}").assert_error(405, "method_not_allowed")
