"""The app and public routes of the route table (`routes.ROUTES`)."""

from __future__ import annotations

from . import bodies
from . import examples as ex
from . import models as m
from .operation import (
    CONFLICT,
    FORBIDDEN,
    INVALID_USER,
    JWT,
    TOO_LARGE,
    UNAUTHENTICATED,
    Answer,
    Operation,
    constant,
    error,
)

ENTITLEMENTS_OK = Answer(200, "The user's entitlements and purchases, signed.", m.EntitlementsAnswer, {"grace": ex.entitlements})

APP_ROUTES: tuple[Operation, ...] = (
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
            error(400, "Not JSON, or a receipt the store does not vouch for.", malformed_body="The request body is not JSON.", unverifiable_receipt="The signed transaction does not verify."),
            UNAUTHENTICATED,
            FORBIDDEN,
            error(409, "The strategy or a verified link refuses the claim.", purchase_owned_by_another_user="This purchase belongs to another user.", too_many_owners="This purchase is shared by as many users as allowed."),
            TOO_LARGE,
            error(422, "JSON of no accepted shape.", invalid_receipt="The receipt does not match any accepted shape (store: ...)."),
            error(503, "The store is not configured here.", not_configured="App Store receipts are not configured."),
        ),
        auth=JWT,
        body=bodies.Receipt,
        body_examples={
            "appStoreSignedTransaction": constant({"store": "app_store", "signedTransaction": "eyJhbGciOiJFUzI1NiIsIng1YyI6WyJ...In0.eyJ0cmFuc2FjdGlvbklkIjoi...In0.c2lnbmF0dXJl"}),
            "appStoreTransactionId": constant({"store": "app_store", "transactionId": "2000000123456789"}),
            "appStoreRestore": constant({"store": "app_store", "transactionId": "2000000123456789", "restore": True}),
            "playStore": constant({"store": "play_store", "packageName": "com.example.app", "productId": "pro_monthly", "purchaseToken": "opaque-token-up-to-150-chars"}),
            "stripe": constant({"store": "stripe", "checkoutSessionId": "cs_test_a1B2c3D4"}),
        },
    ),
    Operation(
        "DELETE", "/v1/users/{userId}", "eraseAccount", "app",
        "Erase the user's own account",
        "The user's purchases stay as store records that belong to no one; the profile, entitlements, links "
        "(appAccountToken, Stripe customer) and the personal data of the audit trail and of the stored event "
        "bodies are gone, and one audit line without personal data records the erasure. A later read starts a "
        "new, empty account with a new appAccountToken. Erasing again (or an account never seen) is a 204 too.",
        (
            Answer(204, "Erased (or nothing left to erase)."),
            INVALID_USER,
            UNAUTHENTICATED,
            FORBIDDEN,
            CONFLICT,
        ),
        auth=JWT,
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
)  # fmt: skip
