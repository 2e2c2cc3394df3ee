"""App Store Server Notifications V2 (function URL): verify the JWS and its chain, store, enqueue, answer 200."""

from parity import bootstrap
from parity.http import answer_webhook
from parity.observability import lambda_entry
from parity.settings import Settings

settings = Settings.from_env()
ingest = bootstrap.apple_ingest(settings)


@lambda_entry
def lambda_handler(event, context):
    return answer_webhook(event, "app_store", ingest.ingest)
