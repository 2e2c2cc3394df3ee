"""The request bodies' specification: pydantic models, for the OpenAPI document (its request bodies) and the
tests only. At run time `parity.bodies` and `parity.operator_bodies` read the same shapes without pydantic;
tests/unit/test_bodies_match_spec.py holds them to these models (same acceptance, same values).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal, Union

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from ..bodies import rfc3339


class Body(BaseModel):
    model_config = ConfigDict(frozen=True, populate_by_name=True, str_strip_whitespace=True)


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


# -- admin routes


class OwnerAssignment(Body):
    """`PUT /v1/admin/purchases/{purchaseId}/owner`"""

    user_id: str = Field(alias="userId")  # checked as a user id by the route (400 invalid_user_id)
    reason: str | None = Field(None, max_length=500)  # kept in the audit trail


class MergeRequest(Body):
    """`POST /v1/admin/users/{userId}/merge`"""

    from_user_id: str = Field(alias="fromUserId")  # checked as a user id by the route
    reason: str | None = Field(None, max_length=500)


class GrantRequest(Body):
    """`POST /v1/admin/users/{userId}/grants`"""

    model_config = ConfigDict(frozen=True, populate_by_name=True, str_strip_whitespace=True, extra="forbid")

    entitlement: str = Field(min_length=1, max_length=256, pattern=r"^[!-~]+$")
    expires_at: Annotated[datetime | None, BeforeValidator(rfc3339)] = Field(None, alias="expiresAt")
    reason: str | None = Field(None, max_length=500)  # kept in the audit trail


class ReasonRequest(Body):
    """A body that may only give a `reason` (revoking a grant, clearing a flag)."""

    reason: str | None = Field(None, max_length=500)


# -- the operator console's routes


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
