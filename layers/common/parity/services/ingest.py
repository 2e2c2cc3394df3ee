"""Webhook ingestion: verify, store in the event log, enqueue. Nothing else happens on this path."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING

from ..domain import limits
from ..domain.errors import RejectedWebhook, WebhookNotConfigured
from ..observability import logger
from ..ports import StoredEvent
from ..settings import Secret

if TYPE_CHECKING:
    from ..ports import AppleVerifier, Clock, EventLog, PushVerifier, Queue


@dataclass(frozen=True)
class Ingested:
    event_id: str
    event_type: str
    duplicate: bool


# How long an event whose purchase is unknown keeps being retried by `requeue_parked` (a payment
# Parity never sold stays unresolved after that).
PARKED_RETRY_WINDOW = timedelta(days=7)

RECEIPT_RETRY = "receipt"  # the `source` of queue messages retrying a receipt the store could not confirm

# SQS refuses messages over the queue's size limit (256 KiB by default before 2025, at most 1 MiB), and a
# body up to the accepted 1 MiB grows when escaped into JSON: such an event travels without its body,
# which the processor then reads from the event log.
MAX_INLINE_MESSAGE_BYTES = 256 * 1024


def queue_message(source: str, event_id: str, body: bytes) -> str:
    message = json.dumps({"source": source, "eventId": event_id, "body": body.decode("utf-8")})
    if len(message.encode("utf-8")) > MAX_INLINE_MESSAGE_BYTES:
        return json.dumps({"source": source, "eventId": event_id})
    return message


class EventIntake:
    """Verified store events into the event log and the store-events queue (one write, one send)."""

    def __init__(self, event_log: EventLog, queue: Queue, clock: Clock) -> None:
        self._log = event_log
        self._queue = queue
        self._clock = clock

    def record(self, source: str, event_id: str, event_type: str, routing_key: str, body: bytes) -> Ingested:
        """Store and enqueue a verified event. Its id becomes a key: one beyond the input limits is
        refused (RejectedWebhook, nothing stored); a routing key beyond them is replaced by its hash."""
        if not limits.is_key_id(event_id):
            raise RejectedWebhook(
                "malformed_body", f"The event id is not 1–{limits.MAX_KEY_ID_CHARS} printable characters."
            )
        if not limits.is_key_id(event_type, 256):
            event_type = "unknown"
        if not limits.is_key_id(routing_key):
            routing_key = "sha256:" + hashlib.sha256(routing_key.encode("utf-8", "surrogatepass")).hexdigest()
        appended = self._log.append(
            StoredEvent(source, event_id, event_type, routing_key, received_at=self._clock.now(), body=body)
        )
        # A duplicate that was stored but never processed (a crash before the send) is sent again:
        # the FIFO dedup id and the processor's processed-once guard make that harmless.
        if not appended.processed:
            self._queue.send(
                queue_message(source, event_id, body), group=routing_key, dedup_id=f"{source}:{event_id}"
            )
        return Ingested(event_id, event_type, duplicate=not appended.stored)


    def requeue_parked(self, within: timedelta = PARKED_RETRY_WINDOW) -> int:
        """Send the events parked unresolved in the last `within` back to the store-events queue: the
        events they waited for (an invoice naming a refunded charge's subscription) may have been applied
        since, after a store outage or a dead-letter redrive. Run by the nightly drift scan and by
        `parity dlq redrive`; an event still unresolved is parked again, one applied is done."""
        now = self._clock.now()
        sent = 0
        for source, event_id in self._log.parked(now - within):
            # Without its body (the processor reads it from the event log), in a group of its own.
            self._queue.send(
                json.dumps({"source": source, "eventId": event_id}),
                group=f"parked:{source}:{event_id}",
                dedup_id=f"parked:{source}:{event_id}:{int(now.timestamp())}",
            )
            sent += 1
        if sent:
            logger.info("unresolved events requeued", extra={"count": sent})
        return sent


class StripeIngest:
    """Stripe webhooks: `Stripe-Signature` checked on the raw body, then recorded."""

    def __init__(self, intake: EventIntake, webhook_secret: Secret, clock: Clock) -> None:
        # Imported when built: the App Store's and Play's webhooks, which share this module, never load
        # Stripe's normalizer (and through it the purchase model).
        from ..domain import stripe
        from ..webhooks import stripe as signatures

        self._intake = intake
        self._secret = webhook_secret
        self._clock = clock
        self._verify, self._parse, self._normalize = signatures.verify_signature, signatures.parse_event, stripe.normalize

    def ingest(self, body: bytes, signature: str | None) -> Ingested:
        """Raises RejectedWebhook for anything unverifiable; then nothing is stored or queued."""
        secret = self._secret.get()
        if not secret:
            raise WebhookNotConfigured("Stripe webhooks are not configured (STRIPE_WEBHOOK_SECRET).")
        self._verify(body, signature, secret, now=self._clock.now().timestamp())
        event = self._parse(body)
        try:
            routing_key = self._normalize(event).routing_key
        except (AttributeError, KeyError, TypeError, ValueError):
            routing_key = event["id"]  # the processor reports what it cannot read
        return self._intake.record("stripe", event["id"], event["type"], routing_key, body)


class AppleIngest:
    """App Store Server Notifications V2: the JWS and the signed items inside verified, then recorded.

    The idempotency key is `notificationUUID` (Apple reuses it on retries); events of one purchase
    (`originalTransactionId`) share a message group. TEST notifications are acknowledged, not stored.
    """

    def __init__(self, intake: EventIntake, verifier: AppleVerifier | None, not_configured: str = "") -> None:
        self._intake = intake
        self._verifier = verifier
        self._not_configured = not_configured

    def ingest(self, body: bytes) -> Ingested:
        """Raises RejectedWebhook for anything unverifiable; then nothing is stored or queued."""
        if self._verifier is None:
            # Why (a missing variable or file) is in the function's log: not for the sender to read.
            raise WebhookNotConfigured("App Store notifications are not configured.")
        notification = self._verifier.verify_and_decode_notification_body(body)
        uuid = notification.notification_uuid
        if not isinstance(uuid, str) or not uuid:
            raise RejectedWebhook("malformed_body", "The notification has no notificationUUID.")
        event_type = ":".join(filter(None, (notification.notification_type, notification.subtype))) or "unknown"
        if notification.notification_type == "TEST":
            logger.info("App Store TEST notification received", extra={"notification_uuid": uuid})
            return Ingested(uuid, event_type, duplicate=False)
        original = (notification.transaction or notification.renewal or {}).get("originalTransactionId")
        return self._intake.record("app_store", uuid, event_type, str(original or uuid), body)



class GoogleIngest:
    """Google Play Real-Time Developer Notifications, pushed by Cloud Pub/Sub: the push's OIDC token
    verified first (nothing is parsed before), then the envelope decoded, the package checked, recorded.

    The idempotency key is the Pub/Sub `messageId`; events of one purchase (its purchase token) share a
    message group; the stored body is the whole push envelope (`webhooks.google.parse_push` reads it).
    `testNotification` is acknowledged and logged, not stored.
    """

    def __init__(
        self,
        intake: EventIntake,
        verifier: PushVerifier | None,
        package_name: str | Sequence[str] | None,
        not_configured: str = "",
    ) -> None:
        self._intake = intake
        self._verifier = verifier
        # The apps' package names (GOOGLE_PACKAGE_NAME): a notification of another app is refused.
        self._package_name = (package_name,) if isinstance(package_name, str) else tuple(package_name or ())
        self._not_configured = not_configured

    def ingest(self, body: bytes, authorization: str | None) -> Ingested:
        """Raises RejectedWebhook (a RejectedPush carrying its status) for anything unverifiable; then
        nothing is stored or queued."""
        from ..webhooks.google import parse_push

        if self._verifier is None or not self._package_name:
            why = self._not_configured or "GOOGLE_PACKAGE_NAME is not set"  # names variables, never a path
            raise WebhookNotConfigured(f"Google Play notifications are not configured: {why}")
        self._verifier.verify(authorization)
        push = parse_push(body, self._package_name)
        if push.is_test:
            logger.info(
                "Google Play test notification received",
                extra={"message_id": push.message_id, "package_name": push.package_name},
            )
            return Ingested(push.message_id, push.event_type, duplicate=False)
        return self._intake.record("play_store", push.message_id, push.event_type, push.routing_key, body)
