"""`Stripe-Signature` verification, as Stripe specifies it (and as stripe-python implements it).

The header is `t=<unix time>,v1=<hex hmac>[,v1=...]`; the signed payload is `<t>.<raw body>` under
HMAC-SHA256 with the endpoint secret. Any `v1` may match (secret rotation); timestamps older or newer
than the tolerance are refused against replay. Standard library only, so the webhook function does
not import the Stripe SDK.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Mapping

from ..domain import limits
from . import RejectedWebhook

DEFAULT_TOLERANCE_SECONDS = 300
MIN_CREATED, MAX_CREATED = 0, 253402300799  # epoch seconds a datetime holds (up to 9999-12-31)


def compute_signature(secret: str, timestamp: int, body: bytes) -> str:
    return hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


def verify_signature(
    body: bytes,
    header: str | None,
    secret: str,
    tolerance: int = DEFAULT_TOLERANCE_SECONDS,
    now: float | None = None,
) -> None:
    if not header:
        raise RejectedWebhook("missing_signature", "The Stripe-Signature header is missing.")
    timestamp: int | None = None
    candidates: list[str] = []
    for part in header.split(","):
        key, _, value = part.strip().partition("=")
        if key == "t":
            try:
                timestamp = int(value)
            except ValueError:
                timestamp = None
        elif key == "v1":
            candidates.append(value)
    if timestamp is None or not candidates:
        raise RejectedWebhook("invalid_signature", "The Stripe-Signature header has no timestamp or no v1 signature.")
    expected = compute_signature(secret, timestamp, body)
    if not any(hmac.compare_digest(expected.encode(), candidate.encode()) for candidate in candidates):
        raise RejectedWebhook("invalid_signature", "No Stripe-Signature v1 signature matches the body.")
    if abs((time.time() if now is None else now) - timestamp) > tolerance:
        raise RejectedWebhook("stale_signature", f"The Stripe-Signature timestamp is outside the {tolerance} s tolerance.")


def parse_event(body: bytes) -> Mapping:
    """The verified body as a Stripe event object (id, type, created, data.object)."""
    try:
        event = limits.loads(body)
    except limits.MalformedJson as error:
        raise RejectedWebhook("malformed_body", str(error)) from None
    data = event.get("data") if isinstance(event, dict) else None
    if not (
        isinstance(event, dict)
        and isinstance(event.get("type"), str)
        and isinstance(event.get("created"), int)
        and not isinstance(event.get("created"), bool)
        and isinstance(data, dict)
        and isinstance(data.get("object"), dict)
    ):
        raise RejectedWebhook("malformed_body", "The body is not a Stripe event (id, type, created, data.object).")
    if not limits.is_key_id(event.get("id")) or not limits.is_key_id(event["type"], 256):
        raise RejectedWebhook(
            "malformed_body", f"The event id and type must be 1–{limits.MAX_KEY_ID_CHARS} printable characters."
        )
    if not MIN_CREATED <= event["created"] <= MAX_CREATED:
        raise RejectedWebhook("malformed_body", "The event's created time is out of range.")
    return event
