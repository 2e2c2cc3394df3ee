"""Nightly drift scan (EventBridge schedule): queue every purchase due for a check with its store."""

from parity import bootstrap
from parity.observability import lambda_entry
from parity.settings import Settings

settings = Settings.from_env()
scan = bootstrap.drift_scan(settings)


@lambda_entry
def lambda_handler(event, context):
    return scan.run()
