"""The OpenAPI 3.1 document of every route (`GET /openapi.json`), generated
from `routes.ROUTES`: request bodies from `bodies` (the specification `parity.bodies` reads at run time), answers from
`models`, examples from the views themselves (`examples`). Committed twice, both written by

    PYTHONPATH=layers/common python -m parity.openapi --write

as `parity/openapi.json` in the layer (what the discovery function serves: this package, which needs
pydantic, is not imported at run time) and as docs/openapi.json.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any, Literal

from .routes import IAM, JWT, PUBSUB, ROUTES, STRIPE, Operation

VERSION = "0.1.0"
SERVED = Path(__file__).resolve().parent.parent / "openapi.json"  # what functions/discovery serves
COMMITTED = (SERVED, SERVED.parents[3] / "docs" / "openapi.json")
REF = "#/components/schemas/{model}"
PATH_PARAMETERS = {
    "userId": "The Parity user id: 1–256 printable characters without whitespace (the JWT's `sub` on app routes).",
    "purchaseId": "`<store>:<store key>`, e.g. `app_store:2000000123456789`; raw or percent-encoded.",
    "source": "Where the event came from: `stripe`, `app_store`, `play_store` or `admin` (an operator's action).",
    "eventId": "The event's id as stored (the store's, or an operator action's); percent-encoded as needed.",
}
SECURITY = {
    JWT: {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
        "description": "The app user's JWT (RS256/ES256) from AUTH_ISSUER for AUTH_AUDIENCE; `sub` is the user id.",
    },
    IAM: {
        "type": "apiKey",
        "in": "header",
        "name": "Authorization",
        "description": "AWS SigV4 (IAM, execute-api:Invoke) on AWS; `Bearer $ADMIN_TOKEN` on the local stack.",
    },
    STRIPE: {"type": "apiKey", "in": "header", "name": "Stripe-Signature", "description": "Stripe's signature of the raw body."},
    PUBSUB: {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
        "description": "The Pub/Sub push OIDC token (GOOGLE_PUBSUB_AUDIENCE, GOOGLE_PUBSUB_SERVICE_ACCOUNT).",
    },
}
TAGS = [
    {"name": "app", "description": "Apps, with the user's JWT (on AWS: the app HTTP API's JWT authorizer)."},
    {"name": "public", "description": "No auth (on AWS: routes of the app HTTP API without authorizer)."},
    {"name": "admin", "description": "Operators (on AWS: the admin HTTP API, IAM)."},
    {"name": "provider", "description": "Stores (on AWS: one Lambda function URL each)."},
]
DESCRIPTION = (
    "Parity keeps what a user paid for in Stripe, the App Store and Google Play in line with what the apps let "
    "that user do. Errors are always `{\"error\": {\"code\", \"message\"}}`; bodies over 1 MiB are refused with "
    "413. On AWS the app routes, the admin routes and each webhook have their own base URL (the stack's "
    "outputs); the local stack serves them all on one port."
)


Mode = Literal["validation", "serialization"]


def _schemas() -> tuple[dict[tuple[str, Mode], dict], dict[str, Any]]:
    """Each shape's schema (a `$ref` for models) and the components they refer to."""
    from pydantic import TypeAdapter

    inputs: dict[tuple[str, Mode], Any] = {}
    for operation in ROUTES:
        if operation.body is not None:
            inputs[(_name(operation.body), "validation")] = TypeAdapter(operation.body)
        for answer in operation.answers:
            if answer.shape is not None:
                inputs[(_name(answer.shape), "serialization")] = TypeAdapter(answer.shape)
    keyed, definitions = TypeAdapter.json_schemas(
        [(name, mode, adapter) for (name, mode), adapter in inputs.items()], ref_template=REF, by_alias=True
    )
    components = dict(definitions.get("$defs", {}))
    schemas: dict[tuple[str, Mode], dict] = {}
    for (name, mode), schema in keyed.items():
        if "$ref" in schema or (schema.get("type") == "object" and "properties" not in schema):
            schemas[name, mode] = schema
        else:  # an inline union (the receipt shapes): a component of its own
            components[name] = schema
            schemas[name, mode] = {"$ref": REF.format(model=name)}
    return schemas, components


def _name(shape: Any) -> str:
    """A shape's component name: the model's, or the name given to an annotated union."""
    from .bodies import Receipt

    return "Receipt" if shape is Receipt else shape.__name__


def _examples(examples: dict) -> dict:
    return {name: {"value": build()} for name, build in examples.items()}


def _operation(operation: Operation, schemas: dict) -> dict:
    out: dict[str, Any] = {
        "operationId": operation.operation_id,
        "tags": [operation.tag],
        "summary": operation.summary,
        "description": operation.description,
        "security": [{operation.auth: []}] if operation.auth else [],
    }
    parameters = [
        {"name": name, "in": "path", "required": True, "description": PATH_PARAMETERS[name], "schema": {"type": "string"}}
        for name in PATH_PARAMETERS
        if "{" + name + "}" in operation.path
    ]
    parameters += [
        {"name": q.name, "in": "query", "required": q.required, "description": q.description, "schema": q.schema}
        for q in operation.query
    ]
    if parameters:
        out["parameters"] = parameters
    if operation.body is not None:
        content: dict[str, Any] = {"schema": schemas[_name(operation.body), "validation"]}
        if operation.body_examples:
            content["examples"] = _examples(operation.body_examples)
        out["requestBody"] = {"required": operation.body_required, "content": {"application/json": content}}
    out["responses"] = {}
    for answer in operation.answers:
        entry: dict[str, Any] = {"description": answer.description}
        if answer.shape is not None:
            media: dict[str, Any] = {"schema": schemas[_name(answer.shape), "serialization"]}
            if answer.examples:
                media["examples"] = _examples(answer.examples)
            entry["content"] = {"application/json": media}
        out["responses"][str(answer.status)] = entry
    return out


@cache
def _document_text() -> str:
    schemas, components = _schemas()
    paths: dict[str, dict] = {}
    for operation in ROUTES:
        paths.setdefault(operation.path, {})[operation.method.lower()] = _operation(operation, schemas)
    from . import models

    components.update(_components_of(models.SignedEntitlementsClaims))
    document = {
        "openapi": "3.1.0",
        "info": {"title": "Parity", "version": VERSION, "description": DESCRIPTION},
        "tags": TAGS,
        "paths": paths,
        "components": {"schemas": dict(sorted(components.items())), "securitySchemes": SECURITY},
    }
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def _components_of(model: Any) -> dict:
    """A model's component (and those it refers to): documented without a route of its own."""
    from pydantic import TypeAdapter

    schema = TypeAdapter(model).json_schema(ref_template=REF, mode="serialization")
    definitions = schema.pop("$defs", {})
    return {model.__name__: schema, **definitions}


def document() -> dict:
    """The document (built once per process)."""
    return json.loads(_document_text())


def document_text() -> str:
    """The document as committed (`COMMITTED`: 2-space indents, a final newline)."""
    return _document_text()
