"""The ports: what the services need from the outside world, as Protocols, and the records they pass.

Adapters in `parity.adapters` (and the webhook verifiers in `parity.webhooks`) implement them against
AWS and the stores; tests use in-memory fakes. Services import from here, never an adapter.
"""

from .clock import Clock
from .messaging import BatchQueue, ChangePublisher, Queue, RetryQueue
from .records import (
    AppendResult,
    Commit,
    EventSummary,
    PendingUpdate,
    PurchaseRead,
    PurchaseWrite,
    ReplayInput,
    StoredEvent,
    UserWrite,
)
from .storage import DriftRepository, DriftStore, EventLog, ReplayReader, ReplayRepository, Repository
from .stores import AppleVerifier, AppStoreApi, PlayApi, PushVerifier, StripeApi

__all__ = [
    "AppendResult",
    "AppleVerifier",
    "AppStoreApi",
    "BatchQueue",
    "ChangePublisher",
    "Clock",
    "Commit",
    "DriftRepository",
    "DriftStore",
    "EventLog",
    "EventSummary",
    "PendingUpdate",
    "PlayApi",
    "PurchaseRead",
    "PurchaseWrite",
    "PushVerifier",
    "Queue",
    "ReplayInput",
    "ReplayReader",
    "ReplayRepository",
    "Repository",
    "RetryQueue",
    "StoredEvent",
    "StripeApi",
    "UserWrite",
]
