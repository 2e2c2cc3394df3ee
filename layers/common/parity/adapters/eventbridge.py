"""EventBridge: `entitlement.changed` events, so that apps can be told to refresh, and the user events
operators act on (`user.flagged_for_review`, `billing.double_billing_detected`, `user.merged`)."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mypy_boto3_events import EventBridgeClient

SOURCE = "parity"
DETAIL_TYPE = "entitlement.changed"
_BATCH = 10  # PutEvents takes at most ten entries


class EventBridgePublisher:
    def __init__(self, bus_name: str, client: EventBridgeClient | None = None) -> None:
        if client is None:
            import boto3

            client = boto3.client("events")
        self._bus = bus_name
        self._client = client

    def publish(self, details: Sequence[Mapping]) -> None:
        """At least once: a retried event publishes again, consumers dedupe on `changeId`."""
        entries = [
            {
                "EventBusName": self._bus,
                "Source": SOURCE,
                "DetailType": detail.get("type", DETAIL_TYPE),
                "Detail": json.dumps(detail),
            }
            for detail in details
        ]
        for start in range(0, len(entries), _BATCH):
            response = self._client.put_events(Entries=entries[start : start + _BATCH])
            if response.get("FailedEntryCount"):
                raise RuntimeError(f"EventBridge refused {response['FailedEntryCount']} change events")
