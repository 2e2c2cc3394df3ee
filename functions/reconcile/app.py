"""Reconcile-queue worker: checks each purchase with its store and repairs drift; each batch adds its
counts to the scan's report. Concurrency is capped by the event source (the stores' rate limits)."""

import json
from collections import defaultdict

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from parity import bootstrap
from parity.observability import logger, metrics
from parity.settings import Settings

settings = Settings.from_env()
reconciler = bootstrap.reconciler(settings)
processor = BatchProcessor(event_type=EventType.SQS)


@logger.inject_lambda_context
@metrics.log_metrics
def lambda_handler(event, context):
    checks, errors = defaultdict(list), defaultdict(int)

    def record_handler(record: SQSRecord) -> str:
        message = json.loads(record.body)
        report_id = message.get("reportId") or "manual"
        try:
            check = reconciler.handle(message)
        except Exception:
            errors[report_id] += 1
            raise
        logger.info("checked", extra={"subject": check.subject, "status": check.status, "drift": sorted(check.kinds)})
        checks[report_id].append(check)
        return check.status

    response = process_partial_response(event=event, record_handler=record_handler, processor=processor, context=context)
    for report_id in checks.keys() | errors.keys():
        reconciler.report(report_id, checks[report_id], errors[report_id])
    return response
