"""What a web or mobile app relies on beyond the routes: signed answers it verifies with the stack's JWKS,
CORS for browsers, and the OpenAPI document of the routes the stack really serves."""

from __future__ import annotations

import time

from parity.openapi import document
from tests.e2e.conftest import WEB_ORIGIN, stripe_event
from tests.support import stripe as fixtures
from tests.support.signing import verify

ENTITLEMENTS = "/v1/users/{user}/entitlements"


def test_an_answer_is_signed_with_a_key_the_stack_publishes(parity, ids):
    # GIVEN a user with a Stripe subscription
    end = int(time.time()) + 3600
    parity.deliver(stripe_event("customer.subscription.created", fixtures.subscription(ids.sub, "active", end, user_id=ids.user), int(time.time()) - 60))

    # WHEN the app reads and fetches the JWKS (no credential)
    body = parity.read(ids.user)
    jwks = parity.request("GET", "/.well-known/jwks.json")

    # THEN the token verifies, names the user and carries what gives access, until cacheUntil
    assert jwks.status == 200 and "max-age" in jwks.headers["cache-control"]
    claims = verify(body["signedEntitlements"], jwks.json)
    assert claims["sub"] == ids.user
    assert claims["entitlements"]["pro"]["active"] is True
    assert claims["entitlements"]["pro"]["expiresAt"] == body["entitlements"]["pro"]["expiresAt"]
    assert "signing:" in parity.log_text() and "a key made for this run" in parity.log_text()


def test_a_preflight_from_an_allowed_origin_is_answered_204(parity, ids):
    reply = parity.request(
        "OPTIONS",
        ENTITLEMENTS.format(user=ids.user),
        headers={"Origin": WEB_ORIGIN, "Access-Control-Request-Method": "GET", "Access-Control-Request-Headers": "authorization"},
    )
    assert reply.status == 204
    assert reply.headers["access-control-allow-origin"] == WEB_ORIGIN
    assert "GET" in reply.headers["access-control-allow-methods"].split(",")
    assert "authorization" in reply.headers["access-control-allow-headers"].lower().split(",")


def test_answers_carry_the_allowed_origin_and_other_origins_get_none(parity, ids):
    token = parity.idp.token(ids.user)
    allowed = parity.request("GET", ENTITLEMENTS.format(user=ids.user), headers={"Origin": WEB_ORIGIN, "Authorization": f"Bearer {token}"})
    other = parity.request("GET", ENTITLEMENTS.format(user=ids.user), headers={"Origin": "https://evil.example", "Authorization": f"Bearer {token}"})
    preflight = parity.request(
        "OPTIONS", ENTITLEMENTS.format(user=ids.user), headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "GET"}
    )
    assert (allowed.status, other.status) == (200, 200)
    assert allowed.headers["access-control-allow-origin"] == WEB_ORIGIN
    assert not [h for h in (*other.headers, *preflight.headers) if h.startswith("access-control-")]
    # the admin API and the webhooks are no browser's business
    admin = parity.request("OPTIONS", "/v1/admin/users/u_1", headers={"Origin": WEB_ORIGIN, "Access-Control-Request-Method": "GET"})
    assert "access-control-allow-origin" not in admin.headers


def test_the_openapi_document_is_served_and_every_route_in_it_is_served(parity):
    reply = parity.request("GET", "/openapi.json")
    assert reply.status == 200 and reply.json == document()
    for path, item in reply.json["paths"].items():
        concrete = path.replace("{userId}", "u_probe").replace("{purchaseId}", "stripe:sub_probe")
        concrete = concrete.replace("{source}", "stripe").replace("{eventId}", "evt_probe")
        for method in item:
            answer = parity.request(method.upper(), concrete, b"{}" if method in ("post", "put") else None)
            # the stack's own 404 for a path it has no route for (a route's 404 says what it did not find)
            unrouted = answer.status == 405 or (
                answer.status == 404 and answer.json["error"]["message"].startswith("There is no route")
            )
            assert not unrouted, (method, path, answer.status, answer.raw[:200])
