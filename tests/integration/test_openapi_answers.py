"""The OpenAPI document against the real handlers: every answer the admin and account functions give on
moto, success or refusal, is documented for its route with that status, and its body validates against
the documented schema (which allows no member the document does not name)."""

from __future__ import annotations

import pytest
from jsonschema import Draft202012Validator

from parity.openapi import document
from tests.support import stripe
from tests.support.harness import Response
from tests.support.lambda_events import LambdaContext, admin_event, http_api_event

USER, SUB = "u_documented", "sub_documented1"


@pytest.fixture(scope="module")
def doc() -> dict:
    return document()


def check(doc: dict, method: str, route: str, answer: Response) -> Response:
    documented = doc["paths"][route][method.lower()]["responses"]
    assert str(answer.status) in documented, (method, route, answer.status, answer.body)
    media = documented[str(answer.status)].get("content", {}).get("application/json")
    if media is None:
        assert answer.body in (None, "", b""), (method, route, answer.body)
        return answer
    validator = Draft202012Validator({**media["schema"], "components": doc["components"]})
    errors = [f"{list(error.absolute_path)}: {error.message}" for error in validator.iter_errors(answer.body)]
    assert not errors, (method, route, answer.status, errors)
    return answer


def admin(stack, doc, method: str, route: str, body=None, query: dict | None = None, **params: str) -> Response:
    request = admin_event(method, route, params, body)
    if query is not None:
        request["queryStringParameters"] = query
    return check(doc, method, route, Response.of(stack.function("admin").lambda_handler(request, LambdaContext("parity-admin"))))


def test_every_admin_answer_is_documented_with_its_schema(stack, doc, t0):
    event = stripe.event("customer.subscription.created", stripe.subscription(SUB, user_id=USER), created=t0)
    stack.deliver(event)
    assert not stack.drain().failed
    user, events = "/v1/admin/users/{userId}", "/v1/admin/events/{source}/{eventId}"
    assert admin(stack, doc, "GET", user, userId=USER).status == 200
    assert admin(stack, doc, "GET", user + "/entitlements", userId=USER).status == 200
    assert admin(stack, doc, "GET", user + "/entitlements", userId="u_never").status == 404
    assert admin(stack, doc, "GET", "/v1/admin/lookup", query={"q": SUB}).body["matches"]
    assert admin(stack, doc, "GET", "/v1/admin/lookup", query={"q": "x" * 600}).status == 400
    assert admin(stack, doc, "GET", "/v1/admin/lookup").status == 400
    assert admin(stack, doc, "GET", events, source="stripe", eventId=event["id"]).body["outcome"] == "applied"
    assert admin(stack, doc, "GET", events, source="stripe", eventId="evt_none").status == 404
    assert admin(stack, doc, "GET", "/v1/admin/stats", query={"hours": "24"}).body["complete"]
    assert admin(stack, doc, "GET", "/v1/admin/stats", query={"hours": "0"}).status == 400
    assert admin(stack, doc, "GET", "/v1/admin/dlq", query={"max": "5"}).body == {"messages": []}
    assert admin(stack, doc, "POST", "/v1/admin/dlq/redrive", {"queue": "StoreEvents"}).status == 200
    assert admin(stack, doc, "POST", "/v1/admin/dlq/redrive", {"queue": "Nope"}).status == 404
    assert admin(stack, doc, "POST", "/v1/admin/dlq/redrive", {}).status == 422
    assert admin(stack, doc, "DELETE", "/v1/admin/dlq", query={"queue": "Reconcile"}).status == 200
    assert admin(stack, doc, "DELETE", "/v1/admin/dlq").status == 400
    assert admin(stack, doc, "POST", "/v1/admin/reconcile", {"userId": USER}).body["queued"] == 1
    assert admin(stack, doc, "POST", "/v1/admin/reconcile", {"purchaseId": "stripe:sub_none"}).status == 404
    assert admin(stack, doc, "POST", "/v1/admin/reconcile", {}).status == 422

    grants = user + "/grants"
    granted = admin(stack, doc, "POST", grants, {"entitlement": "pro", "expiresAt": None, "reason": "goodwill"}, userId=USER)
    assert granted.status == 201
    assert admin(stack, doc, "POST", grants, {"entitlement": "platinum"}, userId=USER).status == 422
    assert admin(stack, doc, "POST", grants, {"entitlement": "pro", "until": "soon"}, userId=USER).status == 400
    revoke = grants + "/{purchaseId}"
    assert admin(stack, doc, "DELETE", revoke, userId=USER, purchaseId=granted.body["purchaseId"]).status == 200
    assert admin(stack, doc, "DELETE", revoke, userId=USER, purchaseId="manual:none").status == 404
    flag = user + "/flags/refund-abuse"
    assert admin(stack, doc, "DELETE", flag, {"reason": "reviewed"}, userId=USER).status == 200
    assert admin(stack, doc, "DELETE", flag, userId="u_never").status == 404
    assert admin(stack, doc, "DELETE", user, userId=USER).status == 204
    assert admin(stack, doc, "GET", user, userId="bad id").status == 400


def test_the_account_function_answers_are_documented(stack, doc):
    route = "/v1/users/{userId}"
    for sub, status in (("u_other", 403), ("u_self", 204)):
        event = http_api_event("DELETE", route, {"userId": "u_self"}, sub)
        answer = Response.of(stack.function("account").lambda_handler(event, LambdaContext("parity-account")))
        assert check(doc, "DELETE", route, answer).status == status
