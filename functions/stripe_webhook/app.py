"""Stripe webhook (function URL): verify, store, enqueue, answer 200."""

from parity import bootstrap
from parity.http import HttpError, error_response, header, raw_body, response
from parity.observability import logger, metrics
from parity.settings import Settings
from parity.webhooks import RejectedWebhook

settings = Settings.from_env()
ingest = bootstrap.stripe_ingest(settings)

_UNAVAILABLE = {"not_configured"}  # our side: Stripe should retry later


@logger.inject_lambda_context
@metrics.log_metrics
def lambda_handler(event, context):
    try:
        if event.get("requestContext", {}).get("http", {}).get("method", "POST") != "POST":
            raise HttpError(405, "method_not_allowed", "Stripe webhooks are delivered with POST.")
        result = ingest.ingest(raw_body(event), header(event, "Stripe-Signature"))
    except RejectedWebhook as rejected:
        logger.warning("stripe webhook rejected", extra={"code": rejected.code})
        metrics.add_metric(name="WebhooksRejected", unit="Count", value=1)
        status = 503 if rejected.code in _UNAVAILABLE else 400
        return error_response(HttpError(status, rejected.code, str(rejected)))
    except HttpError as error:
        return error_response(error)
    logger.info("stripe event stored", extra={"event_id": result.event_id, "event_type": result.event_type, "duplicate": result.duplicate})
    metrics.add_metric(name="EventsDuplicateDelivery" if result.duplicate else "EventsIngested", unit="Count", value=1)
    return response(200, {"received": True, "eventId": result.event_id, "duplicate": result.duplicate})
