"""Request bodies: JSON validated into pydantic models, with the contract's errors.

Not JSON → 400 `malformed_body`; JSON of no accepted shape (a missing field, an unknown `store`) →
422 with a message naming what is wrong: `invalid_receipt` for receipts, `invalid_request` for the
admin routes.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Annotated, Any, Literal, Union

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, TypeAdapter, ValidationError, model_validator

from .domain import limits
from .domain.errors import InvalidInput, UnprocessableBody


class Body(BaseModel):
    model_config = ConfigDict(frozen=True, populate_by_name=True, str_strip_whitespace=True)


def parse_json(body: bytes, shape: TypeAdapter | type[BaseModel], code: str, what: str) -> Any:
    """`body` validated as `shape`; InvalidInput `malformed_body` (not JSON) or UnprocessableBody `code`
    ("The <what> does not ...")."""
    try:
        document = limits.loads(body)
    except limits.MalformedJson as error:
        raise InvalidInput(str(error), "malformed_body") from None
    adapter = shape if isinstance(shape, TypeAdapter) else TypeAdapter(shape)
    try:
        return adapter.validate_python(document)
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in problem['loc']) or 'body'}: {problem['msg']}"
            for problem in error.errors(include_url=False)
        )
        raise UnprocessableBody(f"The {what} does not match any accepted shape ({problems}).", code) from None


# -- POST /v1/users/{userId}/receipts: one of the contract's shapes, told apart by `store`


class AppStoreReceipt(Body):
    """A StoreKit 2 signed transaction (verified locally), or a transaction id (asked of Apple)."""

    store: Literal["app_store"]
    signed_transaction: str | None = Field(None, alias="signedTransaction", min_length=1)
    transaction_id: str | None = Field(None, alias="transactionId", min_length=1, pattern=r"^\d{1,32}$")
    # Claim every purchase of the App Store account's transaction history, not only this one.
    restore: bool = Field(False, strict=True)

    @model_validator(mode="after")
    def _one_of(self) -> AppStoreReceipt:
        if (self.signed_transaction is None) == (self.transaction_id is None):
            raise ValueError("give exactly one of signedTransaction and transactionId")
        return self


class PlayStoreReceipt(Body):
    store: Literal["play_store"]
    package_name: str = Field(alias="packageName", min_length=1, max_length=255)
    product_id: str = Field(alias="productId", min_length=1, max_length=255, pattern=r"^[!-~]+$")
    purchase_token: str = Field(alias="purchaseToken", min_length=1, max_length=512, pattern=r"^[!-~]+$")


class StripeReceipt(Body):
    """A Checkout Session id (`cs_test_...`, `cs_live_...`), read from the Stripe API."""

    store: Literal["stripe"]
    checkout_session_id: str = Field(alias="checkoutSessionId", pattern=r"^cs_[A-Za-z0-9_]{1,250}$")


Receipt = Annotated[Union[AppStoreReceipt, PlayStoreReceipt, StripeReceipt], Field(discriminator="store")]
_receipt = TypeAdapter(Receipt)




def parse_receipt(body: bytes) -> AppStoreReceipt | PlayStoreReceipt | StripeReceipt:
    return parse_json(body, _receipt, "invalid_receipt", "receipt")


# -- admin routes

class OwnerAssignment(Body):
    """`PUT /v1/admin/purchases/{purchaseId}/owner`"""

    user_id: str = Field(alias="userId")  # checked as a user id by the route (400 invalid_user_id)
    reason: str | None = Field(None, max_length=500)  # kept in the audit trail


class MergeRequest(Body):
    """`POST /v1/admin/users/{userId}/merge`"""

    from_user_id: str = Field(alias="fromUserId")  # checked as a user id by the route
    reason: str | None = Field(None, max_length=500)


def parse_request(body: bytes, shape: type[BaseModel], what: str, optional: bool = False) -> Any:
    """An operator request's body: not JSON or of no accepted shape → 400 `malformed_body` /
    `invalid_request` (nothing is changed). `optional`: an empty body reads as `{}`."""
    if optional and not body.strip():
        body = b"{}"
    try:
        return parse_json(body, shape, "invalid_request", what)
    except UnprocessableBody as error:
        raise InvalidInput(str(error), "invalid_request") from None


def _rfc3339(value: object) -> datetime | None:
    """An RFC 3339 time with its offset (`2026-11-22T10:00:00Z`), as UTC."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValueError("give an RFC 3339 time (a string) or null")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        parsed = None
    if parsed is None or "T" not in value.upper() or parsed.tzinfo is None:
        raise ValueError("give an RFC 3339 time with its offset, like 2026-11-22T10:00:00Z")
    return parsed.astimezone(timezone.utc)


class GrantRequest(Body):
    """`POST /v1/admin/users/{userId}/grants`"""

    model_config = ConfigDict(frozen=True, populate_by_name=True, str_strip_whitespace=True, extra="forbid")

    entitlement: str = Field(min_length=1, max_length=256, pattern=r"^[!-~]+$")
    expires_at: Annotated[datetime | None, BeforeValidator(_rfc3339)] = Field(None, alias="expiresAt")
    reason: str | None = Field(None, max_length=500)  # kept in the audit trail


class ReasonRequest(Body):
    """A body that may only give a `reason` (revoking a grant, clearing a flag)."""

    reason: str | None = Field(None, max_length=500)
