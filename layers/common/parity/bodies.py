"""Request bodies: JSON validated into pydantic models, with the contract's errors.

Not JSON → 400 `malformed_body`; JSON of no accepted shape → 422 with a message naming what is wrong.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from .http import HttpError


class Body(BaseModel):
    model_config = ConfigDict(frozen=True, populate_by_name=True, str_strip_whitespace=True)


def parse_json(body: bytes, shape: TypeAdapter | type[BaseModel], code: str, what: str) -> Any:
    """`body` validated as `shape`; HttpError 400 (not JSON) or 422 `code` ("The <what> does not ...")."""
    try:
        document = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise HttpError(400, "malformed_body", "The body is not valid JSON.") from None
    adapter = shape if isinstance(shape, TypeAdapter) else TypeAdapter(shape)
    try:
        return adapter.validate_python(document)
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in problem['loc']) or 'body'}: {problem['msg']}"
            for problem in error.errors(include_url=False)
        )
        raise HttpError(422, code, f"The {what} does not match any accepted shape ({problems}).") from None


USER_ID = r"^[A-Za-z0-9_.:@|+=-]{1,128}$"  # what a JWT `sub` usually looks like; no spaces or slashes


class OwnerAssignment(Body):
    """`PUT /v1/admin/purchases/{purchaseId}/owner`"""

    user_id: str = Field(alias="userId", pattern=USER_ID)
    reason: str | None = Field(None, max_length=500)  # kept in the audit trail


class MergeRequest(Body):
    """`POST /v1/admin/users/{userId}/merge`"""

    from_user_id: str = Field(alias="fromUserId", pattern=USER_ID)
    reason: str | None = Field(None, max_length=500)
