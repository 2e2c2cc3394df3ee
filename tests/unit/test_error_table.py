"""One error hierarchy, one table at the HTTP edge: every `ParityError` is mapped by `http.ERROR_TABLE`,
and the services never know HTTP."""

from __future__ import annotations

import ast
import importlib
import json
import pkgutil
from pathlib import Path

import pytest

import parity
import parity.services
from parity.domain import errors
from parity.domain.errors import ParityError, RequestRefused
from parity.http import ERROR_TABLE, answer_for, error_response, status_of
from parity.webhooks.apple import RejectedSignedData
from parity.webhooks.google import RejectedPush

SERVICES = Path(parity.services.__file__).parent


def every_parity_module() -> list[str]:
    return [info.name for info in pkgutil.walk_packages(parity.__path__, "parity.")]


def every_subclass(cls: type) -> set[type]:
    found = set()
    for sub in cls.__subclasses__():
        found |= {sub} | every_subclass(sub)
    return found


# Importing every module makes every subclass defined anywhere in the package known.
for _name in every_parity_module():
    importlib.import_module(_name)
PARITY_ERRORS = sorted(
    (cls for cls in every_subclass(ParityError) if cls.__module__.startswith("parity.")), key=lambda c: c.__qualname__
)


def test_the_walk_finds_the_hierarchy_in_and_beyond_domain_errors():
    assert {errors.PurchaseNotFound, errors.OwnershipRefused, errors.NotConfigured, RejectedPush} <= set(PARITY_ERRORS)


@pytest.mark.parametrize("cls", [c for c in PARITY_ERRORS if c.__module__ == errors.__name__], ids=lambda c: c.__name__)
def test_every_error_of_the_hierarchy_has_a_row_of_its_own(cls):
    # GIVEN an error class of domain/errors.py, WHEN / THEN the table decides its answer explicitly
    assert cls in ERROR_TABLE, f"{cls.__name__} has no row in parity.http.ERROR_TABLE: decide its answer"


@pytest.mark.parametrize("cls", PARITY_ERRORS, ids=lambda c: f"{c.__module__}.{c.__name__}")
def test_no_error_falls_back_to_the_base_row_by_accident(cls):
    # GIVEN any ParityError subclass of the package (adapters' and verifiers' refinements too)
    # WHEN its row is looked up, most specific class first
    owner = next(base for base in cls.__mro__ if base in ERROR_TABLE)
    # THEN it is its own row or a listed ancestor's below the base class (which is a fault, a 500)
    assert owner is not ParityError, f"{cls.__name__} would be answered as the ParityError fallback"
    assert answer_for(cls) is ERROR_TABLE[owner]


@pytest.mark.parametrize("cls", sorted(every_subclass(RequestRefused), key=lambda c: c.__qualname__), ids=lambda c: c.__name__)
def test_every_refusal_is_an_answer_never_a_fault(cls):
    assert answer_for(cls).status is not None


@pytest.mark.parametrize(
    ("error", "status", "code"),
    [
        (errors.InvalidInput("x", "invalid_user_id"), 400, "invalid_user_id"),
        (errors.UnprocessableBody("x", "invalid_receipt"), 422, "invalid_receipt"),
        (errors.PayloadTooLarge("x"), 413, "payload_too_large"),
        (errors.MethodNotAllowed("x"), 405, "method_not_allowed"),
        (errors.Unauthenticated("x"), 401, "unauthorized"),
        (errors.Forbidden("x"), 403, "forbidden"),
        (errors.NotFound("x"), 404, "not_found"),
        (errors.PurchaseNotFound("x"), 404, "purchase_not_found"),
        (errors.UserNotFound("x"), 404, "user_not_found"),
        (errors.OwnershipRefused("x"), 409, "purchase_owned_by_another_user"),
        (errors.TooManyOwners("x"), 409, "too_many_owners"),
        (errors.MergeRefused("x", "merge_cycle"), 409, "merge_cycle"),
        (errors.ReceiptRejected("x"), 400, "unverifiable_receipt"),
        (errors.ReceiptRejected("x", "wrong_package"), 400, "wrong_package"),
        (errors.NotConfigured("x"), 503, "not_configured"),
        (errors.WebhookNotConfigured("x"), 503, "not_configured"),
        (errors.RejectedWebhook("invalid_signature", "x"), 400, "invalid_signature"),
        (RejectedSignedData("untrusted_root", "x"), 400, "untrusted_root"),
        (RejectedPush("invalid_token", "x", 401), 401, "invalid_token"),
        (RejectedPush("forbidden_sender", "x", 403), 403, "forbidden_sender"),
        (RejectedPush("certs_unavailable", "x", 503), 503, "certs_unavailable"),
        (errors.MalformedEventError("x"), 400, "unverifiable_receipt"),
        (errors.VersionConflictError("x"), 503, "conflict"),
    ],
    ids=lambda value: value if isinstance(value, str) else None,
)
def test_each_error_answers_with_the_contracts_status_and_code(error, status, code):
    # WHEN the edge answers the error
    answer = error_response(error)
    # THEN status and code are the contract's
    assert (answer["statusCode"], json.loads(answer["body"])["error"]["code"]) == (status, code)
    assert status_of(error) == status


def test_a_conflict_says_when_to_retry_and_names_no_internals():
    answer = error_response(errors.VersionConflictError("transaction cancelled: ConditionalCheckFailed"))
    assert answer["headers"]["retry-after"] == "1"
    assert "ConditionalCheckFailed" not in answer["body"]


def test_store_data_beyond_the_limits_keeps_its_message():
    answer = error_response(errors.MalformedEventError("price is not a number"))
    assert json.loads(answer["body"])["error"]["message"] == "The store data cannot be used: price is not a number."


@pytest.mark.parametrize(
    "error",
    [
        errors.StaleEventError("x"),
        errors.DuplicateEventError("x"),
        errors.UnknownPurchaseError("x"),
        errors.StoreApiError("secret detail", retryable=True),
        errors.ConfigurationError("x"),
        errors.OutOfTime("x"),
        ParityError("x"),
    ],
    ids=lambda e: type(e).__name__,
)
def test_a_fault_is_raised_again_never_answered(error):
    # GIVEN an error that is not a refusal of the request
    # WHEN the edge is asked to answer it, THEN it is raised again (the function fails; nothing leaks)
    assert status_of(error) is None
    with pytest.raises(type(error)):
        error_response(error)


def test_an_unlisted_refusal_is_answered_as_its_ancestor_not_as_a_500():
    # GIVEN a refusal added without a row of its own
    class NewRefusal(errors.NotFound):
        code = "new_thing_not_found"

    # WHEN / THEN it answers as its nearest listed ancestor, with its own code
    answer = error_response(NewRefusal("No such thing."))
    assert (answer["statusCode"], json.loads(answer["body"])["error"]["code"]) == (404, "new_thing_not_found")


def test_an_unlisted_direct_subclass_is_a_fault_and_the_walk_would_flag_it():
    class NewProblem(ParityError):
        pass

    with pytest.raises(NewProblem):
        error_response(NewProblem("x"))
    assert next(base for base in NewProblem.__mro__ if base in ERROR_TABLE) is ParityError


def test_errors_carry_code_and_message_and_no_status():
    error = errors.InvalidInput("The path parameter 'userId' is missing.", "missing_path_parameter")
    assert (error.code, error.message) == ("missing_path_parameter", "The path parameter 'userId' is missing.")
    assert errors.PurchaseNotFound("x").code == "purchase_not_found"
    assert not hasattr(errors.PurchaseNotFound("x"), "status")


# ------------------------------------------------------------------------ services never know HTTP


def imports_of(source: str, package: str) -> list[str]:
    """Every module (and imported name) of `source`, relative imports resolved against `package`."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = package.rsplit(".", node.level - 1)[0] if node.level else ""
            module = ".".join(filter(None, (base, node.module)))
            found += [module] + [f"{module}.{alias.name}" for alias in node.names]
    return found


def http_imports(source: str, package: str = "parity.services") -> list[str]:
    return [m for m in imports_of(source, package) if m == "parity.http" or m.startswith("parity.http.")]


@pytest.mark.parametrize("path", sorted(SERVICES.rglob("*.py")), ids=lambda p: p.name)
def test_no_service_imports_the_http_edge(path):
    package = ".".join(("parity",) + path.parent.relative_to(SERVICES.parent).parts)
    source = path.read_text()
    assert http_imports(source, package) == [], f"{path.name} imports the HTTP edge"
    assert "HttpError" not in source


def test_the_import_check_sees_every_way_to_reach_http():
    source = "from ..http import error_response\nfrom .. import http\nimport parity.http\n"
    assert http_imports(source) == ["parity.http", "parity.http.error_response", "parity.http", "parity.http"]
