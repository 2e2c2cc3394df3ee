"""The request bodies and query parameters of the admin routes the operator console adds."""

from __future__ import annotations

from collections.abc import Mapping

from pydantic import Field, model_validator

from .bodies import Body
from .domain.errors import InvalidInput


class QueueRequest(Body):
    """`POST /v1/admin/dlq/redrive`: which queue pair's dead letters (`StoreEvents`, `Reconcile`)."""

    queue: str = Field(min_length=1, max_length=80)


class ReconcileRequest(Body):
    """`POST /v1/admin/reconcile`: a user's purchases, or one purchase."""

    user_id: str | None = Field(None, alias="userId")
    purchase_id: str | None = Field(None, alias="purchaseId", min_length=1, max_length=512)

    @model_validator(mode="after")
    def _one_of(self) -> ReconcileRequest:
        if (self.user_id is None) == (self.purchase_id is None):
            raise ValueError("give exactly one of userId and purchaseId")
        return self


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
