"""HTTP plumbing shared by the functions: API Gateway (payload v2) and function URL events.

Both event shapes are the same for what Parity reads: `body`, `isBase64Encoded`, lower-cased
`headers`, `pathParameters` (API Gateway only) and `requestContext`.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any, NamedTuple
from urllib.parse import unquote

from .domain import limits
from .domain.errors import (
    ConfigurationError,
    DuplicateEventError,
    Forbidden,
    GrantNotFound,
    InvalidInput,
    MalformedEventError,
    MergeRefused,
    MethodNotAllowed,
    NotConfigured,
    NotFound,
    OutOfTime,
    OwnershipRefused,
    ParityError,
    PayloadTooLarge,
    PurchaseNotFound,
    ReceiptRejected,
    RejectedWebhook,
    RequestRefused,
    StaleEventError,
    StoreApiError,
    TooManyOwners,
    Unauthenticated,
    UnknownEntitlement,
    UnknownPurchaseError,
    UnprocessableBody,
    UserNotFound,
    VersionConflictError,
    WebhookNotConfigured,
)
from .settings import MAX_BODY_BYTES
from .views import error_body, webhook_view

# A write that kept losing its optimistic lock is a 503 the client may retry; `Retry-After` says when.
CONFLICT_RETRY_AFTER_SECONDS = 1


class ErrorAnswer(NamedTuple):
    """How the HTTP edge answers one class of `ParityError`.

    `status` None: not an answer but a fault. The error is raised again: the function fails (Lambda's
    Errors metric and the alarms see it, API Gateway answers 500) and nothing about it reaches the
    caller. `code` None: the error's own code. `message`: a template over the error (`{error}`), else the
    error's own message. `own_status`: the error carries the status its sender's protocol expects (a
    webhook rejection: 401 token, 403 sender, 503 ours), `status` when it carries none.
    """

    status: int | None
    code: str | None = None
    message: str | None = None
    headers: Mapping[str, str] = MappingProxyType({})
    own_status: bool = False


FAULT = ErrorAnswer(None)

# The one table from errors to answers. `answer_for` walks the error's class hierarchy (most specific
# class first), so a subclass missing here is answered as its nearest listed ancestor (a refusal keeps
# its own code); only the base row is a catch-all fault. tests/unit/test_error_table.py requires a row
# for every class of domain/errors.py and lets no subclass anywhere fall back to the base row.
ERROR_TABLE: Mapping[type[ParityError], ErrorAnswer] = {
    # refusals of a request: nothing was written; asking again unchanged gets the same answer
    RequestRefused: ErrorAnswer(400),
    InvalidInput: ErrorAnswer(400),
    UnprocessableBody: ErrorAnswer(422),
    PayloadTooLarge: ErrorAnswer(413),
    MethodNotAllowed: ErrorAnswer(405),
    Unauthenticated: ErrorAnswer(401),
    Forbidden: ErrorAnswer(403),
    NotFound: ErrorAnswer(404),
    PurchaseNotFound: ErrorAnswer(404),
    UserNotFound: ErrorAnswer(404),
    GrantNotFound: ErrorAnswer(404),
    UnknownEntitlement: ErrorAnswer(422),
    OwnershipRefused: ErrorAnswer(409),
    TooManyOwners: ErrorAnswer(409),
    MergeRefused: ErrorAnswer(409),
    ReceiptRejected: ErrorAnswer(400),
    # a store Parity is not configured for: 503, the caller (or the store) may retry once it is
    NotConfigured: ErrorAnswer(503),
    RejectedWebhook: ErrorAnswer(400, own_status=True),
    WebhookNotConfigured: ErrorAnswer(503),
    # errors of the work a route did
    VersionConflictError: ErrorAnswer(
        503,
        "conflict",
        "Concurrent writes kept conflicting with this one; retry the request.",
        {"retry-after": str(CONFLICT_RETRY_AFTER_SECONDS)},
    ),
    # store data beyond the input limits: the store will not make it usable by retrying
    MalformedEventError: ErrorAnswer(400, "unverifiable_receipt", "The store data cannot be used: {error}."),
    # faults: never an answer (event processing's own flow, configuration at cold start, a store
    # failing where a route does not expect it)
    ParityError: FAULT,
    ConfigurationError: FAULT,
    StaleEventError: FAULT,
    DuplicateEventError: FAULT,
    UnknownPurchaseError: FAULT,
    StoreApiError: FAULT,
    OutOfTime: FAULT,
}


def answer_for(error_class: type[ParityError]) -> ErrorAnswer:
    """The table's row for `error_class`: its own, else its nearest listed ancestor's."""
    for cls in error_class.__mro__:
        if cls in ERROR_TABLE:
            return ERROR_TABLE[cls]
    raise TypeError(f"{error_class.__name__} is not a ParityError")


def status_of(error: ParityError) -> int | None:
    """The HTTP status `error` is answered with; None for a fault."""
    answer = answer_for(type(error))
    if answer.own_status and answer.status is not None:
        return getattr(error, "status", None) or answer.status
    return answer.status


def error_response(error: ParityError) -> dict:
    """The contract's error answer to `error`, from `ERROR_TABLE`. A fault is raised again."""
    answer = answer_for(type(error))
    status = status_of(error)
    if status is None:
        raise error
    message = answer.message.format(error=error) if answer.message else error.message
    return response(status, error_body(answer.code or error.code, message), answer.headers)


def response(status: int, body: Any, headers: Mapping[str, str] | None = None) -> dict:
    return {
        "statusCode": status,
        "headers": {"content-type": "application/json", "cache-control": "no-store", **(headers or {})},
        "body": json.dumps(body, separators=(",", ":")),
    }


def no_content() -> dict:
    """A 204: done, nothing to say."""
    return {"statusCode": 204, "headers": {"cache-control": "no-store"}, "body": ""}


def raw_body(event: Mapping) -> bytes:
    """The request body exactly as sent (signatures are computed over these bytes)."""
    body = event.get("body") or ""
    try:
        data = base64.b64decode(body, validate=True) if event.get("isBase64Encoded") else body.encode("utf-8")
    except ValueError:
        raise InvalidInput("The request body is not valid base64.", "malformed_body") from None
    if len(data) > MAX_BODY_BYTES:
        raise PayloadTooLarge(f"The request body is larger than {MAX_BODY_BYTES} bytes.")
    return data


def header(event: Mapping, name: str) -> str | None:
    headers = event.get("headers") or {}
    return headers.get(name.lower()) or headers.get(name)


def path_parameter(event: Mapping, name: str) -> str:
    """A path parameter, percent-decoded: an id of at most `MAX_KEY_ID_CHARS` printable characters
    (ids become DynamoDB keys); 400 `invalid_path_parameter` otherwise."""
    value = (event.get("pathParameters") or {}).get(name)
    if not value:
        raise InvalidInput(f"The path parameter {name!r} is missing.", "missing_path_parameter")
    value = unquote(value)
    if not limits.is_key_id(value):
        raise InvalidInput(
            f"{name} must be 1–{limits.MAX_KEY_ID_CHARS} printable ASCII characters.", "invalid_path_parameter"
        )
    return value


def check_user_id(value: object) -> str:
    """`value` if it is a user id (the contract's rule); 400 `invalid_user_id` otherwise. The one check
    of user ids in paths, JWT subjects and request bodies."""
    if not limits.is_user_id(value):
        raise InvalidInput(limits.USER_ID_RULE, "invalid_user_id")
    return value


def user_id_parameter(event: Mapping, name: str = "userId") -> str:
    """A user id path parameter, percent-decoded and checked (400 `invalid_user_id`)."""
    value = (event.get("pathParameters") or {}).get(name)
    if not value:
        raise InvalidInput(f"The path parameter {name!r} is missing.", "missing_path_parameter")
    return check_user_id(unquote(value))


def answer_webhook(event: Mapping, store: str, ingest: Callable[[bytes], Any]) -> dict:
    """A store webhook's answer: 200 once `ingest(body)` stored the event; the contract's errors else.

    Unverifiable data is a 400 (the store will not make it verifiable by retrying); a store Parity is
    not configured for is a 503 (the store retries, and it may be configured by then).
    """
    from aws_lambda_powertools.metrics import MetricUnit, single_metric

    from .observability import logger, metrics

    try:
        if ((event.get("requestContext") or {}).get("http") or {}).get("method", "POST") != "POST":
            raise MethodNotAllowed("Webhooks are delivered with POST.")
        result = ingest(raw_body(event))
    except RejectedWebhook as rejected:
        logger.warning("webhook rejected", extra={"store": store, "code": rejected.code})
        metrics.add_metric(name="WebhooksRejected", unit="Count", value=1)
        return error_response(rejected)
    except RequestRefused as refused:  # the request itself (method, body size): the store's data unread
        return error_response(refused)
    # Any other error fails the function: the store retries the delivery.
    logger.info(
        "webhook event stored",
        extra={"store": store, "event_id": result.event_id, "event_type": result.event_type, "duplicate": result.duplicate},
    )
    metrics.add_metric(name="EventsDuplicateDelivery" if result.duplicate else "EventsIngested", unit="Count", value=1)
    # Per store, for the "no notification for N hours" alarms (StripeEventsIngested, AppStore..., PlayStore...).
    metrics.add_metric(name="".join(part.title() for part in store.split("_")) + "EventsIngested", unit="Count", value=1)
    if not result.duplicate:  # by store and event type: a metric of its own, with those two dimensions
        with single_metric(name="EventsIngestedByType", unit=MetricUnit.Count, value=1, namespace="Parity") as by_type:
            by_type.add_dimension(name="store", value=store)
            by_type.add_dimension(name="event_type", value=result.event_type or "unknown")
    return response(200, webhook_view(result.event_id, result.duplicate))


def jwt_subject(event: Mapping) -> str | None:
    """The `sub` claim the API Gateway JWT authorizer (or the local stack) verified."""
    claims = (((event.get("requestContext") or {}).get("authorizer") or {}).get("jwt") or {}).get("claims") or {}
    return claims.get("sub")


def require_own_user(event: Mapping, user_id: str) -> None:
    """A user may act on their own user id only, whatever the route's authorizer let through."""
    subject = jwt_subject(event)
    if subject is None:
        raise Unauthenticated("A valid bearer token is required.")
    check_user_id(subject)
    if subject != user_id:
        raise Forbidden("The token does not belong to this user.")


def operator(event: Mapping) -> str:
    """The caller of an admin route, as the IAM authorizer identified them (the audit trail's actor).

    The route's IAM authorization is what lets an operator in; a request without an IAM identity
    reached the function through a misconfigured route and is refused.
    """
    iam = ((event.get("requestContext") or {}).get("authorizer") or {}).get("iam") or {}
    actor = iam.get("userArn") or iam.get("callerId")
    if not actor:
        raise Forbidden("Admin routes require IAM authorization.")
    return actor
