"""Typed domain errors. Adapters translate store and AWS failures into these."""


class ParityError(Exception):
    """Base class of every error Parity raises on purpose."""


class StaleEventError(ParityError):
    """The event is older than the state already stored for the purchase."""


class VersionConflictError(ParityError):
    """Someone else wrote the purchase or the user since we read them (optimistic locking)."""


class DuplicateEventError(ParityError):
    """The event was already stored or already processed.

    `recorded_changes` are the change events its first processing recorded, so that a retry after a
    failed publish can publish them again (at least once).
    """

    def __init__(self, message: str, recorded_changes: tuple = ()) -> None:
        super().__init__(message)
        self.recorded_changes = recorded_changes


class StoreApiError(ParityError):
    """A store API call failed. `retryable`: try again later (outage, throttling) versus the store
    refusing the request (unknown id, bad credentials), which retrying will not change."""

    def __init__(self, message: str, retryable: bool, status: int | None = None) -> None:
        super().__init__(message)
        self.retryable = retryable
        self.status = status  # the store's HTTP status, when it answered

    @property
    def unknown_at_store(self) -> bool:
        """The store does not know what was asked about (404; Play: 410 for a token long gone)."""
        return self.status in (404, 410)


class UnknownPurchaseError(ParityError):
    """The event refers to a purchase Parity cannot identify (yet)."""


class MalformedEventError(ParityError):
    """A stored event (or a receipt's store data) Parity cannot use: a value is of the wrong type, out of
    range, or beyond the input limits. Retrying will not change it: it is recorded as rejected."""
