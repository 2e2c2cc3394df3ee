"""The JSON of the admin routes the operator console adds (`services.operations`): lookup, one event,
health, dead letters, reconcile requests."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from .domain.timeutil import rfc3339
from .services.operations import WATCHED_SOURCES

if TYPE_CHECKING:
    from .ports.operations import DeadLetterMessage, EventRecord, RedriveOutcome
    from .services.operations import EventDetail, Health, Lookup, ReconcileRequest


def lookup_view(lookup: Lookup) -> dict:
    """`GET /v1/admin/lookup?q=`."""
    return {
        "query": lookup.query,
        "matches": [{"userId": m.user_id, "matched": m.matched, "purchaseId": m.purchase_id} for m in lookup.matches],
        "hint": lookup.hint,
    }


def event_record_view(record: EventRecord) -> dict:
    return {
        "source": record.source,
        "eventId": record.event_id,
        "eventType": record.event_type,
        "receivedAt": rfc3339(record.received_at),
        "processedAt": rfc3339(record.processed_at),
        "outcome": record.outcome,
        "purchaseId": record.purchase_id,
        "replayStep": record.replay_step,
        "changes": list(record.changes),
        "failure": None if record.last_error is None else {"error": record.last_error, "failures": record.failures},
    }


def event_detail_view(detail: EventDetail) -> dict:
    """`GET /v1/admin/events/{source}/{eventId}`: the verified body and what processing made of it."""
    return {**event_record_view(detail.record), "body": detail.body}


def _hours(start: datetime, end: datetime) -> list[str]:
    hours, at = [], start
    while at <= end:
        hours.append(f"{at:%Y-%m-%dT%H}")
        at += timedelta(hours=1)
    return hours


def health_view(health: Health) -> dict:
    """`GET /v1/admin/stats?hours=`: what the health page charts."""
    activity, now = health.activity, health.now
    hours = _hours(activity.since, now)
    sources = sorted({source for source, _ in activity.events} | set(WATCHED_SOURCES))
    entitlements = [
        {"store": store, "state": state, "active": active, "count": count}
        for (store, state, active), count in sorted(activity.entitlements.items())
    ]
    return {
        "now": rfc3339(now),
        "since": rfc3339(activity.since),
        "hours": hours,
        "storeEvents": {source: [activity.events.get((source, hour), 0) for hour in hours] for source in sources},
        "entitlementChanges": [activity.changes.get(hour, 0) for hour in hours],
        "entitlements": entitlements,
        "silence": {
            source: {
                "lastEventAt": rfc3339(activity.last_event.get(source)),
                "hours": None
                if source not in activity.last_event
                else round((now - activity.last_event[source]).total_seconds() / 3600, 1),
            }
            for source in WATCHED_SOURCES
        },
        "drift": [_drift(report) for report in health.reports],
        "deadLetterQueues": [
            {"name": q.name, "visible": q.visible, "inFlight": q.in_flight, "history": [
                {"at": rfc3339(at), "depth": value} for at, value in health.dlq_history.get(q.name, [])
            ]}
            for q in health.dead_letters
        ],  # fmt: skip
        "itemsRead": activity.items_read,
        "complete": activity.complete,
        "notes": list(health.notes),
    }


def _number(value: Any) -> int:
    return int(value or 0)


def _drift(report: dict) -> dict:
    counts = report.get("counts") or {}
    kinds = ("state_differs", "expiry_differs", "owner_missing", "unknown_at_store", "refunded_unnoticed", "stale_access")
    return {
        "reportId": report.get("reportId"),
        "status": report.get("status"),
        "selected": _number(report.get("selected")),
        "found": sum(_number(counts.get(kind)) for kind in kinds),
        "repaired": _number(counts.get("repaired")),
        "errors": _number(counts.get("errors")),
        "kinds": {kind: _number(counts.get(kind)) for kind in kinds if counts.get(kind)},
    }


def dead_letters_view(letters: Sequence[tuple[DeadLetterMessage, EventRecord | None]]) -> dict:
    """`GET /v1/admin/dlq`: the dead letters (none consumed) with what the event log says of each."""
    return {
        "messages": [
            {
                "queue": letter.queue,
                "messageId": letter.message_id,
                "source": letter.source,
                "eventId": letter.event_id,
                "subject": dict(letter.subject),
                "messageGroupId": letter.group,
                "receiveCount": letter.receive_count,
                "sentAt": rfc3339(letter.sent_at),
                "event": None if record is None else event_record_view(record),
            }
            for letter, record in letters
        ]
    }


def redrive_view(outcome: RedriveOutcome) -> dict:
    """`POST /v1/admin/dlq/redrive`."""
    return {"queue": outcome.queue, "method": outcome.method, "moved": outcome.moved, "taskHandle": outcome.task_handle}


def reconcile_view(request: ReconcileRequest) -> dict:
    """`POST /v1/admin/reconcile`: the checks queued, and the report they will add up in."""
    return {"reportId": request.report_id, "purchaseIds": request.purchase_ids, "queued": len(request.purchase_ids)}
