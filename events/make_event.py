"""Turn a sample Stripe event into a Lambda event, signed now with your endpoint secret.

    STRIPE_WEBHOOK_SECRET=whsec_... python events/make_event.py webhook events/stripe/invoice.paid.json > /tmp/e.json
    sam local invoke StripeWebhookFunction -e /tmp/e.json

    python events/make_event.py sqs events/stripe/invoice.paid.json > /tmp/q.json
    sam local invoke EventProcessorFunction -e /tmp/q.json

Signatures are computed at the moment of use (they expire after 300 s), never stored.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "layers" / "common"))

from parity.services.ingest import queue_message  # noqa: E402
from parity.webhooks.stripe import compute_signature  # noqa: E402


def webhook_event(body: str, secret: str) -> dict:
    timestamp = int(time.time())
    signature = compute_signature(secret, timestamp, body.encode())
    return {
        "version": "2.0",
        "rawPath": "/",
        "rawQueryString": "",
        "headers": {"content-type": "application/json", "stripe-signature": f"t={timestamp},v1={signature}"},
        "requestContext": {"http": {"method": "POST", "path": "/", "sourceIp": "203.0.113.1"}},
        "body": body,
        "isBase64Encoded": False,
    }


def sqs_event(body: str) -> dict:
    event = json.loads(body)
    message = queue_message("stripe", event["id"], body.encode())
    return {
        "Records": [
            {
                "messageId": f"msg-{event['id']}",
                "receiptHandle": "handle",
                "body": message,
                "attributes": {
                    "ApproximateReceiveCount": "1",
                    "MessageGroupId": event["id"],
                    "MessageDeduplicationId": f"stripe:{event['id']}",
                    "SequenceNumber": "1",
                    "SentTimestamp": str(int(time.time() * 1000)),
                },
                "messageAttributes": {},
                "md5OfBody": "",
                "eventSource": "aws:sqs",
                "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:parity-store-events.fifo",
                "awsRegion": "us-east-1",
            }
        ]
    }


if __name__ == "__main__":
    kind, path = sys.argv[1], sys.argv[2]
    body = json.dumps(json.loads(Path(path).read_text()), separators=(",", ":"))
    if kind == "webhook":
        secret = os.environ.get("STRIPE_WEBHOOK_SECRET") or sys.exit("set STRIPE_WEBHOOK_SECRET")
        print(json.dumps(webhook_event(body, secret), indent=2))
    else:
        print(json.dumps(sqs_event(body), indent=2))
