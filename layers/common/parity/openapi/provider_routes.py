"""The store webhooks of the route table (`routes.ROUTES`): on AWS, one Lambda function URL each."""

from __future__ import annotations

import base64
import json

from . import examples as ex
from . import models as m
from .operation import PUBSUB, STRIPE, TOO_LARGE, Answer, Operation, constant, error


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


PROVIDER_ROUTES: tuple[Operation, ...] = (
    Operation(
        "POST", "/webhooks/stripe", "stripeWebhook", "provider",
        "Stripe webhook events",
        "Verified with `Stripe-Signature` over the raw body (300 s tolerance), stored once, queued. On AWS: a "
        "Lambda function URL of its own.",
        (
            Answer(200, "Stored and queued (a duplicate too).", m.WebhookAnswer, {"stored": ex.webhook}),
            error(400, "Bad signature or body.", invalid_signature="No valid Stripe-Signature for this body."),
            TOO_LARGE,
            error(503, "No webhook secret configured: Stripe retries.", not_configured="STRIPE_WEBHOOK_SECRET is not set."),
        ),
        auth=STRIPE,
        body=m.StripeEvent,
        body_examples={"subscriptionUpdated": constant({"id": "evt_1QExample", "object": "event", "type": "customer.subscription.updated", "data": {"object": {"id": "sub_1QExample", "object": "subscription", "status": "active"}}})},
    ),
    Operation(
        "POST", "/webhooks/apple", "appleWebhook", "provider",
        "App Store Server Notifications V2",
        "The JWS's x5c chain must lead to a trusted root, with Apple's OIDs; bundle id and environment are "
        "checked. On AWS: a Lambda function URL of its own.",
        (
            Answer(200, "Stored and queued (a duplicate too).", m.WebhookAnswer, {"stored": ex.webhook}),
            error(400, "Unverifiable.", invalid_certificate_chain="The x5c chain does not lead to a trusted root."),
            TOO_LARGE,
        ),
        body=m.AppleNotification,
        body_examples={"notification": constant({"signedPayload": "eyJhbGciOiJFUzI1NiIsIng1YyI6WyJ...In0.eyJub3RpZmljYXRpb25UeXBlIjoi...In0.c2lnbmF0dXJl"})},
    ),
    Operation(
        "POST", "/webhooks/google", "googleWebhook", "provider",
        "Google Play Real-Time Developer Notifications (Pub/Sub push)",
        "`Authorization: Bearer <OIDC token>` with the configured audience and service-account email. On AWS: "
        "a Lambda function URL of its own.",
        (
            Answer(200, "Stored and queued (a duplicate too).", m.WebhookAnswer, {"stored": ex.webhook}),
            error(400, "A body that is no push envelope.", malformed_body="The request body is not a Pub/Sub push."),
            error(401, "No valid OIDC token.", invalid_token="The push token is missing or does not verify."),
            error(403, "Another sender.", forbidden_sender="The push token is not the configured service account's."),
            TOO_LARGE,
        ),
        auth=PUBSUB,
        body=m.PubSubPush,
        body_examples={"push": _pubsub_push},
    ),
)  # fmt: skip
