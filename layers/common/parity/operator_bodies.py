"""The request bodies and query parameters of the admin routes the operator console adds (the bodies are
specified by `parity.openapi.bodies`, read as `parity.bodies` reads its own)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NamedTuple

from .bodies import Fields, one_of
from .domain.errors import InvalidInput


class QueueRequest(NamedTuple):
    """`POST /v1/admin/dlq/redrive`: which queue pair's dead letters (`StoreEvents`, `Reconcile`)."""

    queue: str

    @classmethod
    def read(cls, document: Any) -> QueueRequest:
        fields = Fields(document)
        queue = fields.text("queue", min_length=1, max_length=80)
        fields.done()
        return cls(queue)


class ReconcileRequest(NamedTuple):
    """`POST /v1/admin/reconcile`: a user's purchases, or one purchase."""

    user_id: str | None = None
    purchase_id: str | None = None

    @classmethod
    def read(cls, document: Any) -> ReconcileRequest:
        fields = Fields(document)
        user_id = fields.text("userId", "user_id", optional=True)
        purchase_id = fields.text("purchaseId", "purchase_id", optional=True, min_length=1, max_length=512)
        fields.done()
        one_of(user_id, purchase_id, "userId and purchaseId")
        return cls(user_id, purchase_id)


def query_text(event: Mapping, name: str) -> str:
    """A required query parameter (400 `invalid_request` when missing or empty)."""
    value = (event.get("queryStringParameters") or {}).get(name)
    if not isinstance(value, str) or not value.strip():
        raise InvalidInput(f"The query parameter {name!r} is required.", "invalid_request")
    return value.strip()


def query_number(event: Mapping, name: str, default: int) -> int:
    """An optional whole-number query parameter (400 `invalid_request` when it is not one)."""
    value = (event.get("queryStringParameters") or {}).get(name)
    if value is None or value == "":
        return default
    if not (isinstance(value, str) and value.isdigit() and len(value) <= 6):
        raise InvalidInput(f"The query parameter {name!r} must be a whole number.", "invalid_request")
    return int(value)
