"""The contract's input limits, in one place: untrusted JSON, user ids, and ids that become keys.

Every parser of untrusted JSON (request and webhook bodies, JWS and JWT headers and payloads before
and after their signature is checked, Pub/Sub envelopes, stored store events) goes through `loads`:
nesting deeper than `MAX_DEPTH` and numbers longer than `MAX_DIGITS` digits are refused with
`MalformedJson` (a ValueError), never with a RecursionError or a 4,300-digit int conversion error.
User ids (path parameters, JWT `sub`, admin bodies, store links) are checked with `is_user_id`; ids
taken from store payloads that become DynamoDB keys with `is_key_id` (DynamoDB refuses partition keys
over 2048 bytes and sort keys over 1024). Standard library only.
"""

from __future__ import annotations

import json
import math
import re
from typing import TYPE_CHECKING, Any, TypeGuard

if TYPE_CHECKING:
    from collections.abc import Iterable

MAX_DEPTH = 64  # nesting of arrays and objects
MAX_DIGITS = 64  # digits in one JSON number (mantissa and exponent)
MAX_USER_ID_CHARS = 256
# Ids from store payloads (event ids, transaction ids, subscription and payment ids, purchase tokens):
# the longest real ones (Play purchase tokens) are a few hundred characters; a key holds two of them
# at most (`<source>#<eventId>`, `PURCHASE#<store>:<key>`), far below DynamoDB's limits.
MAX_KEY_ID_CHARS = 512

USER_ID_RULE = f"A user id is 1–{MAX_USER_ID_CHARS} printable ASCII characters without whitespace."

_USER_ID = re.compile(r"[!-~]{1,%d}" % MAX_USER_ID_CHARS)  # printable ASCII, no whitespace
_KEY_ID = re.compile(r"[!-~]{1,%d}" % MAX_KEY_ID_CHARS)
_DIGIT = re.compile(r"[0-9]")


class MalformedJson(ValueError):
    """Not JSON, or JSON beyond the contract's limits; the message says which (safe to return)."""


def _number(text: str, convert):
    if len(_DIGIT.findall(text)) > MAX_DIGITS:
        raise MalformedJson(f"A number in the JSON is longer than {MAX_DIGITS} digits.")
    value = convert(text)
    if isinstance(value, float) and not math.isfinite(value):
        raise MalformedJson("A number in the JSON is out of range.")
    return value


def _constant(name: str):
    raise MalformedJson(f"{name} is not JSON.")


def _depth_exceeds(document: Any, limit: int) -> bool:
    """Whether arrays and objects nest deeper than `limit` (an explicit stack: no recursion)."""
    stack = [(document, 1)]
    children: Iterable[Any]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, dict):
            children = value.values()
        elif isinstance(value, list):
            children = value
        else:
            continue
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children if isinstance(child, (dict, list)))
    return False


def loads(data: bytes | bytearray | str, max_depth: int = MAX_DEPTH) -> Any:
    """`json.loads` within the contract's limits; raises MalformedJson (a ValueError) otherwise."""
    try:
        document = json.loads(
            data,
            parse_int=lambda text: _number(text, int),
            parse_float=lambda text: _number(text, float),
            parse_constant=_constant,
        )
    except MalformedJson:
        raise
    except RecursionError:  # the C decoder nests one C call per level: deep input ends here
        raise MalformedJson(f"The JSON is nested deeper than {max_depth} levels.") from None
    except (UnicodeDecodeError, json.JSONDecodeError, ValueError, TypeError):
        raise MalformedJson("The body is not valid JSON.") from None
    if _depth_exceeds(document, max_depth):
        raise MalformedJson(f"The JSON is nested deeper than {max_depth} levels.")
    return document


def is_user_id(value: Any) -> TypeGuard[str]:
    """A Parity user id: 1–256 printable ASCII characters without whitespace (an OIDC `sub` is ASCII)."""
    return isinstance(value, str) and _USER_ID.fullmatch(value) is not None


def is_key_id(value: Any, max_chars: int = MAX_KEY_ID_CHARS) -> bool:
    """An id from a store payload that may become (part of) a DynamoDB key."""
    return isinstance(value, str) and len(value) <= max_chars and _KEY_ID.fullmatch(value) is not None


def update_problem(update: Any) -> str | None:
    """Why a normalized `PurchaseUpdate` cannot be stored (an id beyond the limits), or None."""
    keys = [update.store_key, update.event_id, update.customer_ref, update.app_account_token]
    keys += [ref.ref for ref in update.payment_refs]
    if update.revocation is not None:
        keys.append(update.revocation.ref)
    for key in keys:
        if key is not None and not is_key_id(key):
            return f"an id of the event is not 1–{MAX_KEY_ID_CHARS} printable characters"
    if update.claimant is not None and not is_user_id(update.claimant):
        return "the user the event names is not a valid user id"
    return None
