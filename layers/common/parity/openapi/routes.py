"""Every route Parity serves (app, admin, provider, public), with its body, answers and examples: the one
table the OpenAPI document is generated from. A test holds it to template.yaml's routes and the local
stack's, both ways."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .. import bodies
from . import examples as ex
from . import models as m

JWT, IAM, STRIPE, PUBSUB = "userJwt", "adminIam", "stripeSignature", "pubsubOidc"


@dataclass(frozen=True)
class Answer:
    status: int
    description: str
    shape: Any = None  # a pydantic model or annotated type; None: no body
    examples: dict[str, Callable[[], Any]] = field(default_factory=dict)


@dataclass(frozen=True)
class Operation:
    method: str
    path: str
    operation_id: str
    tag: str  # app | admin | provider | public
    summary: str
    description: str
    answers: tuple[Answer, ...]
    auth: str | None = None  # a security scheme of the document; None: none
    body: Any = None  # the request body's shape
    body_examples: dict[str, Callable[[], Any]] = field(default_factory=dict)


def _error(status: int, description: str, **codes: str) -> Answer:
    """An error answer; each example is one error code with its message."""
    return Answer(status, description, m.ErrorAnswer, {code: _error_example(code, text) for code, text in codes.items()})


def _error_example(code: str, message: str) -> Callable[[], dict]:
    return lambda: ex.error(code, message)


def _constant(value: Any) -> Callable[[], Any]:
    return lambda: value


def _pubsub_push() -> dict:
    notification = {
        "version": "1.0",
        "packageName": "com.example.app",
        "eventTimeMillis": "1795341600000",
        "subscriptionNotification": {"version": "1.0", "notificationType": 2, "purchaseToken": "opaque-token-up-to-150-chars"},
    }
    data = base64.b64encode(json.dumps(notification, separators=(",", ":")).encode()).decode()
    return {
        "message": {"data": data, "messageId": "1234567890", "publishTime": "2026-11-22T10:00:00Z"},
        "subscription": "projects/example/subscriptions/parity-rtdn",
    }


UNAUTHENTICATED = _error(401, "No valid token.", unauthorized="The bearer token is missing, expired or not signed by the identity provider.")
FORBIDDEN = _error(403, "The token is another user's.", forbidden="The token does not belong to this user.")
INVALID_USER = _error(400, "The user id is not 1–256 printable characters.", invalid_user_id="User ids are 1–256 printable characters without whitespace.")
TOO_LARGE = _error(413, "The body is over 1 MiB.", payload_too_large="The request body is larger than 1048576 bytes.")

ENTITLEMENTS_OK = Answer(200, "The user's entitlements and purchases, signed.", m.EntitlementsAnswer, {"grace": ex.entitlements})

ROUTES: tuple[Operation, ...] = (
    Operation(
        "GET", "/v1/users/{userId}/entitlements", "getEntitlements", "app",
        "What the user may use right now",
        "Every entitlement the user ever had; `active` says whether access is granted now. One DynamoDB Query. "
        "`signedEntitlements` lets the app trust the answer offline until `cacheUntil`.",
        (ENTITLEMENTS_OK, INVALID_USER, UNAUTHENTICATED, FORBIDDEN),
        auth=JWT,
    ),
    Operation(
        "POST", "/v1/users/{userId}/receipts", "submitReceipt", "app",
        "Submit a purchase for validation and claim",
        "The store validates the purchase; the user claims it under the configured strategy. The answer "
        "already reflects the claim.",
        (
            Answer(
                200, "The user's entitlements and purchases after the claim, signed; `restored` after a restore.",
                m.ReceiptAnswer, {"claimed": ex.entitlements, "restored": ex.restored},
            ),
            Answer(202, "The store could not be reached: the claim is retried in the background.", m.PendingAnswer, {"pending": ex.pending}),
            _error(400, "Not JSON, or a receipt the store does not vouch for.", malformed_body="The request body is not JSON.", unverifiable_receipt="The signed transaction does not verify."),
            UNAUTHENTICATED,
            FORBIDDEN,
            _error(409, "The strategy or a verified link refuses the claim.", purchase_owned_by_another_user="This purchase belongs to another user.", too_many_owners="This purchase is shared by as many users as allowed."),
            TOO_LARGE,
            _error(422, "JSON of no accepted shape.", invalid_receipt="The receipt does not match any accepted shape (store: ...)."),
            _error(503, "The store is not configured here.", not_configured="App Store receipts are not configured."),
        ),
        auth=JWT,
        body=bodies.Receipt,
        body_examples={
            "appStoreSignedTransaction": _constant({"store": "app_store", "signedTransaction": "eyJhbGciOiJFUzI1NiIsIng1YyI6WyJ...In0.eyJ0cmFuc2FjdGlvbklkIjoi...In0.c2lnbmF0dXJl"}),
            "appStoreTransactionId": _constant({"store": "app_store", "transactionId": "2000000123456789"}),
            "appStoreRestore": _constant({"store": "app_store", "transactionId": "2000000123456789", "restore": True}),
            "playStore": _constant({"store": "play_store", "packageName": "com.example.app", "productId": "pro_monthly", "purchaseToken": "opaque-token-up-to-150-chars"}),
            "stripe": _constant({"store": "stripe", "checkoutSessionId": "cs_test_a1B2c3D4"}),
        },
    ),
    Operation(
        "GET", "/.well-known/jwks.json", "getJwks", "public",
        "The keys that verify signedEntitlements",
        "ES256 public keys (kid: RFC 7638 thumbprint). During a rotation the previous key is listed after the "
        "current one. Cache it; fetch it again on an unknown kid.",
        (Answer(200, "A JWKS.", m.Jwks, {"keys": ex.jwks}),),
    ),
    Operation(
        "GET", "/openapi.json", "getOpenApi", "public",
        "This document",
        "The OpenAPI document of every route, generated from the code.",
        (Answer(200, "An OpenAPI 3.1 document.", dict),),
    ),
    Operation(
        "POST", "/webhooks/stripe", "stripeWebhook", "provider",
        "Stripe webhook events",
        "Verified with `Stripe-Signature` over the raw body (300 s tolerance), stored once, queued. On AWS: a "
        "Lambda function URL of its own.",
        (
            Answer(200, "Stored and queued (a duplicate too).", m.WebhookAnswer, {"stored": ex.webhook}),
            _error(400, "Bad signature or body.", invalid_signature="No valid Stripe-Signature for this body."),
            TOO_LARGE,
            _error(503, "No webhook secret configured: Stripe retries.", not_configured="STRIPE_WEBHOOK_SECRET is not set."),
        ),
        auth=STRIPE,
        body=m.StripeEvent,
        body_examples={"subscriptionUpdated": _constant({"id": "evt_1QExample", "object": "event", "type": "customer.subscription.updated", "data": {"object": {"id": "sub_1QExample", "object": "subscription", "status": "active"}}})},
    ),
    Operation(
        "POST", "/webhooks/apple", "appleWebhook", "provider",
        "App Store Server Notifications V2",
        "The JWS's x5c chain must lead to a trusted root, with Apple's OIDs; bundle id and environment are "
        "checked. On AWS: a Lambda function URL of its own.",
        (
            Answer(200, "Stored and queued (a duplicate too).", m.WebhookAnswer, {"stored": ex.webhook}),
            _error(400, "Unverifiable.", invalid_certificate_chain="The x5c chain does not lead to a trusted root."),
            TOO_LARGE,
        ),
        body=m.AppleNotification,
        body_examples={"notification": _constant({"signedPayload": "eyJhbGciOiJFUzI1NiIsIng1YyI6WyJ...In0.eyJub3RpZmljYXRpb25UeXBlIjoi...In0.c2lnbmF0dXJl"})},
    ),
    Operation(
        "POST", "/webhooks/google", "googleWebhook", "provider",
        "Google Play Real-Time Developer Notifications (Pub/Sub push)",
        "`Authorization: Bearer <OIDC token>` with the configured audience and service-account email. On AWS: "
        "a Lambda function URL of its own.",
        (
            Answer(200, "Stored and queued (a duplicate too).", m.WebhookAnswer, {"stored": ex.webhook}),
            _error(400, "A body that is no push envelope.", malformed_body="The request body is not a Pub/Sub push."),
            _error(401, "No valid OIDC token.", invalid_token="The push token is missing or does not verify."),
            _error(403, "Another sender.", forbidden_sender="The push token is not the configured service account's."),
            TOO_LARGE,
        ),
        auth=PUBSUB,
        body=m.PubSubPush,
        body_examples={"push": _pubsub_push},
    ),
    Operation(
        "PUT", "/v1/admin/purchases/{purchaseId}/owner", "assignOwner", "admin",
        "Manual association",
        "Makes the user the purchase's owner; it outranks every later claim until another manual association.",
        (
            Answer(200, "The purchase's owners now and before.", m.AssignmentAnswer, {"assigned": ex.assignment}),
            _error(400, "Not JSON, or an invalid id.", invalid_user_id="User ids are 1–256 printable characters without whitespace."),
            _error(403, "No IAM identity.", forbidden="Admin routes require IAM authorization."),
            _error(404, "No such purchase.", purchase_not_found="There is no purchase app_store:2000000123456789."),
            _error(422, "JSON of no accepted shape.", invalid_request="The request body does not match any accepted shape (userId: Field required)."),
        ),
        auth=IAM,
        body=bodies.OwnerAssignment,
        body_examples={"assign": _constant({"userId": "u_456", "reason": "support ticket 4711"})},
    ),
    Operation(
        "POST", "/v1/admin/users/{userId}/merge", "mergeUsers", "admin",
        "Merge a user into another",
        "After it, both ids read the merged entitlements.",
        (
            Answer(200, "The merge.", m.MergeAnswer, {"merged": ex.merge}),
            _error(400, "Not JSON, or an invalid id.", invalid_user_id="User ids are 1–256 printable characters without whitespace."),
            _error(403, "No IAM identity.", forbidden="Admin routes require IAM authorization."),
            _error(409, "The merge cannot be done.", merge_refused="A user cannot be merged into itself."),
            _error(422, "JSON of no accepted shape.", invalid_request="The request body does not match any accepted shape (fromUserId: Field required)."),
        ),
        auth=IAM,
        body=bodies.MergeRequest,
        body_examples={"merge": _constant({"fromUserId": "u_old_456"})},
    ),
    Operation(
        "GET", "/v1/admin/users/{userId}", "getUserReport", "admin",
        "A user's purchases, claims, refusals, flags and the events behind them",
        "What an operator needs to judge who may use what, and why.",
        (
            Answer(200, "The report.", m.AdminUserAnswer, {"report": ex.admin_user}),
            _error(400, "An invalid id.", invalid_user_id="User ids are 1–256 printable characters without whitespace."),
            _error(403, "No IAM identity.", forbidden="Admin routes require IAM authorization."),
            _error(404, "No such user.", user_not_found="There is no user u_123."),
        ),
        auth=IAM,
    ),
)  # fmt: skip
