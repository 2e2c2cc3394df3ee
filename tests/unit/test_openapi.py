"""The OpenAPI document: generated from the code, committed in the layer and as docs/openapi.json, valid
OpenAPI 3.1, with the routes template.yaml and the local stack serve (both ways), and examples that validate
against their schemas."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator
from openapi_spec_validator import validate

from local.functions import FUNCTION_URL_PATHS, from_template
from local.resources import load_template
from parity.openapi import COMMITTED, document, document_text
from parity.openapi.examples import example_signer
from tests.support.signing import verify

ROOT = Path(__file__).resolve().parents[2]
METHODS = ("get", "put", "post", "delete", "patch")


@pytest.fixture(scope="module")
def doc() -> dict:
    return document()


def documented(doc: dict) -> set[tuple[str, str]]:
    return {(method.upper(), path) for path, item in doc["paths"].items() for method in item if method in METHODS}


@pytest.mark.parametrize("path", COMMITTED, ids=lambda path: str(path.relative_to(ROOT)))
def test_the_committed_document_is_the_generated_one(path):
    """Both copies: the layer's (what the discovery function serves) and docs/openapi.json."""
    assert path.read_text() == document_text(), "regenerate: PYTHONPATH=layers/common python -m parity.openapi --write"


def test_the_document_is_valid_openapi_3_1(doc):
    validate(doc)
    assert doc["openapi"] == "3.1.0"


def test_the_document_and_the_template_have_the_same_routes(doc):
    template = load_template()
    served = set()
    for logical, resource in template["Resources"].items():
        if resource["Type"] != "AWS::Serverless::Function":
            continue
        for event in (resource["Properties"].get("Events") or {}).values():
            if event["Type"] == "HttpApi":
                served.add((event["Properties"]["Method"].upper(), event["Properties"]["Path"]))
        if "FunctionUrlConfig" in resource["Properties"]:
            served.add(("POST", FUNCTION_URL_PATHS[logical]))
    assert documented(doc) == served


def test_the_document_and_the_local_stack_have_the_same_routes(doc):
    local = {(route.method, route.path) for route in from_template(load_template()).routes}
    assert documented(doc) == local


def test_every_operation_says_who_may_call_it_and_what_it_answers(doc):
    for path, item in doc["paths"].items():
        for method, operation in item.items():
            assert operation["responses"], (method, path)
            assert "security" in operation and operation["summary"], (method, path)
            if method in ("post", "put"):
                assert operation["requestBody"]["content"]["application/json"]["examples"], (method, path)


def _validator(doc: dict, schema: dict) -> Draft202012Validator:
    return Draft202012Validator({**schema, "components": doc["components"]})


def _examples(doc: dict):
    for path, item in doc["paths"].items():
        for method, operation in item.items():
            media = operation.get("requestBody", {}).get("content", {}).get("application/json")
            if media:
                yield f"{method} {path} request", media["schema"], media.get("examples", {})
            for status, answer in operation["responses"].items():
                media = answer.get("content", {}).get("application/json")
                if media:
                    yield f"{method} {path} {status}", media["schema"], media.get("examples", {})


def test_every_example_validates_against_its_schema(doc):
    checked = 0
    for where, schema, examples in _examples(doc):
        validator = _validator(doc, schema)
        for name, example in examples.items():
            errors = [error.message for error in validator.iter_errors(example["value"])]
            assert not errors, f"{where} example {name}: {errors}"
            checked += 1
    assert checked >= 30


def test_the_schemas_reject_what_the_answers_do_not_hold(doc):
    answer = doc["paths"]["/v1/users/{userId}/entitlements"]["get"]["responses"]["200"]["content"]["application/json"]
    example = answer["examples"]["grace"]["value"]
    validator = _validator(doc, answer["schema"])
    assert not validator.is_valid({**example, "unexpected": 1})
    assert not validator.is_valid({key: value for key, value in example.items() if key != "signedEntitlements"})


def test_the_signed_entitlements_example_verifies_with_the_jwks_example(doc):
    jwks = doc["paths"]["/.well-known/jwks.json"]["get"]["responses"]["200"]["content"]["application/json"]["examples"]
    answer = doc["paths"]["/v1/users/{userId}/entitlements"]["get"]["responses"]["200"]["content"]["application/json"]
    token = answer["examples"]["grace"]["value"]["signedEntitlements"]
    claims = verify(token, jwks["keys"]["value"], check_exp=False)
    assert _validator(doc, {"$ref": "#/components/schemas/SignedEntitlementsClaims"}).is_valid(claims)
    assert claims["entitlements"]["lifetime"]["environment"] == "sandbox"
    assert example_signer().jwks() == jwks["keys"]["value"]


def test_the_receipt_schema_is_the_one_the_route_validates_with(doc):
    schema = {"$ref": "#/components/schemas/Receipt"}
    validator = _validator(doc, schema)
    assert validator.is_valid({"store": "stripe", "checkoutSessionId": "cs_test_1"})
    assert not validator.is_valid({"store": "amazon", "receipt": "x"})
    assert json.dumps(doc).count('"Receipt"') >= 1


def test_every_path_parameter_and_query_parameter_is_described(doc):
    for path, item in doc["paths"].items():
        names = {part[1:-1] for part in path.split("/") if part.startswith("{")}
        for method, operation in item.items():
            parameters = operation.get("parameters", [])
            assert {p["name"] for p in parameters if p["in"] == "path"} == names, (method, path)
            assert all(p["description"] and p["schema"] for p in parameters), (method, path)
    queries = {
        (method, path): {p["name"]: p["required"] for p in operation.get("parameters", []) if p["in"] == "query"}
        for path, item in doc["paths"].items()
        for method, operation in item.items()
    }
    assert queries["get", "/v1/admin/lookup"] == {"q": True}
    assert queries["get", "/v1/admin/stats"] == {"hours": False}
    assert queries["get", "/v1/admin/dlq"] == {"max": False}
    assert queries["delete", "/v1/admin/dlq"] == {"queue": True}


def test_erasures_answer_204_without_a_body(doc):
    for path in ("/v1/users/{userId}", "/v1/admin/users/{userId}"):
        answers = doc["paths"][path]["delete"]["responses"]
        assert "content" not in answers["204"] and "200" not in answers, path


def test_the_flag_answer_is_the_report_flag_without_its_history(doc):
    """The two views of the refund-abuse flag differ (the report's carries `history`): each schema holds its own."""
    cleared = doc["paths"]["/v1/admin/users/{userId}/flags/refund-abuse"]["delete"]["responses"]["200"]
    media = cleared["content"]["application/json"]
    example = media["examples"]["cleared"]["value"]
    validator = _validator(doc, media["schema"])
    assert validator.is_valid(example)
    assert not validator.is_valid({**example, "refundAbuse": {**example["refundAbuse"], "history": []}})
    report = doc["paths"]["/v1/admin/users/{userId}"]["get"]["responses"]["200"]["content"]["application/json"]
    assert report["examples"]["report"]["value"]["flags"]["refundAbuse"]["history"]


def test_a_grant_is_a_manual_purchase_and_its_body_allows_nothing_else(doc):
    granted = doc["paths"]["/v1/admin/users/{userId}/grants"]["post"]
    example = granted["responses"]["201"]["content"]["application/json"]["examples"]["granted"]["value"]
    assert example["store"] == "manual" and example["ownership"] == "manual"
    assert example["purchaseId"].startswith("manual:")
    body = _validator(doc, granted["requestBody"]["content"]["application/json"]["schema"])
    assert body.is_valid({"entitlement": "pro", "expiresAt": None})
    assert not body.is_valid({"entitlement": "pro", "until": "2026-12-21T10:00:00Z"})
