"""Google Play Real-Time Developer Notifications (Pub/Sub push, function URL): verify the push's OIDC
token, store, enqueue, answer 200."""

from parity import bootstrap
from parity.http import answer_webhook, header
from parity.observability import lambda_entry
from parity.settings import Settings

settings = Settings.from_env()
ingest = bootstrap.google_ingest(settings)  # at module level: the signing certs cache outlives invocations


@lambda_entry
def lambda_handler(event, context):
    return answer_webhook(event, "play_store", lambda body: ingest.ingest(body, header(event, "authorization")))
