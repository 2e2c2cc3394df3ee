"""The examples of the operator console's routes: real outputs of `parity.operator_views` (and of
`parity.views` for the app's answer) for the made-up user of `examples`, at its fixed time."""

from __future__ import annotations

from datetime import timedelta

from .. import operator_views as views
from ..changes import change_detail
from ..domain.entitlements import EntitlementChange, compute_entitlements
from ..domain.replay import Step, encode
from ..domain.timeutil import rfc3339
from ..ports.operations import Activity, DeadLetterMessage, DeadLetterQueueState, EventRecord, RedriveOutcome
from ..services.operations import EMAIL_HINT, EventDetail, Health, Lookup, Match, ReconcileRequest
from .examples import CATALOG, GRANT_ID, NOW, OPERATOR, TOKEN, USER, grant_purchase

REPORT_ID = "20261122T100000Z-1a2b3c"
APP_STORE_PURCHASE = "app_store:2000000123456789"


def lookup() -> dict:
    return views.lookup_view(Lookup(TOKEN, [Match(USER, "appAccountToken")]))


def lookup_purchase() -> dict:
    matches = [Match(USER, "purchaseId", APP_STORE_PURCHASE), Match("u_456", "purchaseId", APP_STORE_PURCHASE)]
    return views.lookup_view(Lookup("2000000123456789", matches))


def lookup_email() -> dict:
    return views.lookup_view(Lookup("someone@example.com", [], EMAIL_HINT))


def _grant_record() -> EventRecord:
    """The stored event of a manual grant: its replay step (the grant written whole) and its change."""
    granted = grant_purchase()
    entitlement = compute_entitlements((granted,), CATALOG, granted.event_time)["pro"]
    event_id = f"grant:{GRANT_ID}"
    return EventRecord(
        "admin", event_id, "grant.created", granted.event_time, granted.event_time, "applied", granted.purchase_id,
        encode(Step(granted.purchase_id, 1, put=granted)),
        [change_detail(EntitlementChange(USER, "pro", None, entitlement), f"admin:{event_id}")],
    )  # fmt: skip


def event() -> dict:
    granted = grant_purchase()
    body = {
        "action": "grant", "userId": USER, "entitlement": "pro", "expiresAt": rfc3339(granted.expires_at),
        "actor": OPERATOR, "reason": "App Review demo account",
    }  # fmt: skip
    return views.event_detail_view(EventDetail(_grant_record(), body))


def _failed_record() -> EventRecord:
    received = NOW - timedelta(hours=3)
    return EventRecord(
        "app_store", "0f1e2d3c-example", "DID_RENEW", received, None, None, APP_STORE_PURCHASE, None, [],
        "StoreApiError: the App Store Server API answered 503", 5,
    )  # fmt: skip


def stats() -> dict:
    since = (NOW - timedelta(hours=6)).replace(minute=0, second=0, microsecond=0)
    hour = lambda ago: f"{NOW - timedelta(hours=ago):%Y-%m-%dT%H}"  # noqa: E731
    activity = Activity(
        since,
        events={("stripe", hour(5)): 4, ("stripe", hour(1)): 2, ("app_store", hour(3)): 1, ("admin", hour(0)): 1},
        changes={hour(5): 2, hour(3): 1},
        last_event={"stripe": NOW - timedelta(minutes=50), "app_store": NOW - timedelta(hours=3)},
        entitlements={("app_store", "grace_period", True): 1, ("stripe", "active", True): 12, ("stripe", "expired", False): 4},
        items_read=1840,
    )
    report = {"reportId": REPORT_ID, "status": "complete", "selected": 120, "counts": {"state_differs": 2, "repaired": 2}}
    queues = [DeadLetterQueueState("StoreEvents", "https://sqs.example/StoreEventsDLQ.fifo", 1, 0),
              DeadLetterQueueState("Reconcile", "https://sqs.example/ReconcileDLQ", 0, 0)]  # fmt: skip
    history = {"StoreEvents": [(NOW - timedelta(hours=2), 0.0), (NOW - timedelta(hours=1), 1.0)]}
    return views.health_view(Health(NOW, 6, activity, [report], queues, history))


def dead_letters() -> dict:
    letter = DeadLetterMessage(
        "7d9f3c2a-example", "StoreEvents", "app_store", "0f1e2d3c-example", {}, APP_STORE_PURCHASE, 5,
        NOW - timedelta(hours=2),
    )  # fmt: skip
    return views.dead_letters_view([(letter, _failed_record())])


def redrive() -> dict:
    return views.redrive_view(RedriveOutcome("StoreEvents", "move-task", None, "eyJ0YXNrSWQiOiJleGFtcGxlIn0="))


def redrive_one_by_one() -> dict:
    return views.redrive_view(RedriveOutcome("StoreEvents", "one-by-one", 1))


def reconcile() -> dict:
    return views.reconcile_view(ReconcileRequest(REPORT_ID, [APP_STORE_PURCHASE, "stripe:pi_3PqExample"]))
