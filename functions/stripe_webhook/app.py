"""Stripe webhook (function URL): verify `Stripe-Signature`, store, enqueue, answer 200."""

from parity import bootstrap
from parity.http import answer_webhook, header
from parity.observability import logger, metrics, traced
from parity.settings import Settings

settings = Settings.from_env()
ingest = bootstrap.stripe_ingest(settings)


@logger.inject_lambda_context
@traced
@metrics.log_metrics
def lambda_handler(event, context):
    return answer_webhook(event, "stripe", lambda body: ingest.ingest(body, header(event, "Stripe-Signature")))
