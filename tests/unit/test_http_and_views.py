"""HTTP plumbing (`parity.http`), the contract's JSON shapes (`parity.views`) and change events (`parity.changes`)."""

from __future__ import annotations

import base64
import json

import pytest

from parity.changes import change_detail
from parity.domain.catalog import Catalog
from parity.domain.entitlements import EntitlementChange, compute_entitlements
from parity.domain.errors import ParityError, PayloadTooLarge
from parity.domain.model import State
from parity.http import (
    error_response,
    header,
    path_parameter,
    raw_body,
    require_own_user,
    response,
    status_of,
)
from parity.results import UserEntitlements
from parity.settings import MAX_BODY_BYTES
from parity.views import entitlement_view, entitlements_response, error_body, purchase_view, signed_claims
from tests.support.domain import day, lifetime, purchase
from tests.support.signing import SIGNER, verify

MIB = 1024 * 1024


def http_event(body=None, base64_encoded=False, sub=None, headers=None, path=None):
    event = {"body": body, "isBase64Encoded": base64_encoded, "headers": headers or {}}
    if sub is not None:
        event["requestContext"] = {"authorizer": {"jwt": {"claims": {"sub": sub}}}}
    if path is not None:
        event["pathParameters"] = path
    return event


# --------------------------------------------------------------------------- raw_body


def test_the_limit_is_one_mebibyte():
    assert MAX_BODY_BYTES == MIB


def test_a_text_body_is_returned_as_its_utf8_bytes():
    assert raw_body(http_event('{"name":"Zoë"}')) == '{"name":"Zoë"}'.encode()


def test_a_base64_body_is_decoded_to_the_bytes_sent():
    sent = b'{"signed":true}\n\x00\xff'
    assert raw_body(http_event(base64.b64encode(sent).decode(), base64_encoded=True)) == sent


def test_a_missing_body_is_empty():
    assert raw_body(http_event(None)) == b""


def test_a_body_of_exactly_one_mebibyte_is_accepted():
    assert len(raw_body(http_event("x" * MIB))) == MIB


@pytest.mark.parametrize("base64_encoded", [False, True])
def test_a_body_over_one_mebibyte_is_refused_with_413(base64_encoded):
    data = b"x" * (MIB + 1)
    body = base64.b64encode(data).decode() if base64_encoded else data.decode()
    with pytest.raises(ParityError) as caught:
        raw_body(http_event(body, base64_encoded=base64_encoded))
    assert (status_of(caught.value), caught.value.code) == (413, "payload_too_large")


def test_a_body_flagged_base64_that_is_not_base64_is_a_400():
    with pytest.raises(ParityError) as caught:
        raw_body(http_event("not base64!", base64_encoded=True))
    assert status_of(caught.value) == 400


def test_the_limit_counts_bytes_not_characters():
    # 2-byte characters: fewer than 1 MiB characters, more than 1 MiB bytes.
    with pytest.raises(ParityError) as caught:
        raw_body(http_event("é" * (MIB // 2 + 1)))
    assert status_of(caught.value) == 413


# --------------------------------------------------------------------------- auth and request parts


def test_a_user_may_act_on_their_own_user_id():
    assert require_own_user(http_event(sub="u_1"), "u_1") is None


def test_no_verified_subject_is_401():
    with pytest.raises(ParityError) as caught:
        require_own_user(http_event(), "u_1")
    assert (status_of(caught.value), caught.value.code) == (401, "unauthorized")


def test_another_users_token_is_403():
    with pytest.raises(ParityError) as caught:
        require_own_user(http_event(sub="u_2"), "u_1")
    assert (status_of(caught.value), caught.value.code) == (403, "forbidden")


def test_headers_are_read_case_insensitively_as_api_gateway_lower_cases_them():
    event = http_event(headers={"stripe-signature": "t=1,v1=abc"})
    assert header(event, "Stripe-Signature") == "t=1,v1=abc"
    assert header(http_event(), "Stripe-Signature") is None


@pytest.mark.parametrize("sent", ["app_store:2000000123456789", "app_store%3A2000000123456789"])
def test_a_purchase_id_in_the_path_may_be_raw_or_percent_encoded(sent):
    assert path_parameter(http_event(path={"purchaseId": sent}), "purchaseId") == "app_store:2000000123456789"


def test_a_missing_path_parameter_is_400():
    with pytest.raises(ParityError) as caught:
        path_parameter(http_event(path={}), "userId")
    assert status_of(caught.value) == 400


# --------------------------------------------------------------------------- responses and errors


def test_errors_have_the_contract_shape():
    answer = error_response(PayloadTooLarge("The request body is too large."))
    assert answer["statusCode"] == 413
    assert answer["headers"]["content-type"] == "application/json"
    assert json.loads(answer["body"]) == {
        "error": {"code": "payload_too_large", "message": "The request body is too large."}
    }


def test_error_body_shape():
    assert error_body("purchase_owned_by_another_user", "Owned.") == {
        "error": {"code": "purchase_owned_by_another_user", "message": "Owned."}
    }


def test_responses_are_json_and_not_cached_by_intermediaries():
    answer = response(200, {"status": "ok"}, headers={"x-request-id": "r1"})
    assert json.loads(answer["body"]) == {"status": "ok"}
    assert answer["headers"] == {"content-type": "application/json", "cache-control": "no-store", "x-request-id": "r1"}


# --------------------------------------------------------------------------- views


CATALOG = Catalog.from_document({"products": {"price_pro_monthly": ["pro"], "price_lifetime": ["pro", "lifetime"]}})


def test_the_entitlements_response_has_the_contract_shape():
    # GIVEN a user holding a subscription in grace and a refunded lifetime purchase
    in_grace = purchase(
        State.GRACE_PERIOD, day(9), grace_ends_at=day(25), will_renew=True, owner_ids=("u_1",), store_key="sub_1"
    )
    refunded = lifetime(State.REVOKED, owner_ids=("u_2", "u_1"), store_key="pi_1")
    now = day(10)
    entitlements = compute_entitlements([in_grace, refunded], CATALOG, now)

    # WHEN the response is built
    body = entitlements_response(
        UserEntitlements(
            "u_1", "6f1c0c3e-3b7e-4e5b-9a57-7f8a2f0c1d11", entitlements, [refunded, in_grace], CATALOG, now, day(11)
        ),
        SIGNER,
    )

    # THEN it reads as the contract shows, signed: the payload repeats what gives access, until cacheUntil
    claims = verify(body.pop("signedEntitlements"), SIGNER.jwks(), check_exp=False)
    assert claims == {
        "sub": "u_1",
        "iat": int(now.timestamp()),
        "exp": int(day(11).timestamp()),
        "entitlements": {
            "lifetime": {
                "active": False, "state": "revoked", "expiresAt": None, "store": "stripe", "environment": "production"
            },
            "pro": {
                "active": True,
                "state": "grace_period",
                "expiresAt": "2026-01-10T00:00:00Z",
                "store": "stripe",
                "environment": "production",
            },
        },
    }
    assert body == {
        "userId": "u_1",
        "appAccountToken": "6f1c0c3e-3b7e-4e5b-9a57-7f8a2f0c1d11",
        "entitlements": {
            "lifetime": {
                "active": False,
                "state": "revoked",
                "expiresAt": None,
                "gracePeriodExpiresAt": None,
                "willRenew": False,
                "store": "stripe",
                "productId": "price_lifetime",
                "purchaseId": "stripe:pi_1",
                "environment": "production",
            },
            "pro": {
                "active": True,
                "state": "grace_period",
                "expiresAt": "2026-01-10T00:00:00Z",
                "gracePeriodExpiresAt": "2026-01-26T00:00:00Z",
                "willRenew": True,
                "store": "stripe",
                "productId": "price_pro_monthly",
                "purchaseId": "stripe:sub_1",
                "environment": "production",
            },
        },
        "purchases": [
            {
                "purchaseId": "stripe:pi_1",
                "store": "stripe",
                "productId": "price_lifetime",
                "state": "revoked",
                "expiresAt": None,
                "entitlements": ["pro", "lifetime"],
                "ownership": "shared",
                "environment": "production",
                "app": None,
            },
            {
                "purchaseId": "stripe:sub_1",
                "store": "stripe",
                "productId": "price_pro_monthly",
                "state": "grace_period",
                "expiresAt": "2026-01-10T00:00:00Z",
                "entitlements": ["pro"],
                "ownership": "owner",
                "environment": "production",
                "app": None,
            },
        ],
        "requestDate": "2026-01-11T00:00:00Z",
        "cacheUntil": "2026-01-12T00:00:00Z",
    }


def test_a_purchase_view_shows_the_effective_state_and_manual_ownership():
    manual = purchase(State.ACTIVE, day(30), owner_ids=("u_1",), manual_owner=True)
    view = purchase_view(manual, "u_1", CATALOG)
    assert (view["state"], view["ownership"]) == ("active", "manual")


def test_a_user_without_purchases_gets_empty_entitlements_and_purchases():
    body = entitlements_response(UserEntitlements("u_1", None, {}, [], CATALOG, day(0), day(1)), SIGNER)
    assert (body["entitlements"], body["purchases"]) == ({}, [])
    assert verify(body["signedEntitlements"], SIGNER.jwks(), check_exp=False)["entitlements"] == {}


def test_a_signed_entitlement_carries_its_purchase_environment():
    sandbox = purchase(State.ACTIVE, day(30), owner_ids=("u_1",)).with_changes(environment="sandbox")
    read = UserEntitlements("u_1", None, compute_entitlements([sandbox], CATALOG, day(1)), [sandbox], CATALOG, day(1), day(2))
    assert signed_claims(read)["entitlements"]["pro"]["environment"] == "sandbox"


def test_a_change_detail_names_old_and_new_and_is_stable_across_retries():
    new = compute_entitlements([purchase(State.ACTIVE, day(30))], CATALOG, day(1))["pro"]
    change = EntitlementChange("u_1", "pro", None, new)
    first, retried = change_detail(change, "stripe:evt_1"), change_detail(change, "stripe:evt_1")
    assert first == retried
    assert first["changeId"] == "stripe:evt_1:u_1:pro"
    assert (first["userId"], first["entitlement"], first["old"]) == ("u_1", "pro", None)
    assert first["new"]["active"] is True


def test_a_sandbox_purchase_says_its_environment_and_app_on_purchases_entitlements_and_changes():
    # GIVEN App Review's Sandbox purchase, bought in the iOS app
    sandbox = purchase(State.ACTIVE, day(30), owner_ids=("u_1",)).with_changes(
        environment="sandbox", app="com.example.app"
    )
    entitlement = compute_entitlements([sandbox], CATALOG, day(1))["pro"]
    # THEN the purchase, the entitlement and the change event all say so
    assert {k: purchase_view(sandbox, "u_1", CATALOG)[k] for k in ("environment", "app")} == {
        "environment": "sandbox",
        "app": "com.example.app",
    }
    assert entitlement_view(entitlement)["environment"] == "sandbox"
    assert change_detail(EntitlementChange("u_1", "pro", None, entitlement), "app_store:n1")["environment"] == "sandbox"
    # and one that ends (no new entitlement) names the environment of the one it leaves
    assert change_detail(EntitlementChange("u_1", "pro", entitlement, None), "app_store:n2")["environment"] == "sandbox"
