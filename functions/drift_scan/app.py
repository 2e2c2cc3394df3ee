"""Drift scan. On its schedule (EventBridge Scheduler): a new report, the catch-ups, and one message per
due-index shard on the shard queue. From the shard queue (one record per invocation): that shard's
purchases due for a check, queued for the reconcile workers."""

import json

from parity import bootstrap
from parity.observability import lambda_entry
from parity.settings import Settings

settings = Settings.from_env()
scan = bootstrap.drift_scan(settings)


@lambda_entry
def lambda_handler(event, context):
    records = event.get("Records") if isinstance(event, dict) else None
    if not records:
        return scan.start()
    # A failure raises: SQS delivers the shard again (selecting twice only queues a check twice).
    return [scan.scan_shard(json.loads(record["body"]), context.get_remaining_time_in_millis) for record in records]
