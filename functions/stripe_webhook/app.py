"""Stripe webhook (function URL): verify `Stripe-Signature`, store, enqueue, answer 200."""

from parity import bootstrap
from parity.http import answer_webhook, header
from parity.observability import lambda_entry
from parity.settings import Settings

settings = Settings.from_env()
ingest = bootstrap.stripe_ingest(settings)


@lambda_entry
def lambda_handler(event, context):
    return answer_webhook(event, "stripe", lambda body: ingest.ingest(body, header(event, "Stripe-Signature")))
