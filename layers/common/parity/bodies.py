"""Request bodies: JSON read into small named tuples, with the contract's errors.

Not JSON → 400 `malformed_body`; JSON of no accepted shape (a missing field, an unknown `store`) → a
message naming each field and what is wrong with it: 422 `invalid_receipt` for receipts, 422 or 400
`invalid_request` for the admin routes (as each route says).

The shapes are specified by the pydantic models of `parity.openapi.bodies` (the OpenAPI document's
request bodies); this module reads them the way those models validate them, without pydantic's import
and schema-building cost at cold start. tests/unit/test_bodies_match_spec.py holds the two together:
for generated documents, valid and near-valid, this parser accepts exactly what the models accept, with
the same values. As the models are configured (`populate_by_name`, `str_strip_whitespace`), a field is
read under its JSON name, else under its Python name, and text is stripped of whitespace before its
length and pattern are checked; unknown fields are ignored unless the shape forbids them.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any, Literal, NamedTuple, Union

from .domain import limits
from .domain.errors import InvalidInput, UnprocessableBody

# What pydantic's `str_strip_whitespace` strips (Unicode White_Space; Python's str.strip() also strips \x1c-\x1f).
WHITESPACE = "\t\n\x0b\x0c\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000"
_MISSING = object()


class BodyShapeError(ValueError):
    """A document of no accepted shape: `problems` are `(field, what is wrong)`, in the order found."""

    def __init__(self, problems: list[tuple[str, str]]) -> None:
        super().__init__("; ".join(f"{field}: {problem}" for field, problem in problems))
        self.problems = problems


class Fields:
    """One JSON object's fields, read one by one; each problem is noted (the reading goes on, so that one
    answer names them all) and `done()` raises them together."""

    def __init__(self, document: Any) -> None:
        if not isinstance(document, dict):
            raise BodyShapeError([("body", "Input should be a JSON object")])
        self._document = document
        self._used: set[str] = set()
        self.problems: list[tuple[str, str]] = []

    def _find(self, alias: str, name: str | None) -> tuple[str, Any]:
        """The field's key in the document and its value (`_MISSING`): its JSON name first, then its Python name."""
        for key in (alias, name or alias):
            if key in self._document:
                self._used.add(key)
                return key, self._document[key]
        return alias, _MISSING

    def text(
        self,
        alias: str,
        name: str | None = None,
        *,
        optional: bool = False,
        min_length: int = 0,
        max_length: int | None = None,
        pattern: str | None = None,
    ) -> Any:
        """A string, stripped, then checked: `optional` ones may be missing or null (None)."""
        key, value = self._find(alias, name)
        if value is _MISSING or (value is None and optional):
            if not optional:
                self.problems.append((key, "Field required"))
            return None
        if not isinstance(value, str):
            return self._problem(key, "Input should be a valid string")
        value = value.strip(WHITESPACE)
        if len(value) < min_length:
            return self._problem(key, f"String should have at least {_characters(min_length)}")
        if max_length is not None and len(value) > max_length:
            return self._problem(key, f"String should have at most {_characters(max_length)}")
        if pattern is not None and re.search(pattern, value) is None:
            return self._problem(key, f"String should match pattern '{pattern}'")
        return value

    def flag(self, alias: str, name: str | None = None, *, default: bool = False) -> Any:
        """A strict boolean: `true` or `false`, nothing else (not 0/1, not "true", not null)."""
        key, value = self._find(alias, name)
        if value is _MISSING:
            return default
        return value if isinstance(value, bool) else self._problem(key, "Input should be a valid boolean")

    def time(self, alias: str, name: str | None = None) -> Any:
        """An optional RFC 3339 time with its offset, as UTC (null or missing: None)."""
        key, value = self._find(alias, name)
        if value is _MISSING:
            return None
        try:
            return rfc3339(value)
        except ValueError as error:
            return self._problem(key, str(error))

    def _problem(self, key: str, problem: str) -> None:
        self.problems.append((key, problem))
        return None

    def done(self, forbid_extra: bool = False) -> None:
        """Raises the problems found; `forbid_extra`: a field the shape does not read is one (a field given
        under both its names counts the second as one)."""
        if forbid_extra:
            self.problems += [(key, "Extra inputs are not permitted") for key in self._document if key not in self._used]
        if self.problems:
            raise BodyShapeError(self.problems)


def _characters(count: int) -> str:
    return f"{count} character" + ("" if count == 1 else "s")


def one_of(first: Any, second: Any, names: str) -> None:
    """Exactly one of two optional fields (checked once the fields themselves are valid)."""
    if (first is None) == (second is None):
        raise BodyShapeError([("body", f"give exactly one of {names}")])


def rfc3339(value: object) -> datetime | None:
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


def parse_json(body: bytes, shape: Any, code: str, what: str) -> Any:
    """`body` read as `shape` (a class with `read(document)`, or such a function); InvalidInput
    `malformed_body` (not JSON) or UnprocessableBody `code` ("The <what> does not ...")."""
    try:
        document = limits.loads(body)
    except limits.MalformedJson as error:
        raise InvalidInput(str(error), "malformed_body") from None
    read: Callable[[Any], Any] = getattr(shape, "read", shape)
    try:
        return read(document)
    except BodyShapeError as error:
        raise UnprocessableBody(f"The {what} does not match any accepted shape ({error}).", code) from None


def parse_request(body: bytes, shape: Any, what: str, optional: bool = False) -> Any:
    """An operator request's body: not JSON or of no accepted shape → 400 `malformed_body` /
    `invalid_request` (nothing is changed). `optional`: an empty body reads as `{}`."""
    if optional and not body.strip():
        body = b"{}"
    try:
        return parse_json(body, shape, "invalid_request", what)
    except UnprocessableBody as error:
        raise InvalidInput(str(error), "invalid_request") from None


# -- POST /v1/users/{userId}/receipts: one of the contract's shapes, told apart by `store`


class AppStoreReceipt(NamedTuple):
    """A StoreKit 2 signed transaction (verified locally), or a transaction id (asked of Apple)."""

    store: Literal["app_store"]
    signed_transaction: str | None = None
    transaction_id: str | None = None
    restore: bool = False  # claim every purchase of the App Store account's transaction history

    @classmethod
    def read(cls, document: Any) -> AppStoreReceipt:
        fields = Fields(document)
        signed = fields.text("signedTransaction", "signed_transaction", optional=True, min_length=1)
        transaction_id = fields.text("transactionId", "transaction_id", optional=True, min_length=1, pattern=r"^\d{1,32}$")
        restore = fields.flag("restore")
        fields.done()
        one_of(signed, transaction_id, "signedTransaction and transactionId")
        return cls("app_store", signed, transaction_id, restore)


class PlayStoreReceipt(NamedTuple):
    store: Literal["play_store"]
    package_name: str
    product_id: str
    purchase_token: str

    @classmethod
    def read(cls, document: Any) -> PlayStoreReceipt:
        fields = Fields(document)
        package = fields.text("packageName", "package_name", min_length=1, max_length=255)
        product = fields.text("productId", "product_id", min_length=1, max_length=255, pattern=r"^[!-~]+$")
        token = fields.text("purchaseToken", "purchase_token", min_length=1, max_length=512, pattern=r"^[!-~]+$")
        fields.done()
        return cls("play_store", package, product, token)


class StripeReceipt(NamedTuple):
    """A Checkout Session id (`cs_test_...`, `cs_live_...`), read from the Stripe API."""

    store: Literal["stripe"]
    checkout_session_id: str

    @classmethod
    def read(cls, document: Any) -> StripeReceipt:
        fields = Fields(document)
        session_id = fields.text("checkoutSessionId", "checkout_session_id", pattern=r"^cs_[A-Za-z0-9_]{1,250}$")
        fields.done()
        return cls("stripe", session_id)


Receipt = Union[AppStoreReceipt, PlayStoreReceipt, StripeReceipt]
RECEIPTS: dict[str, Callable[[Any], Receipt]] = {
    "app_store": AppStoreReceipt.read,
    "play_store": PlayStoreReceipt.read,
    "stripe": StripeReceipt.read,
}


def read_receipt(document: Any) -> Receipt:
    """The shape `store` names (exactly, not stripped: it tells the shapes apart)."""
    if not isinstance(document, dict):
        raise BodyShapeError([("body", "Input should be a JSON object")])
    store = document.get("store")
    if not isinstance(store, str) or store not in RECEIPTS:
        raise BodyShapeError([("store", "Input should be 'app_store', 'play_store' or 'stripe'")])
    return RECEIPTS[store](document)


def parse_receipt(body: bytes) -> Receipt:
    return parse_json(body, read_receipt, "invalid_receipt", "receipt")


# -- admin routes


class OwnerAssignment(NamedTuple):
    """`PUT /v1/admin/purchases/{purchaseId}/owner`"""

    user_id: str  # checked as a user id by the route (400 invalid_user_id)
    reason: str | None = None  # kept in the audit trail

    @classmethod
    def read(cls, document: Any) -> OwnerAssignment:
        fields = Fields(document)
        user_id, reason = fields.text("userId", "user_id"), fields.text("reason", optional=True, max_length=500)
        fields.done()
        return cls(user_id, reason)


class MergeRequest(NamedTuple):
    """`POST /v1/admin/users/{userId}/merge`"""

    from_user_id: str  # checked as a user id by the route
    reason: str | None = None

    @classmethod
    def read(cls, document: Any) -> MergeRequest:
        fields = Fields(document)
        from_user_id = fields.text("fromUserId", "from_user_id")
        reason = fields.text("reason", optional=True, max_length=500)
        fields.done()
        return cls(from_user_id, reason)


class GrantRequest(NamedTuple):
    """`POST /v1/admin/users/{userId}/grants` (no other fields)"""

    entitlement: str
    expires_at: datetime | None = None
    reason: str | None = None  # kept in the audit trail

    @classmethod
    def read(cls, document: Any) -> GrantRequest:
        fields = Fields(document)
        entitlement = fields.text("entitlement", min_length=1, max_length=256, pattern=r"^[!-~]+$")
        expires_at = fields.time("expiresAt", "expires_at")
        reason = fields.text("reason", optional=True, max_length=500)
        fields.done(forbid_extra=True)
        return cls(entitlement, expires_at, reason)


class ReasonRequest(NamedTuple):
    """A body that may only give a `reason` (revoking a grant, clearing a flag)."""

    reason: str | None = None

    @classmethod
    def read(cls, document: Any) -> ReasonRequest:
        fields = Fields(document)
        reason = fields.text("reason", optional=True, max_length=500)
        fields.done()
        return cls(reason)
