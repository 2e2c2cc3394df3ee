"""The route table's vocabulary: an operation (method, path, body, query parameters, answers) and the
error answers several routes share."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from . import examples as ex
from . import models as m

JWT, IAM, STRIPE, PUBSUB = "userJwt", "adminIam", "stripeSignature", "pubsubOidc"


@dataclass(frozen=True)
class Answer:
    status: int
    description: str
    shape: Any = None  # a pydantic model or annotated type; None: no body
    examples: dict[str, Callable[[], Any]] = field(default_factory=dict)


@dataclass(frozen=True)
class Query:
    """A query parameter; `schema` is its JSON schema (the value arrives as text and is read as that)."""

    name: str
    description: str
    schema: dict[str, Any]
    required: bool = False


@dataclass(frozen=True)
class Operation:
    method: str
    path: str
    operation_id: str
    tag: str  # app | admin | provider | public
    summary: str
    description: str
    answers: tuple[Answer, ...]
    auth: str | None = None  # a security scheme of the document; None: none
    body: Any = None  # the request body's shape
    body_examples: dict[str, Callable[[], Any]] = field(default_factory=dict)
    body_required: bool = True  # False: an empty body reads as `{}`
    query: tuple[Query, ...] = ()


def error(status: int, description: str, **codes: str) -> Answer:
    """An error answer; each example is one error code with its message."""
    return Answer(status, description, m.ErrorAnswer, {code: _error_example(code, text) for code, text in codes.items()})


def _error_example(code: str, message: str) -> Callable[[], dict]:
    return lambda: ex.error(code, message)


def constant(value: Any) -> Callable[[], Any]:
    return lambda: value


USER_ID_RULE = "User ids are 1–256 printable characters without whitespace."
UNAUTHENTICATED = error(401, "No valid token.", unauthorized="The bearer token is missing, expired or not signed by the identity provider.")
FORBIDDEN = error(403, "The token is another user's.", forbidden="The token does not belong to this user.")
INVALID_USER = error(400, "The user id is not 1–256 printable characters.", invalid_user_id=USER_ID_RULE)
TOO_LARGE = error(413, "The body is over 1 MiB.", payload_too_large="The request body is larger than 1048576 bytes.")
NOT_OPERATOR = error(403, "No IAM identity.", forbidden="Admin routes require IAM authorization.")
CONFLICT = error(
    503, "Concurrent writes kept conflicting with this one (`Retry-After: 1`); nothing was changed by it.",
    conflict="Concurrent writes kept conflicting with this one; retry the request.",
)  # fmt: skip
