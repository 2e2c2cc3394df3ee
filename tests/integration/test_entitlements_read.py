"""The entitlements function: HTTP API (payload v2) with the JWT authorizer's claims."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from tests.support import stripe
from tests.support.lambda_events import LambdaContext, http_api_event

ROUTE = "/v1/users/{userId}/entitlements"


def parse(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def test_a_user_without_purchases_gets_200_with_empty_entitlements_and_a_day_of_offline_grace(stack):
    response = stack.read("u_new")

    assert response.status == 200
    assert response.headers["content-type"] == "application/json"
    body = response.body
    assert (body["userId"], body["entitlements"], body["purchases"]) == ("u_new", {}, [])
    assert parse(body["cacheUntil"]) - parse(body["requestDate"]) == timedelta(seconds=86400)
    assert abs(parse(body["requestDate"]) - datetime.now(timezone.utc)) < timedelta(seconds=5)


def test_cache_until_stops_at_the_next_access_change(stack):
    end = int(datetime.now(timezone.utc).timestamp()) + 3600
    stack.deliver(
        stripe.event("customer.subscription.created", stripe.subscription("sub_soon", "active", end, user_id="u_soon"))
    )
    assert not stack.drain().failed

    body = stack.read("u_soon").body

    assert body["cacheUntil"] == body["entitlements"]["pro"]["expiresAt"]


def test_a_token_for_another_user_is_refused_with_403(stack):
    response = stack.read("u_victim", sub="u_attacker")

    assert response.status == 403
    assert response.body["error"]["code"] == "forbidden"
    assert stack.table_items() == []


def test_a_request_without_verified_claims_is_refused_with_401(stack):
    response = stack.read("u_anyone", sub=None)

    assert response.status == 401
    assert response.body == {"error": {"code": "unauthorized", "message": response.body["error"]["message"]}}


def test_a_percent_encoded_user_id_is_read_as_the_raw_id(stack):
    user = "auth0|abc:123"  # (a space is no part of a user id: CONTRACT.md, "Input limits")
    event = http_api_event("GET", ROUTE, {"userId": "auth0%7Cabc%3A123"}, user)

    response = stack.entitlements.lambda_handler(event, LambdaContext())

    assert response["statusCode"] == 200
    assert stack.item(f"USER#{user}", "PROFILE") is not None


def test_an_existing_user_is_answered_with_one_dynamodb_query(stack):
    stack.read("u_once")
    stack.counter.reset()

    assert stack.read("u_once").status == 200

    assert stack.counter.snapshot() == {"dynamodb": {"Query": 1}}
