"""EventBridge: `entitlement.changed` events, so that apps can be told to refresh."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TYPE_CHECKING

from ..domain.entitlements import EntitlementChange
from ..views import entitlement_view

if TYPE_CHECKING:
    from mypy_boto3_events import EventBridgeClient

SOURCE = "parity"
DETAIL_TYPE = "entitlement.changed"
_BATCH = 10  # PutEvents takes at most ten entries


def change_detail(change: EntitlementChange, cause: str) -> dict:
    return {
        "changeId": f"{cause}:{change.user_id}:{change.entitlement_id}",
        "cause": cause,
        "userId": change.user_id,
        "entitlement": change.entitlement_id,
        "old": None if change.old is None else entitlement_view(change.old),
        "new": None if change.new is None else entitlement_view(change.new),
    }


class EventBridgePublisher:
    def __init__(self, bus_name: str, client: EventBridgeClient | None = None) -> None:
        if client is None:
            import boto3

            client = boto3.client("events")
        self._bus = bus_name
        self._client = client

    def publish(self, changes: Sequence[EntitlementChange], cause: str) -> None:
        """At least once: a retried event publishes again, consumers dedupe on `changeId`."""
        entries = [
            {
                "EventBusName": self._bus,
                "Source": SOURCE,
                "DetailType": DETAIL_TYPE,
                "Detail": json.dumps(change_detail(change, cause)),
            }
            for change in changes
        ]
        for start in range(0, len(entries), _BATCH):
            response = self._client.put_events(Entries=entries[start : start + _BATCH])
            if response.get("FailedEntryCount"):
                raise RuntimeError(f"EventBridge refused {response['FailedEntryCount']} change events")
