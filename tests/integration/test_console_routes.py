"""The admin routes the operator console adds, through the admin function against moto."""

from __future__ import annotations

import json

import pytest

from tests.support import stripe
from tests.support.harness import Response
from tests.support.lambda_events import LambdaContext, admin_event

USER, SUB = "u_console", "sub_console1"


def call(stack, method: str, route: str, body=None, query: dict | None = None, **params: str) -> Response:
    request = admin_event(method, route, params, body)
    if query is not None:
        request["queryStringParameters"] = query
    return Response.of(stack.function("admin").lambda_handler(request, LambdaContext("parity-admin")))


@pytest.fixture
def bought(stack, t0):
    event = stripe.event("customer.subscription.created", stripe.subscription(SUB, user_id=USER), created=t0)
    stack.deliver(event)
    assert not stack.drain().failed
    return event


def test_lookup_finds_the_buyer_by_user_id_and_by_subscription_id(stack, bought):
    by_id = call(stack, "GET", "/v1/admin/lookup", query={"q": USER})
    assert by_id.status == 200 and by_id.body["matches"] == [{"userId": USER, "matched": "userId", "purchaseId": None}]
    by_sub = call(stack, "GET", "/v1/admin/lookup", query={"q": SUB}).body
    assert by_sub["matches"] == [{"userId": USER, "matched": "purchaseId", "purchaseId": f"stripe:{SUB}"}]
    token = call(stack, "GET", "/v1/admin/users/{userId}", userId=USER).body["appAccountToken"]
    assert call(stack, "GET", "/v1/admin/lookup", query={"q": token}).body["matches"][0]["matched"] == "appAccountToken"


def test_lookup_without_a_query_is_a_400_and_an_email_gets_a_hint(stack):
    missing = call(stack, "GET", "/v1/admin/lookup")
    assert missing.status == 400 and missing.body["error"]["code"] == "invalid_request"
    email = call(stack, "GET", "/v1/admin/lookup", query={"q": "someone@example.com"}).body
    assert email["matches"] == [] and "no email" in email["hint"]


def test_a_stored_event_shows_its_verified_body_outcome_and_replay_step(stack, bought):
    answer = call(stack, "GET", "/v1/admin/events/{source}/{eventId}", source="stripe", eventId=bought["id"])
    assert answer.status == 200
    detail = answer.body
    assert detail["body"]["id"] == bought["id"] and detail["outcome"] == "applied"
    assert detail["purchaseId"] == f"stripe:{SUB}" and detail["replayStep"] and detail["changes"]
    unknown = call(stack, "GET", "/v1/admin/events/{source}/{eventId}", source="stripe", eventId="evt_nope")
    assert unknown.status == 404


def test_the_app_answer_is_read_for_a_known_user_only(stack, bought):
    answer = call(stack, "GET", "/v1/admin/users/{userId}/entitlements", userId=USER).body
    assert answer["entitlements"]["pro"]["active"] and answer["cacheUntil"]
    assert call(stack, "GET", "/v1/admin/users/{userId}/entitlements", userId="u_never").status == 404
    assert call(stack, "GET", "/v1/admin/lookup", query={"q": "u_never"}).body["matches"] == []  # nothing created


def test_stats_count_events_changes_and_entitlements(stack, bought):
    stats = call(stack, "GET", "/v1/admin/stats", query={"hours": "24"}).body
    assert sum(stats["storeEvents"]["stripe"]) == 1 and sum(stats["entitlementChanges"]) == 1
    assert {"store": "stripe", "state": "active", "active": True, "count": 1} in stats["entitlements"]
    assert stats["silence"]["stripe"]["hours"] is not None and stats["silence"]["app_store"]["hours"] is None
    assert {q["name"] for q in stats["deadLetterQueues"]} == {"StoreEvents", "Reconcile"}
    assert call(stack, "GET", "/v1/admin/stats", query={"hours": "0"}).status == 400
    assert call(stack, "GET", "/v1/admin/stats", query={"hours": "many"}).status == 400


def test_a_dead_letter_is_shown_redriven_and_recorded(stack, bought):
    from parity.services.ingest import queue_message

    dlq = stack.dlq_url
    stack.session.client("sqs").send_message(
        QueueUrl=dlq, MessageBody=queue_message("stripe", bought["id"], stripe.encode(bought)),
        MessageGroupId=f"stripe:{SUB}", MessageDeduplicationId="dead-1",
    )  # fmt: skip
    (letter,) = call(stack, "GET", "/v1/admin/dlq").body["messages"]
    assert letter["eventId"] == bought["id"] and letter["event"]["outcome"] == "applied"
    redriven = call(stack, "POST", "/v1/admin/dlq/redrive", {"queue": "StoreEvents"}).body
    assert (redriven["method"], redriven["moved"]) == ("one-by-one", 1)
    assert call(stack, "GET", "/v1/admin/dlq").body["messages"] == []
    assert not stack.drain().failed
    assert call(stack, "POST", "/v1/admin/dlq/redrive", {"queue": "Nope"}).status == 404
    purged = call(stack, "DELETE", "/v1/admin/dlq", query={"queue": "StoreEvents"})
    assert purged.status == 200 and purged.body == {"queue": "StoreEvents", "purged": 0}


def test_reconcile_now_queues_a_check_of_each_purchase(stack, bought):
    answer = call(stack, "POST", "/v1/admin/reconcile", {"userId": USER})
    assert answer.status == 200 and answer.body["purchaseIds"] == [f"stripe:{SUB}"]
    messages = stack.receive(queue_url=stack.env["RECONCILE_QUEUE_URL"])
    assert [json.loads(m["Body"])["purchaseId"] for m in messages] == [f"stripe:{SUB}"]
    assert call(stack, "POST", "/v1/admin/reconcile", {"userId": USER, "purchaseId": "x"}).status == 422
    assert call(stack, "POST", "/v1/admin/reconcile", {"purchaseId": "stripe:sub_none"}).status == 404
