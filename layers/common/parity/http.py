"""HTTP plumbing shared by the functions: API Gateway (payload v2) and function URL events.

Both event shapes are the same for what Parity reads: `body`, `isBase64Encoded`, lower-cased
`headers`, `pathParameters` (API Gateway only) and `requestContext`.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import unquote

from .domain import limits
from .domain.errors import MalformedEventError, VersionConflictError
from .settings import MAX_BODY_BYTES
from .views import error_body


class HttpError(Exception):
    """An error that answers the request with the contract's error shape."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


# Errors a route answers itself, beside HttpError: a write that kept losing its optimistic lock (503:
# the client may retry; `Retry-After` says when), and store data beyond the input limits (400).
CONFLICT_RETRY_AFTER_SECONDS = 1
ROUTE_ERRORS = (HttpError, VersionConflictError, MalformedEventError)


def response(status: int, body: Any, headers: Mapping[str, str] | None = None) -> dict:
    return {
        "statusCode": status,
        "headers": {"content-type": "application/json", "cache-control": "no-store", **(headers or {})},
        "body": json.dumps(body, separators=(",", ":")),
    }


def error_response(error: HttpError | VersionConflictError | MalformedEventError) -> dict:
    """The contract's error answer for one of `ROUTE_ERRORS`."""
    if isinstance(error, MalformedEventError):
        return response(400, error_body("unverifiable_receipt", f"The store data cannot be used: {error}."))
    if isinstance(error, VersionConflictError):
        return response(
            503,
            error_body("conflict", "Concurrent writes kept conflicting with this one; retry the request."),
            {"retry-after": str(CONFLICT_RETRY_AFTER_SECONDS)},
        )
    return response(error.status, error_body(error.code, error.message))


def raw_body(event: Mapping) -> bytes:
    """The request body exactly as sent (signatures are computed over these bytes)."""
    body = event.get("body") or ""
    try:
        data = base64.b64decode(body, validate=True) if event.get("isBase64Encoded") else body.encode("utf-8")
    except ValueError:
        raise HttpError(400, "malformed_body", "The request body is not valid base64.") from None
    if len(data) > MAX_BODY_BYTES:
        raise HttpError(413, "payload_too_large", f"The request body is larger than {MAX_BODY_BYTES} bytes.")
    return data


def header(event: Mapping, name: str) -> str | None:
    headers = event.get("headers") or {}
    return headers.get(name.lower()) or headers.get(name)


def path_parameter(event: Mapping, name: str) -> str:
    """A path parameter, percent-decoded: an id of at most `MAX_KEY_ID_CHARS` printable characters
    (ids become DynamoDB keys); 400 `invalid_path_parameter` otherwise."""
    value = (event.get("pathParameters") or {}).get(name)
    if not value:
        raise HttpError(400, "missing_path_parameter", f"The path parameter {name!r} is missing.")
    value = unquote(value)
    if not limits.is_key_id(value):
        raise HttpError(
            400, "invalid_path_parameter", f"{name} must be 1–{limits.MAX_KEY_ID_CHARS} printable ASCII characters."
        )
    return value


def check_user_id(value: object) -> str:
    """`value` if it is a user id (the contract's rule); 400 `invalid_user_id` otherwise. The one check
    of user ids in paths, JWT subjects and request bodies."""
    if not limits.is_user_id(value):
        raise HttpError(400, "invalid_user_id", limits.USER_ID_RULE)
    return value


def user_id_parameter(event: Mapping, name: str = "userId") -> str:
    """A user id path parameter, percent-decoded and checked (400 `invalid_user_id`)."""
    value = (event.get("pathParameters") or {}).get(name)
    if not value:
        raise HttpError(400, "missing_path_parameter", f"The path parameter {name!r} is missing.")
    return check_user_id(unquote(value))


def webhook_status(rejected) -> int:
    """400 unless the rejection says otherwise (401/403 for push authentication); 503 not configured."""
    if rejected.code == "not_configured":
        return 503
    return getattr(rejected, "status", 400)


def answer_webhook(event: Mapping, store: str, ingest: Callable[[bytes], Any]) -> dict:
    """A store webhook's answer: 200 once `ingest(body)` stored the event; the contract's errors else.

    Unverifiable data is a 400 (the store will not make it verifiable by retrying); a store Parity is
    not configured for is a 503 (the store retries, and it may be configured by then).
    """
    from aws_lambda_powertools.metrics import single_metric

    from .observability import logger, metrics
    from .webhooks import RejectedWebhook

    try:
        if ((event.get("requestContext") or {}).get("http") or {}).get("method", "POST") != "POST":
            raise HttpError(405, "method_not_allowed", "Webhooks are delivered with POST.")
        result = ingest(raw_body(event))
    except RejectedWebhook as rejected:
        logger.warning("webhook rejected", extra={"store": store, "code": rejected.code})
        metrics.add_metric(name="WebhooksRejected", unit="Count", value=1)
        return error_response(HttpError(webhook_status(rejected), rejected.code, str(rejected)))
    except HttpError as error:
        return error_response(error)
    logger.info(
        "webhook event stored",
        extra={"store": store, "event_id": result.event_id, "event_type": result.event_type, "duplicate": result.duplicate},
    )
    metrics.add_metric(name="EventsDuplicateDelivery" if result.duplicate else "EventsIngested", unit="Count", value=1)
    # Per store, for the "no notification for N hours" alarms (StripeEventsIngested, AppStore..., PlayStore...).
    metrics.add_metric(name="".join(part.title() for part in store.split("_")) + "EventsIngested", unit="Count", value=1)
    if not result.duplicate:  # by store and event type: a metric of its own, with those two dimensions
        with single_metric(name="EventsIngestedByType", unit="Count", value=1, namespace="Parity") as by_type:
            by_type.add_dimension(name="store", value=store)
            by_type.add_dimension(name="event_type", value=result.event_type or "unknown")
    return response(200, {"received": True, "eventId": result.event_id, "duplicate": result.duplicate})


def jwt_subject(event: Mapping) -> str | None:
    """The `sub` claim the API Gateway JWT authorizer (or the local stack) verified."""
    claims = (((event.get("requestContext") or {}).get("authorizer") or {}).get("jwt") or {}).get("claims") or {}
    return claims.get("sub")


def require_own_user(event: Mapping, user_id: str) -> None:
    """A user may act on their own user id only, whatever the route's authorizer let through."""
    subject = jwt_subject(event)
    if subject is None:
        raise HttpError(401, "unauthorized", "A valid bearer token is required.")
    check_user_id(subject)
    if subject != user_id:
        raise HttpError(403, "forbidden", "The token does not belong to this user.")


def operator(event: Mapping) -> str:
    """The caller of an admin route, as the IAM authorizer identified them (the audit trail's actor).

    The route's IAM authorization is what lets an operator in; a request without an IAM identity
    reached the function through a misconfigured route and is refused.
    """
    iam = ((event.get("requestContext") or {}).get("authorizer") or {}).get("iam") or {}
    actor = iam.get("userArn") or iam.get("callerId")
    if not actor:
        raise HttpError(403, "forbidden", "Admin routes require IAM authorization.")
    return actor
