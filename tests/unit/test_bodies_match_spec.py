"""The run-time body readers (`parity.bodies`, `parity.operator_bodies`, no pydantic) against their
specification, the pydantic models of `parity.openapi.bodies` (which the OpenAPI document is generated
from): for generated documents, valid and near-valid (fields missing, given twice under both names,
extra, null, of the wrong type, too long, off the pattern, padded with whitespace), the reader accepts
exactly when the model does, and with the same values. As the storage contract suite holds the fake and
DynamoDB store together, this holds the two readers together.
"""

from __future__ import annotations

import string
import typing
from collections import Counter
from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, TypeAdapter, ValidationError

from parity import bodies, operator_bodies
from parity.openapi import bodies as spec

# Stripped by the models (Unicode White_Space) and not (\x1c, \x1f: Python's str.strip() would; U+200B).
WHITESPACE = " \t\n\r\x0b\x0c\x85\xa0\u2003\u3000\x1c\x1f\u200b"
PRINTABLE = string.ascii_letters + string.digits + string.punctuation + " é١"
EXTRA_KEYS = ("extra", "store", "userId", "reason", "restore", "expires_at", "queue")
EXAMPLES = settings(max_examples=200, derandomize=True, deadline=None, database=None)

SHAPES = [
    (bodies.OwnerAssignment, spec.OwnerAssignment),
    (bodies.MergeRequest, spec.MergeRequest),
    (bodies.GrantRequest, spec.GrantRequest),
    (bodies.ReasonRequest, spec.ReasonRequest),
    (operator_bodies.QueueRequest, spec.QueueRequest),
    (operator_bodies.ReconcileRequest, spec.ReconcileRequest),
]
RECEIPTS = (spec.AppStoreReceipt, spec.PlayStoreReceipt, spec.StripeReceipt)


def tag(model: type[BaseModel]) -> str:
    return typing.get_args(model.model_fields["store"].annotation)[0]


TAGS = tuple(tag(model) for model in RECEIPTS)


def constraints(info) -> dict:
    """A field's min_length, max_length and pattern, as the model declares them."""
    found: dict = {}
    for item in info.metadata:
        for name in ("min_length", "max_length", "pattern"):
            if getattr(item, name, None) is not None:
                found[name] = getattr(item, name)
    return found


def others() -> st.SearchStrategy:
    """JSON values of another type than the field's."""
    return st.one_of(st.none(), st.booleans(), st.integers(-5, 5), st.floats(allow_nan=False), st.just([]), st.just({}))


def mostly(usual: st.SearchStrategy, other: st.SearchStrategy, percent: int = 75) -> st.SearchStrategy:
    return st.integers(0, 99).flatmap(lambda n: usual if n < percent else other)


def texts(min_length: int = 0, max_length: int | None = None, pattern: str | None = None) -> st.SearchStrategy:
    """Mostly text the field accepts (its pattern, lengths at the limit), padded or not, and some it does not."""
    if pattern:
        valid = st.from_regex(pattern, fullmatch=True)
    else:
        valid = st.text(PRINTABLE, min_size=max(min_length, 1), max_size=12)
    if max_length is not None:  # at the limit, and one over it
        valid = mostly(valid, st.just("7" * max_length), 80)
    invalid = [st.text(max_size=6), st.text(PRINTABLE, max_size=14), st.just("")]
    if max_length is not None:
        invalid.append(st.just("7" * (max_length + 1)))
    pad = st.text(WHITESPACE, max_size=2)
    core = mostly(valid, st.one_of(invalid), 60)
    return mostly(core, st.tuples(pad, core, pad).map("".join), 70)


def times() -> st.SearchStrategy:
    moments = st.datetimes(datetime(1990, 1, 1), datetime(2090, 1, 1))
    offsets = st.sampled_from([timezone.utc, timezone(timedelta(hours=2)), timezone(timedelta(hours=-5, minutes=-30))])
    aware = st.tuples(moments, offsets).map(lambda pair: pair[0].replace(tzinfo=pair[1]).isoformat())
    return st.one_of(
        aware,
        aware.map(lambda text: text.replace("+00:00", "Z")),
        aware.map(lambda text: text.replace("T", " ")),
        aware.map(lambda text: " " + text),
        moments.map(lambda moment: moment.isoformat()),  # no offset
        moments.map(lambda moment: moment.date().isoformat()),
        st.sampled_from(["tomorrow", "", "2026-11-22T10:00:00z", "2026-11-22t10:00:00+01:00"]),
    )


def values(info) -> st.SearchStrategy:
    annotation = info.annotation
    if typing.get_origin(annotation) is typing.Literal:
        literal = typing.get_args(annotation)[0]
        return st.one_of(st.just(literal), st.sampled_from([*TAGS, literal.upper(), f" {literal}"]), others())
    if annotation is bool:
        return mostly(st.booleans(), st.one_of(others(), st.sampled_from(["true", 1, 0])), 80)
    if datetime in typing.get_args(annotation):
        return mostly(times(), others(), 80)
    return mostly(texts(**constraints(info)), others(), 85)


@st.composite
def documents(draw, model: type[BaseModel], tags: tuple[str, ...] = ()) -> dict:
    """Mostly-valid objects for `model`: each field given (under its JSON name, its Python name or
    both), left out, or replaced; sometimes an extra key. `tags`: the `store` values to draw from."""
    document: dict = {}
    for name, info in model.model_fields.items():
        alias = info.alias or name
        missing = 1 if info.is_required() else 6
        how = draw(st.sampled_from(["alias"] * 8 + ["name", "both"] + ["missing"] * missing))
        if name == "store":
            if how != "missing":
                own = tags[0]
                document["store"] = draw(mostly(st.just(own), st.sampled_from([*tags, f" {own}", own.upper(), None]), 60))
            continue
        if how in ("alias", "both"):
            document[alias] = draw(values(info))
        if how in ("name", "both"):
            document[name] = draw(values(info))
    for key in draw(st.lists(st.sampled_from(EXTRA_KEYS), max_size=2)):
        document.setdefault(key, draw(st.one_of(others(), texts())))
    return document


def outcome(read, document):
    """(accepted, values) of one reader."""
    try:
        result = read(document)
    except (bodies.BodyShapeError, ValidationError):
        return False, None
    if isinstance(result, BaseModel):
        return True, (type(result).__name__, result.model_dump())
    return True, (type(result).__name__, result._asdict())


def assert_same(runtime, model, document, seen: Counter | None = None) -> None:
    expected = outcome(TypeAdapter(model).validate_python, document)
    assert outcome(runtime, document) == expected, document
    if seen is not None:
        seen[expected[0]] += 1


def assert_both_kinds(seen: Counter) -> None:
    """The generated documents are a mix: a generator that made only one kind would prove little."""
    assert seen[True] >= 10 and seen[False] >= 10, seen


@pytest.mark.parametrize(("runtime", "model"), SHAPES, ids=[model.__name__ for _, model in SHAPES])
def test_each_admin_body_is_read_as_its_model_validates_it(runtime, model):
    seen: Counter = Counter()

    @EXAMPLES
    @given(mostly(documents(model), st.one_of(others(), st.lists(st.integers(), max_size=1), texts()), 90))
    def check(document):
        assert_same(runtime.read, model, document, seen)

    check()
    assert_both_kinds(seen)


def test_a_receipt_is_read_as_the_discriminated_union_validates_it():
    seen: Counter = Counter()

    @EXAMPLES
    @given(mostly(st.one_of(*(documents(model, (tag(model), *TAGS, "itunes")) for model in RECEIPTS)), others(), 95))
    def check(document):
        assert_same(bodies.read_receipt, spec.Receipt, document, seen)

    check()
    assert_both_kinds(seen)


@pytest.mark.parametrize(
    "document",
    [
        {"store": "stripe", "checkout_session_id": "cs_1", "checkoutSessionId": "bad"},  # the JSON name first
        {"store": "itunes", "checkoutSessionId": "cs_1"},
        {"store": " stripe", "checkoutSessionId": "cs_1"},  # the tag is not stripped
        {"store": "app_store", "transactionId": " 1\x1c"},  # \x1c is not stripped
        {"store": "app_store", "transactionId": "\u3000١٢\u00a0"},  # Unicode digits and spaces
        {"store": "app_store", "transactionId": "1", "restore": 1},
        {"store": "play_store", "packageName": " ", "productId": "p", "purchaseToken": "t"},
    ],
)
def test_edges_found_while_writing_the_readers(document):
    assert_same(bodies.read_receipt, spec.Receipt, document)


@pytest.mark.parametrize(
    "document",
    [
        {"entitlement": "pro", "expiresAt": "2030-01-01T00:00:00Z", "expires_at": "2030-01-01T00:00:00Z"},
        {"entitlement": "pro", "expires_at": "2030-01-01T00:00:00+02:00"},
        {"entitlement": " pro ", "expiresAt": None, "reason": None},
    ],
)
def test_grant_edges(document):
    assert_same(bodies.GrantRequest.read, spec.GrantRequest, document)
