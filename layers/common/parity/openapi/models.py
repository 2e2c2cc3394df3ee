"""The answers' JSON shapes as pydantic models, for the OpenAPI document only (the answers themselves are
built by `parity.views`). Every model forbids extra members and the document's examples are real outputs of
the views, validated against these schemas by a test: a field added to a view and not here fails it."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from ..domain.model import Ownership, State, Store
from ..domain.ownership import Action, Strategy

Timestamp = Annotated[str, Field(json_schema_extra={"format": "date-time"}, description="RFC 3339, UTC")]
Environment = Literal["production", "sandbox"]


class Shape(BaseModel):
    model_config = ConfigDict(extra="forbid")


class EntitlementAnswer(Shape):
    """One entitlement: `active` says whether access is granted now; the winning purchase's facts."""

    active: bool
    state: State
    expiresAt: Timestamp | None
    gracePeriodExpiresAt: Timestamp | None
    willRenew: bool
    store: Store
    productId: str | None
    purchaseId: str
    environment: Environment


class PurchaseAnswer(Shape):
    purchaseId: str
    store: Store
    productId: str | None
    state: State
    expiresAt: Timestamp | None
    entitlements: list[str]
    ownership: Ownership
    environment: Environment = Field(description="sandbox: Apple Sandbox, a Play test purchase, Stripe test mode")
    app: str | None = Field(description="the bundle id or package name it was bought in (null: Stripe, manual)")


class EntitlementsAnswer(Shape):
    """`GET /v1/users/{userId}/entitlements`, and the receipts route's 200."""

    userId: str
    appAccountToken: str | None = Field(description="the UUID apps pass to StoreKit and Play Billing")
    entitlements: dict[str, EntitlementAnswer]
    purchases: list[PurchaseAnswer]
    requestDate: Timestamp
    cacheUntil: Timestamp = Field(description="how long the app may trust this answer offline")
    signedEntitlements: str = Field(
        pattern=r"^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$",
        description=(
            "compact JWS (ES256, header kid) of {sub, iat, exp = cacheUntil, entitlements: {id: {active, state, "
            "expiresAt, store, environment}}}; verify with GET /.well-known/jwks.json"
        ),
    )


class Restored(Shape):
    """What a restore claimed, and what it left to other users (purchase ids)."""

    claimed: list[str]
    refused: list[str]


class ReceiptAnswer(EntitlementsAnswer):
    """The receipts route's 200: the entitlements after the claim; `restored` after `"restore": true`."""

    restored: Restored | None = None


class SignedEntitlement(Shape):
    """One entitlement inside `signedEntitlements`' payload."""

    active: bool
    state: State
    expiresAt: Timestamp | None
    store: Store
    environment: Environment


class SignedEntitlementsClaims(Shape):
    """The payload of `signedEntitlements` (a JWT claims set)."""

    sub: str
    iat: int
    exp: int
    entitlements: dict[str, SignedEntitlement]


class PendingAnswer(Shape):
    """202: the store could not be reached; the receipt is validated in the background."""

    status: Literal["pending"]
    message: str


class ErrorDetail(Shape):
    code: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    message: str


class ErrorAnswer(Shape):
    """Every error: `{"error": {"code", "message"}}`."""

    error: ErrorDetail


class Jwk(Shape):
    kty: Literal["EC"]
    crv: Literal["P-256"]
    x: str
    y: str
    kid: str = Field(description="RFC 7638 thumbprint of the key")
    alg: Literal["ES256"]
    use: Literal["sig"]


class Jwks(Shape):
    """The keys that verify `signedEntitlements`: the signing key first; during a rotation the previous too."""

    keys: list[Jwk]


class WebhookAnswer(Shape):
    """200: the event is durably stored and queued (a duplicate delivery too)."""

    received: Literal[True]
    eventId: str
    duplicate: bool


class AssignmentAnswer(Shape):
    purchaseId: str
    ownerIds: list[str]
    ownership: Literal["manual"]
    previousOwnerIds: list[str]


class MergeAnswer(Shape):
    userId: str
    fromUserId: str
    purchasesMoved: int
    merged: Literal[True]


class AuditAnswer(Shape):
    at: Timestamp
    action: Action
    userId: str
    purchaseId: str | None
    otherUserIds: list[str]
    strategy: Strategy | None
    actor: str | None
    detail: str | None
    source: str
    eventId: str


class EventAnswer(Shape):
    source: str
    eventId: str
    eventType: str
    receivedAt: Timestamp | None
    processedAt: Timestamp | None
    outcome: str | None


class AdminPurchaseAnswer(PurchaseAnswer):
    ownerIds: list[str]
    manualOwner: bool
    willRenew: bool
    gracePeriodExpiresAt: Timestamp | None
    grantsAccess: bool
    events: list[EventAnswer]


class RefundAbuse(Shape):
    """The refund-abuse review flag (the flag route's answer: without its history)."""

    flagged: bool
    flaggedAt: Timestamp | None
    refunds: int
    threshold: int


class ReportedRefundAbuse(RefundAbuse):
    """The flag in the user report: with its history (flags set and cleared, newest first)."""

    history: list[AuditAnswer]


class DoubleBilling(Shape):
    entitlement: str
    purchaseIds: list[str]


class Flags(Shape):
    refundAbuse: ReportedRefundAbuse
    doubleBilling: list[DoubleBilling]


class AdminUserAnswer(Shape):
    """`GET /v1/admin/users/{userId}`: purchases, claims, refusals, flags and the events behind them."""

    userId: str
    appAccountToken: str | None
    aliases: list[str]
    entitlements: dict[str, EntitlementAnswer]
    purchases: list[AdminPurchaseAnswer]
    claims: list[AuditAnswer]
    refusals: list[AuditAnswer]
    flags: Flags
    requestDate: Timestamp


# -- request bodies the routes take as they come (the receipts and admin bodies are `parity.bodies`)


class StripeEvent(BaseModel):
    """A Stripe event, verified with `Stripe-Signature` over the raw body."""

    model_config = ConfigDict(extra="allow")
    id: str
    type: str
    object: Literal["event"]
    data: dict


class AppleNotification(Shape):
    """An App Store Server Notification V2: a JWS whose x5c chain leads to a trusted Apple root."""

    signedPayload: str


class PubSubMessage(BaseModel):
    model_config = ConfigDict(extra="allow")
    data: str = Field(description="base64 of the Real-Time Developer Notification JSON")
    messageId: str
    publishTime: Timestamp | None = None
    attributes: dict[str, str] | None = None


class PubSubPush(BaseModel):
    """A Pub/Sub push envelope; `Authorization: Bearer <OIDC token>` authenticates it."""

    model_config = ConfigDict(extra="allow")
    message: PubSubMessage
    subscription: str
