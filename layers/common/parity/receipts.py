"""The receipts request body: one of the contract's shapes, told apart by `store`.

Not JSON → 400 `malformed_body`; JSON of no known shape (missing field, unknown store) → 422
`invalid_receipt`, with a message naming what is wrong.
"""

from __future__ import annotations

import json
from typing import Annotated, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, model_validator

from .http import HttpError


class _Receipt(BaseModel):
    model_config = ConfigDict(frozen=True, populate_by_name=True, str_strip_whitespace=True)


class AppStoreReceipt(_Receipt):
    """A StoreKit 2 signed transaction (verified locally), or a transaction id (asked of Apple)."""

    store: Literal["app_store"]
    signed_transaction: str | None = Field(None, alias="signedTransaction", min_length=1)
    transaction_id: str | None = Field(None, alias="transactionId", min_length=1, pattern=r"^\d{1,32}$")

    @model_validator(mode="after")
    def _one_of(self) -> AppStoreReceipt:
        if (self.signed_transaction is None) == (self.transaction_id is None):
            raise ValueError("give exactly one of signedTransaction and transactionId")
        return self


class PlayStoreReceipt(_Receipt):
    store: Literal["play_store"]
    package_name: str = Field(alias="packageName", min_length=1)
    product_id: str = Field(alias="productId", min_length=1)
    purchase_token: str = Field(alias="purchaseToken", min_length=1)


class StripeReceipt(_Receipt):
    """A Checkout Session id (`cs_test_...`, `cs_live_...`), read from the Stripe API."""

    store: Literal["stripe"]
    checkout_session_id: str = Field(alias="checkoutSessionId", pattern=r"^cs_[A-Za-z0-9_]{1,250}$")


Receipt = Annotated[Union[AppStoreReceipt, PlayStoreReceipt, StripeReceipt], Field(discriminator="store")]
_receipt = TypeAdapter(Receipt)


def parse_receipt(body: bytes) -> AppStoreReceipt | PlayStoreReceipt | StripeReceipt:
    try:
        document = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise HttpError(400, "malformed_body", "The body is not valid JSON.") from None
    try:
        return _receipt.validate_python(document)
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in problem['loc']) or 'body'}: {problem['msg']}"
            for problem in error.errors(include_url=False)
        )
        raise HttpError(422, "invalid_receipt", f"The receipt does not match any accepted shape ({problems}).") from None
