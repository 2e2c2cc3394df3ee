"""The ports: what the services need from the outside world, as Protocols, and the records they pass.

Adapters in `parity.adapters` (and the webhook verifiers in `parity.webhooks`) implement them against
AWS and the stores; tests use in-memory fakes. Services import from here, never an adapter.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..domain.names import on_first_use

# Where each name lives. Names resolve on first use (PEP 562): the Protocols are for type checking, and a
# function that only needs the records (the adapters do) does not pay for building every Protocol class
# at cold start.
_MODULE_OF = {
    "Clock": "clock",
    **dict.fromkeys(("BatchQueue", "ChangePublisher", "Queue", "RetryQueue"), "messaging"),
    **dict.fromkeys(
        (
            "Commit",
            "PendingUpdate",
            "PurchaseRead",
            "PurchaseWrite",
            "ReplayInput",
            "UserWrite",
        ),
        "records",
    ),
    **dict.fromkeys(("AppendResult", "EventFailures", "EventSummary", "StoredEvent"), "events"),
    **dict.fromkeys(
        (
            "AccountStore", "DriftRepository", "DriftStore", "ErasureRepository", "EventLog", "ReplayReader",
            "ReplayRepository", "Repository", "Users",
        ),
        "storage",
    ),
    **dict.fromkeys(("AppleVerifier", "AppStoreApi", "PlayApi", "PushVerifier", "StripeApi"), "stores"),
}
__all__ = [
    "AccountStore",
    "AppendResult",
    "AppleVerifier",
    "AppStoreApi",
    "BatchQueue",
    "ChangePublisher",
    "Clock",
    "Commit",
    "DriftRepository",
    "DriftStore",
    "ErasureRepository",
    "EventFailures",
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
    "Users",
]


__getattr__ = on_first_use(__name__, _MODULE_OF)


if TYPE_CHECKING:
    from .clock import Clock
    from .events import AppendResult, EventFailures, EventSummary, StoredEvent
    from .messaging import BatchQueue, ChangePublisher, Queue, RetryQueue
    from .records import Commit, PendingUpdate, PurchaseRead, PurchaseWrite, ReplayInput, UserWrite
    from .storage import (
        AccountStore,
        DriftRepository,
        DriftStore,
        ErasureRepository,
        EventLog,
        ReplayReader,
        ReplayRepository,
        Repository,
        Users,
    )
    from .stores import AppleVerifier, AppStoreApi, PlayApi, PushVerifier, StripeApi
