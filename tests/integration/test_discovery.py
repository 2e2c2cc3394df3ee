"""The discovery function's OpenAPI route, and real handler answers held to the document's schemas."""

from __future__ import annotations

import time

from jsonschema import Draft202012Validator

from parity.openapi import document
from tests.integration.test_signed_entitlements import get
from tests.support import stripe


def schema_of(doc: dict, path: str, method: str, status: str) -> Draft202012Validator:
    media = doc["paths"][path][method]["responses"][status]["content"]["application/json"]
    return Draft202012Validator({**media["schema"], "components": doc["components"]})


def test_the_openapi_route_serves_the_generated_document(stack):
    response = get(stack, "/openapi.json")
    assert response.status == 200 and response.headers["cache-control"] == "public, max-age=300"
    assert response.body == document()


def test_real_answers_match_the_documented_schemas(stack):
    doc = document()
    end = int(time.time()) + 3600
    stack.deliver(stripe.event("customer.subscription.created", stripe.subscription("sub_doc", "active", end, user_id="u_doc")))
    assert not stack.drain().failed
    answers = {
        ("/v1/users/{userId}/entitlements", "get", "200"): stack.read("u_doc").body,
        ("/v1/users/{userId}/entitlements", "get", "403"): stack.read("u_doc", sub="u_other").body,
        ("/.well-known/jwks.json", "get", "200"): get(stack, "/.well-known/jwks.json").body,
        ("/webhooks/stripe", "post", "200"): stack.post_stripe(stripe.event("customer.subscription.updated", stripe.subscription("sub_doc2"))).body,
        ("/v1/admin/users/{userId}", "get", "200"): stack.user_report("u_doc").body,
    }
    for (path, method, status), body in answers.items():
        errors = [error.message for error in schema_of(doc, path, method, status).iter_errors(body)]
        assert not errors, f"{method} {path} {status}: {errors}"
