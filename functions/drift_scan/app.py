"""Nightly drift scan (EventBridge schedule): queue every purchase due for a check with its store."""

from parity import bootstrap
from parity.observability import logger, metrics, traced
from parity.settings import Settings

settings = Settings.from_env()
scan = bootstrap.drift_scan(settings)


@logger.inject_lambda_context
@traced
@metrics.log_metrics
def lambda_handler(event, context):
    return scan.run()
