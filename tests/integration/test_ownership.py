"""The admin function's manual association route against moto: what it refuses at the HTTP edge, and
a percent-encoded purchase id. The ownership rules themselves (strategies, associations, merges, the
audit trail, refund abuse, double billing) are tested on the in-memory fakes:
tests/unit/test_claims_and_admin.py."""

from __future__ import annotations

import itertools

import pytest

from tests.support.domain import app_store_claim
from tests.support.harness import Response
from tests.support.lambda_events import LambdaContext, admin_event

APPLE_KEY = "2000000000000001"
APPLE_PURCHASE = f"app_store:{APPLE_KEY}"
_ids = itertools.count(1)


def claim(stack, user: str | None, t0: int, store_key: str = APPLE_KEY, token: str | None = None, days: int = 30):
    """A store update for one App Store purchase claimed by `user` (or by whoever `token` names)."""
    update = app_store_claim(user, t0, store_key, f"n_{next(_ids)}", token, days)
    return stack.processor.service.apply(update, source="app_store")


def owners(stack, purchase_id: str = APPLE_PURCHASE) -> list[str]:
    return list(stack.purchase_item(purchase_id).get("ownerIds") or [])


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        (b"not json", 400, "malformed_body"),
        (b'{"user": "u_1"}', 422, "invalid_request"),
        (b'{"userId": ""}', 400, "invalid_user_id"),
        (b'{"userId": "has spaces"}', 400, "invalid_user_id"),
    ],
)
def test_a_malformed_association_is_refused_and_changes_nothing(stack, t0, body, status, code):
    claim(stack, "u_1", t0)
    event = admin_event("PUT", "/v1/admin/purchases/{purchaseId}/owner", {"purchaseId": APPLE_PURCHASE})
    event["body"] = body.decode()
    answer = Response.of(stack.function("admin").lambda_handler(event, LambdaContext("parity-admin")))
    assert (answer.status, answer.body["error"]["code"]) == (status, code)
    assert owners(stack) == ["u_1"]


def test_an_unknown_purchase_is_a_404(stack):
    answer = stack.assign_owner("app_store:999", "u_1")
    assert (answer.status, answer.body["error"]["code"]) == (404, "purchase_not_found")


def test_an_admin_request_without_an_iam_identity_is_refused(stack, t0):
    claim(stack, "u_1", t0)
    answer = stack.admin("PUT", "/v1/admin/purchases/{purchaseId}/owner", {"userId": "u_2"}, iam=False, purchaseId=APPLE_PURCHASE)
    assert (answer.status, answer.body["error"]["code"]) == (403, "forbidden")
    assert owners(stack) == ["u_1"]


def test_a_percent_encoded_purchase_id_names_the_same_purchase(stack, t0):
    claim(stack, "u_1", t0)
    answer = stack.assign_owner(APPLE_PURCHASE.replace(":", "%3A"), "u_2")
    assert answer.status == 200 and owners(stack) == ["u_2"]

