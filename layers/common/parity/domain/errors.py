"""Typed domain errors: the one hierarchy of errors Parity raises on purpose.

Adapters translate store and AWS failures into these; services raise them. None knows HTTP: the HTTP
edge (`parity.http.ERROR_TABLE`) maps each class to a status and an error code, most specific class
first. Each error carries its `code` (the contract's error code, or a name for the faults, which are
never an answer) and a message; a refusal's message is safe to return to the caller.
"""

from __future__ import annotations


class ParityError(Exception):
    """Base class of every error Parity raises on purpose.

    `code`: the class's code unless the instance names a more precise one (one class, several codes:
    `InvalidInput(message, "invalid_user_id")`, `InvalidInput(message, "malformed_body")`).
    """

    code = "internal_error"

    def __init__(self, message: str = "", code: str | None = None) -> None:
        super().__init__(message)
        if code is not None:
            self.code = code

    @property
    def message(self) -> str:
        return str(self)


class StaleEventError(ParityError):
    """The event is older than the state already stored for the purchase."""

    code = "stale_event"


class VersionConflictError(ParityError):
    """Someone else wrote the purchase or the user since we read them (optimistic locking)."""

    code = "conflict"


class DuplicateEventError(ParityError):
    """The event was already stored or already processed.

    `recorded_changes` are the change events its first processing recorded, so that a retry after a
    failed publish can publish them again (at least once).
    """

    code = "duplicate_event"

    def __init__(self, message: str, recorded_changes: tuple = ()) -> None:
        super().__init__(message)
        self.recorded_changes = recorded_changes


class StoreApiError(ParityError):
    """A store API call failed. `retryable`: try again later (outage, throttling) versus the store
    refusing the request (unknown id, bad credentials), which retrying will not change."""

    code = "store_api_error"

    def __init__(
        self, message: str, retryable: bool, status: int | None = None, retry_after: float | None = None
    ) -> None:
        super().__init__(message)
        self.retryable = retryable
        self.status = status  # the store's HTTP status, when it answered
        self.retry_after = retry_after  # seconds the store asked to wait (Retry-After), when it did

    @property
    def unknown_at_store(self) -> bool:
        """The store does not know what was asked about (404; Play: 410 for a token long gone)."""
        return self.status in (404, 410)


class UnknownPurchaseError(ParityError):
    """The event refers to a purchase Parity cannot identify (yet)."""

    code = "unknown_purchase"


class MalformedEventError(ParityError):
    """A stored event (or a receipt's store data) Parity cannot use: a value is of the wrong type, out of
    range, or beyond the input limits. Retrying will not change it: it is recorded as rejected."""

    code = "unverifiable_receipt"



class OutOfTime(ParityError):
    """The function's deadline is too close to start this record: it is handed back untouched."""

    code = "out_of_time"


class ConfigurationError(ParityError, ValueError):
    """The environment does not describe a usable configuration (fail fast at cold start)."""

    code = "configuration_error"


# -- refusals: a request (an app's, an operator's, a store's delivery) that Parity refuses to act on.
# Asking again unchanged will not change the answer; nothing was written.


class RequestRefused(ParityError):
    """Base class of the refusals of a request."""

    code = "refused"


class InvalidInput(RequestRefused):
    """A request, or a part of it (body, path parameter, user id), is not usable as sent."""

    code = "invalid_input"


class UnprocessableBody(InvalidInput):
    """The body is JSON of no accepted shape (a missing field, an unknown `store`)."""

    code = "invalid_request"


class PayloadTooLarge(InvalidInput):
    code = "payload_too_large"


class MethodNotAllowed(RequestRefused):
    code = "method_not_allowed"


class Unauthenticated(RequestRefused):
    """No verified identity came with the request."""

    code = "unauthorized"


class Forbidden(RequestRefused):
    """The caller's identity does not allow this request."""

    code = "forbidden"


class NotFound(RequestRefused):
    code = "not_found"


class PurchaseNotFound(NotFound):
    code = "purchase_not_found"


class UserNotFound(NotFound):
    code = "user_not_found"


class GrantNotFound(NotFound):
    """No manual grant of that id is held by that user."""

    code = "grant_not_found"


class UnknownEntitlement(RequestRefused):
    """An entitlement that no product of the catalog grants (a manual grant of it would mean nothing)."""

    code = "unknown_entitlement"


class OwnershipRefused(RequestRefused):
    """A claim the ownership rules refuse: the strategy, a manual association or the store data gives
    the purchase to another user."""

    code = "purchase_owned_by_another_user"


class TooManyOwners(OwnershipRefused):
    """A claim refused because the purchase is shared with the most users allowed (ALL)."""

    code = "too_many_owners"


class MergeRefused(RequestRefused):
    """A merge the users' state refuses (`merge_cycle`, `already_merged`)."""

    code = "merge_refused"


class ReceiptRejected(RequestRefused):
    """The store's data does not verify or buys nothing; the code says why (`unverifiable_receipt`,
    `wrong_package`, or the verifier's own code)."""

    code = "unverifiable_receipt"


class NotConfigured(RequestRefused):
    """Parity is not configured for what the request needs (a store, its credentials)."""

    code = "not_configured"


class RejectedWebhook(RequestRefused, ValueError):
    """A delivery that is not verifiable store data; `code` and the message say why (both safe to
    return). `status`: the answer the store's protocol expects, 400 unless the refusal is about the
    sender (401 token, 403 sender) or about Parity (503: ours to fix, the store retries)."""

    code = "rejected_webhook"

    def __init__(self, code: str, message: str, status: int = 400) -> None:
        super().__init__(message, code)
        self.status = status


class WebhookNotConfigured(NotConfigured, RejectedWebhook):
    """A delivery for a store Parity is not configured for: a rejected webhook answered as not
    configured (503; the store retries, and it may be configured by then)."""

    code = "not_configured"

    def __init__(self, message: str) -> None:
        RejectedWebhook.__init__(self, "not_configured", message, 503)
