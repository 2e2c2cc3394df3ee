"""The receipts body: 400 when it is not JSON, 422 when it matches none of the contract's shapes."""

from __future__ import annotations

import json

import pytest

from parity.bodies import AppStoreReceipt, PlayStoreReceipt, StripeReceipt, parse_receipt
from parity.domain.errors import ParityError
from parity.http import status_of


def body(document) -> bytes:
    return json.dumps(document).encode()


@pytest.mark.parametrize(
    ("document", "expected"),
    [
        ({"store": "app_store", "signedTransaction": "a.b.c"}, AppStoreReceipt),
        ({"store": "app_store", "transactionId": "2000000123456789"}, AppStoreReceipt),
        ({"store": "play_store", "packageName": "com.example", "productId": "pro_monthly", "purchaseToken": "t"}, PlayStoreReceipt),
        ({"store": "stripe", "checkoutSessionId": "cs_test_1"}, StripeReceipt),
        ({"store": "stripe", "checkoutSessionId": "cs_live_a1B2c3D4e5F6g7H8i9J0"}, StripeReceipt),
    ],
)
def test_each_contract_shape_is_accepted(document, expected):
    assert isinstance(parse_receipt(body(document)), expected)


def test_fields_keep_their_values():
    receipt = parse_receipt(body({"store": "app_store", "transactionId": "2000000123456789"}))
    assert (receipt.transaction_id, receipt.signed_transaction) == ("2000000123456789", None)
    stripe = parse_receipt(body({"store": "stripe", "checkoutSessionId": " cs_test_1 "}))
    assert stripe.checkout_session_id == "cs_test_1"


@pytest.mark.parametrize("raw", [b"", b"not json", b"{", b"\xff\xfe"])
def test_a_body_that_is_not_json_is_a_400(raw):
    with pytest.raises(ParityError) as caught:
        parse_receipt(raw)
    assert (status_of(caught.value), caught.value.code) == (400, "malformed_body")


@pytest.mark.parametrize(
    "document",
    [
        [],
        "app_store",
        {},
        {"store": "itunes", "transactionId": "1"},
        {"store": "app_store"},
        {"store": "app_store", "signedTransaction": "a.b.c", "transactionId": "1"},
        {"store": "app_store", "transactionId": "not-a-number"},
        {"store": "app_store", "signedTransaction": ""},
        {"store": "play_store", "packageName": "com.example", "productId": "pro_monthly"},
        {"store": "stripe"},
        {"store": "stripe", "checkoutSessionId": 5},
        {"store": "stripe", "checkoutSessionId": ""},
        {"store": "stripe", "checkoutSessionId": "sub_123"},
        {"store": "stripe", "checkoutSessionId": "cs_"},
        {"store": "stripe", "checkoutSessionId": "cs_test_1/../../v1/customers"},
        {"store": "stripe", "checkoutSessionId": "cs_test_" + "a" * 300},
    ],
)
def test_json_of_no_known_shape_is_a_422_naming_the_problem(document):
    with pytest.raises(ParityError) as caught:
        parse_receipt(body(document))
    assert (status_of(caught.value), caught.value.code) == (422, "invalid_receipt")
    assert caught.value.message.startswith("The receipt does not match any accepted shape (")
