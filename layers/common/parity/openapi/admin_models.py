"""The answers of the admin routes added beside the user report (manual grants, the refund-abuse flag)
and of the operator console's routes, as pydantic models for the OpenAPI document only (the answers are
built by `parity.views` and `parity.operator_views`). Like `models`, every model forbids extra members."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field

from ..domain.model import State, Store
from .models import PurchaseAnswer, RefundAbuse, Shape, Timestamp

Hour = Annotated[str, Field(pattern=r"^\d{4}-\d{2}-\d{2}T\d{2}$", description="an hour, UTC: YYYY-MM-DDTHH")]


class GrantAnswer(PurchaseAnswer):
    """A manual grant (`store: manual`, `ownership: manual`) as a purchase of the user's; `state` is the
    grant's own (`active`, or `revoked` once revoked), `grantsAccess` whether it gives access now."""

    userId: str
    entitlement: str | None = Field(description="the entitlement it grants")
    grantsAccess: bool


class FlagAnswer(Shape):
    """`DELETE /v1/admin/users/{userId}/flags/refund-abuse`: the flag as it stands after (the user id is the
    one merged into, for an alias). Unlike the user report's, the flag here carries no `history`."""

    userId: str
    refundAbuse: RefundAbuse


# -- the operator console's routes


class LookupMatch(Shape):
    userId: str | None = Field(description="null: a purchase nobody holds")
    matched: Literal["userId", "appAccountToken", "purchaseId", "customer"]
    purchaseId: str | None = Field(description="the purchase that led there (matched: purchaseId)")


class LookupAnswer(Shape):
    """`GET /v1/admin/lookup?q=`: the users a user id, appAccountToken, purchase id or customer id finds."""

    query: str
    matches: list[LookupMatch]
    hint: str | None = Field(description="what to search instead (an email address finds nothing)")


class Failure(Shape):
    error: str = Field(description="the last processing error")
    failures: int | None


class EventRecordAnswer(Shape):
    """One stored event as operators see it: what processing made of it."""

    source: str
    eventId: str
    eventType: str | None
    receivedAt: Timestamp | None
    processedAt: Timestamp | None
    outcome: str | None
    purchaseId: str | None
    replayStep: dict[str, Any] | None = Field(description="the normalized write `parity replay` folds")
    changes: list[dict[str, Any]] = Field(description="the change events its commits recorded")
    failure: Failure | None


class EventDetailAnswer(EventRecordAnswer):
    """`GET /v1/admin/events/{source}/{eventId}`: the record and the verified body."""

    body: Any = Field(description="the verified body: JSON as JSON, else its text; null once erased or expired")


class EntitlementCount(Shape):
    store: Store
    state: State
    active: bool
    count: int


class Silence(Shape):
    lastEventAt: Timestamp | None
    hours: float | None = Field(description="hours since the store's last notification (null: none seen)")


class DriftSummary(Shape):
    reportId: str | None
    status: str | None
    selected: int
    found: int
    repaired: int
    errors: int
    kinds: dict[str, int]


class DepthPoint(Shape):
    at: Timestamp
    depth: float


class DeadLetterQueueAnswer(Shape):
    name: str = Field(description="the queue pair: StoreEvents, Reconcile")
    visible: int
    inFlight: int
    history: list[DepthPoint] = Field(description="its depth (hourly maximum), oldest first")


class HealthAnswer(Shape):
    """`GET /v1/admin/stats?hours=`: what the health page charts."""

    now: Timestamp
    since: Timestamp
    hours: list[Hour]
    storeEvents: dict[str, list[int]] = Field(description="events received per source and hour (as `hours`)")
    entitlementChanges: list[int] = Field(description="entitlement changes recorded per hour (as `hours`)")
    entitlements: list[EntitlementCount]
    silence: dict[str, Silence] = Field(description="per store that sends notifications")
    drift: list[DriftSummary] = Field(description="the latest drift reports, newest first")
    deadLetterQueues: list[DeadLetterQueueAnswer]
    itemsRead: int
    complete: bool = Field(description="false: the pass stopped at its item budget (see notes)")
    notes: list[str]


class DeadLetterAnswer(Shape):
    queue: str
    messageId: str
    source: str | None
    eventId: str | None
    subject: dict[str, Any] = Field(description="the short ids of a body naming no stored event")
    messageGroupId: str | None
    receiveCount: int
    sentAt: Timestamp | None
    event: EventRecordAnswer | None = Field(description="the event log's record of its event")


class DeadLettersAnswer(Shape):
    """`GET /v1/admin/dlq`: the dead letters of every DLQ, none consumed."""

    messages: list[DeadLetterAnswer]


class RedriveAnswer(Shape):
    """`POST /v1/admin/dlq/redrive`."""

    queue: str
    method: Literal["move-task", "one-by-one"]
    moved: int | None = Field(description="one by one: how many moved; a move task: null (SQS reports progress)")
    taskHandle: str | None


class PurgeAnswer(Shape):
    """`DELETE /v1/admin/dlq?queue=`."""

    queue: str
    purged: int = Field(description="about how many dead letters there were")


class ReconcileAnswer(Shape):
    """`POST /v1/admin/reconcile`: the checks queued, and the drift report they add up in."""

    reportId: str
    purchaseIds: list[str]
    queued: int
