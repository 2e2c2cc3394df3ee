"""The support and privacy routes against moto: manual grants, clearing a review flag, and account
erasure by the user (account function) and by operators (admin function). What they refuse at the HTTP
edge, and what they leave in the table. The rules themselves are tested on the fakes:
tests/unit/test_support_and_erasure.py."""

from __future__ import annotations

import json
import zlib

import pytest

from tests.integration.test_ownership import APPLE_PURCHASE, claim, owners
from tests.support.harness import Response
from tests.support.lambda_events import OPERATOR_ARN, LambdaContext, admin_event, http_api_event

GRANTS = "/v1/admin/users/{userId}/grants"
GRANT = "/v1/admin/users/{userId}/grants/{purchaseId}"
ACCOUNT = "/v1/users/{userId}"


def grant(stack, user: str, body) -> Response:
    event = admin_event("POST", GRANTS, {"userId": user})
    event["body"] = body if isinstance(body, str) else json.dumps(body)
    return Response.of(stack.function("admin").lambda_handler(event, LambdaContext("parity-admin")))


def erase_own(stack, user: str, sub: str | None = None) -> Response:
    event = http_api_event("DELETE", ACCOUNT, {"userId": user}, sub or user)
    return Response.of(stack.function("account").lambda_handler(event, LambdaContext("parity-account")))


def test_a_grant_is_201_visible_in_the_read_and_the_admin_view_and_revoked_with_200(stack):
    answer = grant(stack, "u_demo", {"entitlement": "pro", "expiresAt": "2099-01-01T00:00:00Z", "reason": "App Review"})
    assert answer.status == 201, answer.body
    purchase_id = answer.body["purchaseId"]
    assert purchase_id.startswith("manual:") and answer.body["store"] == "manual" and answer.body["ownership"] == "manual"
    pro = stack.read("u_demo").body["entitlements"]["pro"]
    assert (pro["active"], pro["store"], pro["expiresAt"]) == (True, "manual", "2099-01-01T00:00:00Z")
    report = stack.user_report("u_demo").body
    assert [p["purchaseId"] for p in report["purchases"]] == [purchase_id]
    (line,) = [c for c in report["claims"] if c["action"] == "granted"]
    assert line["actor"] == OPERATOR_ARN and "App Review" in line["detail"]

    ended = stack.admin("DELETE", GRANT, userId="u_demo", purchaseId=purchase_id.replace(":", "%3A"))

    assert ended.status == 200 and ended.body["state"] == "revoked"
    pro = stack.read("u_demo").body["entitlements"]["pro"]
    assert (pro["active"], pro["state"]) == (False, "revoked")


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ("not json", 400, "malformed_body"),
        ({"entitlement": 5}, 400, "invalid_request"),
        ({"expiresAt": None}, 400, "invalid_request"),
        ({"entitlement": "pro", "expiresAt": "tomorrow"}, 400, "invalid_request"),
        ({"entitlement": "pro", "expiresAt": "2001-01-01T00:00:00Z"}, 400, "invalid_request"),
        ({"entitlement": "pro", "reason": "x" * 501}, 400, "invalid_request"),
        ({"entitlement": "pro", "extra": 1}, 400, "invalid_request"),
        ({"entitlement": "platinum"}, 422, "unknown_entitlement"),
    ],
)
def test_a_bad_grant_is_refused_and_writes_nothing(stack, body, status, code):
    answer = grant(stack, "u_bad", body)
    assert (answer.status, answer.body["error"]["code"]) == (status, code)
    assert not [item for item in stack.table_items() if item["PK"].startswith(("PURCHASE#", "USER#"))]


def test_revoking_what_is_not_the_users_grant_is_a_404(stack, t0):
    claim(stack, "u_1", t0)
    answer = stack.admin("DELETE", GRANT, userId="u_1", purchaseId=APPLE_PURCHASE)
    assert (answer.status, answer.body["error"]["code"]) == (404, "grant_not_found")
    assert owners(stack) == ["u_1"]


def test_clearing_the_review_flag_of_an_unknown_user_is_a_404_and_of_a_known_one_200(stack, t0):
    answer = stack.admin("DELETE", "/v1/admin/users/{userId}/flags/refund-abuse", userId="u_nobody")
    assert (answer.status, answer.body["error"]["code"]) == (404, "user_not_found")
    claim(stack, "u_1", t0)
    answer = stack.admin("DELETE", "/v1/admin/users/{userId}/flags/refund-abuse", {"reason": "checked"}, userId="u_1")
    assert answer.status == 200 and answer.body["refundAbuse"]["flagged"] is False


def test_a_user_erases_their_own_account_and_no_one_elses(stack, t0):
    token = stack.read("u_me").body["appAccountToken"]
    claim(stack, None, t0, token=token)
    assert owners(stack) == ["u_me"]

    refused = erase_own(stack, "u_me", sub="u_someone_else")
    assert (refused.status, refused.body["error"]["code"]) == (403, "forbidden")
    assert owners(stack) == ["u_me"]

    done = erase_own(stack, "u_me")
    assert (done.status, done.body) == (204, None)
    assert owners(stack) == [] and stack.item("USER#u_me", "PROFILE") is None
    assert stack.item(f"TOKEN#{token}", "TOKEN") is None
    bodies = [zlib.decompress(i["body"].value) for i in stack.table_items() if i["PK"].startswith("EVENT#") and "body" in i]
    assert bodies and not [b for b in bodies if b"u_me" in b or token.encode() in b]  # the erasure's own: no one named
    assert erase_own(stack, "u_me").status == 204  # again: nothing left, still fine
    again = stack.read("u_me").body
    assert again["purchases"] == [] and again["appAccountToken"] != token


def test_an_operator_erases_an_account(stack, t0):
    claim(stack, "u_op", t0)
    answer = stack.admin("DELETE", "/v1/admin/users/{userId}", userId="u_op")
    assert answer.status == 204 and owners(stack) == []
    (line,) = [i for i in stack.table_items() if i["PK"] == "AUDIT#u_op"]
    assert (line["action"], line["actor"]) == ("erased", OPERATOR_ARN)
    assert stack.user_report("u_op").status == 404
