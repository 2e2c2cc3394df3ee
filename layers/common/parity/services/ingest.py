"""Webhook ingestion: verify, store in the event log, enqueue. Nothing else happens on this path."""

from __future__ import annotations

import json
from dataclasses import dataclass

from ..domain import stripe
from ..ports import Clock, EventLog, Queue, StoredEvent
from ..settings import Secret
from ..webhooks import RejectedWebhook
from ..webhooks.stripe import parse_event, verify_signature


@dataclass(frozen=True)
class Ingested:
    event_id: str
    event_type: str
    duplicate: bool


# SQS refuses messages over the queue's size limit (256 KiB by default before 2025, at most 1 MiB), and a
# body up to the accepted 1 MiB grows when escaped into JSON: such an event travels without its body,
# which the processor then reads from the event log.
MAX_INLINE_MESSAGE_BYTES = 256 * 1024


def queue_message(source: str, event_id: str, body: bytes) -> str:
    message = json.dumps({"source": source, "eventId": event_id, "body": body.decode("utf-8")})
    if len(message.encode("utf-8")) > MAX_INLINE_MESSAGE_BYTES:
        return json.dumps({"source": source, "eventId": event_id})
    return message


class StripeIngest:
    """Verified Stripe events into the event log and the store-events queue."""

    def __init__(self, event_log: EventLog, queue: Queue, webhook_secret: Secret, clock: Clock) -> None:
        self._log = event_log
        self._queue = queue
        self._secret = webhook_secret
        self._clock = clock

    def ingest(self, body: bytes, signature: str | None) -> Ingested:
        """Raises RejectedWebhook for anything unverifiable; then nothing is stored or queued."""
        secret = self._secret.get()
        if not secret:
            raise RejectedWebhook("not_configured", "Stripe webhooks are not configured (STRIPE_WEBHOOK_SECRET).")
        verify_signature(body, signature, secret, now=self._clock.now().timestamp())
        event = parse_event(body)
        try:
            routing_key = stripe.normalize(event).routing_key
        except (AttributeError, KeyError, TypeError, ValueError):
            routing_key = event["id"]  # the processor reports what it cannot read
        appended = self._log.append(
            StoredEvent(
                source="stripe",
                event_id=event["id"],
                event_type=event["type"],
                routing_key=routing_key,
                received_at=self._clock.now(),
                body=body,
            )
        )
        # A duplicate that was stored but never processed (a crash before the send) is sent again:
        # the FIFO dedup id and the processor's processed-once guard make that harmless.
        if not appended.processed:
            self._queue.send(
                queue_message("stripe", event["id"], body), group=routing_key, dedup_id=f"stripe:{event['id']}"
            )
        return Ingested(event["id"], event["type"], duplicate=not appended.stored)
