"""DynamoDB's Time to Live, on this machine: moto keeps items past their `ttl`, so the local stack deletes
them itself, as AWS does (the table's TimeToLiveSpecification in template.yaml names the attribute).

What carries a `ttl`: the raw body of each stored event (`EVENT_RETENTION_DAYS` after it arrived). The
event item itself (processed mark, outcome, replay step) has none and stays.
"""

from __future__ import annotations

import logging
import threading
import time

log = logging.getLogger("local.expiry")
SWEEP_SECONDS = 60.0  # AWS deletes expired items within days; here within a minute


def sweep(dynamodb, table: str, attribute: str = "ttl", now: float | None = None) -> int:
    """Delete every item whose `attribute` (epoch seconds) has passed; how many (one paged Scan)."""
    moment = int(time.time() if now is None else now)
    request = {
        "TableName": table,
        "FilterExpression": "attribute_exists(#ttl) AND #ttl <= :now",
        "ExpressionAttributeNames": {"#ttl": attribute},
        "ExpressionAttributeValues": {":now": {"N": str(moment)}},
        "ProjectionExpression": "PK, SK",
    }
    deleted = 0
    while True:
        page = dynamodb.scan(**request)
        for item in page.get("Items", []):
            dynamodb.delete_item(TableName=table, Key={"PK": item["PK"], "SK": item["SK"]})
            deleted += 1
        if "LastEvaluatedKey" not in page:
            return deleted
        request["ExclusiveStartKey"] = page["LastEvaluatedKey"]


class ExpirySweeper(threading.Thread):
    """`sweep` every `interval` seconds until stopped."""

    def __init__(self, dynamodb, table: str, stop: threading.Event, interval: float = SWEEP_SECONDS) -> None:
        super().__init__(name="ttl-sweeper", daemon=True)
        self._dynamodb, self._table, self._halt, self._interval = dynamodb, table, stop, interval

    def run(self) -> None:
        while not self._halt.wait(self._interval):
            try:
                deleted = sweep(self._dynamodb, self._table)
            except Exception as error:  # noqa: BLE001 - the next sweep tries again
                log.warning("TTL sweep failed: %s", error)
                continue
            if deleted:
                log.info("TTL: %d expired item(s) deleted", deleted)
