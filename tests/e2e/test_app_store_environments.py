"""App Review's Sandbox on a production stack, and several apps per stack, over HTTP only.

A local stack configured `APPLE_ENVIRONMENT=Production` for two apps (`APPLE_BUNDLE_ID` and
`APPLE_APP_APPLE_ID` lists), whose App Store Server API is a local imitation of each of Apple's two
environments (`APPLE_API_BASE`, `APPLE_SANDBOX_API_BASE`), receives what App Review and TestFlight
send it: Sandbox-signed notifications and receipts. They grant, and say `environment: "sandbox"` on
the purchase, the entitlement and the change event; every purchase names its `app`; data of an app the
stack does not serve is a 400 that changes nothing. The session's Sandbox stack still refuses
Production data.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from tests.e2e.conftest import APPLE_MONTHLY, Parity, local_stack
from tests.support import apple
from tests.support.app_store_api import AppStoreApiState, app_store_api_server

pytestmark = pytest.mark.e2e

DAY = apple.DAY_MS
LITE, LITE_APPLE_ID = "com.example.lite", 555000111
KEY_ID, ISSUER_ID = "E2EKEY1234", "57246542-96fe-1a63-e053-0824d011072b"

PRODUCTION = apple.AppleSigner()  # the first app, in Production
SANDBOX = apple.AppleSigner(environment="Sandbox", app_apple_id=None)  # App Review: the app is not live yet
LITE_APP = apple.AppleSigner(bundle_id=LITE, app_apple_id=LITE_APPLE_ID)


def new_original_transaction_id() -> str:
    return str(3_100_000_000_000_000 + uuid.uuid4().int % 10**15)


def subscription(signer: apple.AppleSigner, token: str | None, original: str | None = None) -> dict:
    now = apple.now_ms()
    original = original or new_original_transaction_id()
    return signer.transaction(
        transactionId=original,
        originalTransactionId=original,
        productId=APPLE_MONTHLY,
        purchaseDate=now - 60_000,
        expiresDate=now + 30 * DAY,
        signedDate=now,
        appAccountToken=token,
    )


def subscribed(signer: apple.AppleSigner, transaction: dict) -> dict:
    renewal = signer.renewal_info(
        originalTransactionId=transaction["originalTransactionId"],
        productId=APPLE_MONTHLY,
        autoRenewProductId=APPLE_MONTHLY,
        appAccountToken=transaction.get("appAccountToken"),
        signedDate=transaction["signedDate"],
    )
    return signer.notification(
        "SUBSCRIBED", "INITIAL_BUY", transaction=transaction, renewal_info=renewal, signedDate=transaction["signedDate"]
    )


@pytest.fixture(scope="module")
def api_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


@pytest.fixture(scope="module")
def apple_production(api_key) -> Iterator[AppStoreApiState]:
    with app_store_api_server(api_key.public_key(), KEY_ID, ISSUER_ID, other_bundle_ids=(LITE,)) as state:
        yield state


@pytest.fixture(scope="module")
def apple_sandbox(api_key) -> Iterator[AppStoreApiState]:
    with app_store_api_server(
        api_key.public_key(), KEY_ID, ISSUER_ID, environment="Sandbox", app_apple_id=None, other_bundle_ids=(LITE,)
    ) as state:
        yield state


@pytest.fixture(scope="module")
def production(tmp_path_factory, idp, api_key, apple_production, apple_sandbox) -> Iterator[Parity]:
    """A Production stack for two apps, with the App Store Server API of both environments."""
    workdir = tmp_path_factory.mktemp("production-stack")
    key_file = workdir / "AuthKey.p8"
    key_file.write_bytes(
        api_key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    with local_stack(
        workdir,
        idp,
        APPLE_BUNDLE_ID=f"{PRODUCTION.bundle_id},{LITE}",
        APPLE_APP_APPLE_ID=f"{PRODUCTION.app_apple_id},{LITE_APPLE_ID}",
        APPLE_ENVIRONMENT="Production",
        APPLE_ROOT_CERTS=str(PRODUCTION.chain.write_root(workdir)),
        APPLE_API_BASE=apple_production.base_url,
        APPLE_SANDBOX_API_BASE=apple_sandbox.base_url,
        APPLE_KEY_ID=KEY_ID,
        APPLE_ISSUER_ID=ISSUER_ID,
        APPLE_PRIVATE_KEY_FILE=str(key_file),
    ) as stack:
        yield stack


def purchase_of(body: dict, purchase_id: str) -> dict:
    return next(p for p in body["purchases"] if p["purchaseId"] == purchase_id)


def test_a_sandbox_notification_on_a_production_stack_grants_and_says_sandbox(production, ids):
    # GIVEN App Review's account on the production stack, and its appAccountToken in StoreKit
    token = production.read(ids.user)["appAccountToken"]
    transaction = subscription(SANDBOX, token)
    purchase_id = f"app_store:{transaction['originalTransactionId']}"

    # WHEN Apple's Sandbox notifies the purchase to the production notification URL
    outcome = production.deliver_apple(subscribed(SANDBOX, transaction), SANDBOX)

    # THEN it is applied: access, and `sandbox` on the purchase, the entitlement and the change event
    assert outcome["outcome"] == "applied", outcome
    body = production.read(ids.user)
    pro = body["entitlements"]["pro"]
    assert (pro["active"], pro["state"], pro["environment"], pro["purchaseId"]) == (True, "active", "sandbox", purchase_id)
    purchase = purchase_of(body, purchase_id)
    assert (purchase["environment"], purchase["app"]) == ("sandbox", PRODUCTION.bundle_id)
    changes = production.changes(ids.user)
    assert changes and all(change["environment"] == "sandbox" for change in changes)
    assert changes[-1]["new"]["environment"] == "sandbox"
    report = production.admin_report(ids.user)
    assert [(p["environment"], p["app"]) for p in report["purchases"]] == [("sandbox", PRODUCTION.bundle_id)]


def test_a_sandbox_receipt_on_a_production_stack_is_checked_with_the_sandbox_api(production, ids, apple_sandbox):
    # GIVEN a TestFlight purchase Apple's Sandbox knows
    transaction = subscription(SANDBOX, None)
    original = transaction["originalTransactionId"]
    apple_sandbox.add_subscription(
        original, SANDBOX.sign(transaction), SANDBOX.signed_renewal_info(originalTransactionId=original)
    )

    # WHEN the app posts its signed transaction
    reply = production.submit_receipt(ids.user, {"store": "app_store", "signedTransaction": SANDBOX.sign(transaction)})

    # THEN it is claimed as a sandbox purchase, checked with the Sandbox API for its app
    assert reply.status == 200, reply.raw
    assert reply.json["entitlements"]["pro"]["environment"] == "sandbox"
    purchase = purchase_of(reply.json, f"app_store:{original}")
    assert (purchase["environment"], purchase["app"]) == ("sandbox", PRODUCTION.bundle_id)
    asked = [r for r in apple_sandbox.requests if r["path"] == f"/inApps/v1/subscriptions/{original}"]
    assert asked and asked[0]["claims"]["bid"] == PRODUCTION.bundle_id


def test_a_production_purchase_of_the_second_app_names_it(production, ids, apple_production):
    token = production.read(ids.user)["appAccountToken"]
    transaction = subscription(LITE_APP, token)
    purchase_id = f"app_store:{transaction['originalTransactionId']}"

    assert production.deliver_apple(subscribed(LITE_APP, transaction), LITE_APP)["outcome"] == "applied"

    body = production.read(ids.user)
    assert body["entitlements"]["pro"]["environment"] == "production"
    assert (purchase_of(body, purchase_id)["app"], purchase_of(body, purchase_id)["environment"]) == (LITE, "production")
    assert all(change["environment"] == "production" for change in production.changes(ids.user))


def test_data_of_an_app_the_stack_does_not_serve_is_refused_with_400(production, ids):
    other = apple.AppleSigner(bundle_id="com.example.unconfigured")
    transaction = subscription(other, None)

    webhook = production.post_apple(json.dumps({"signedPayload": other.sign(subscribed(other, transaction))}).encode())
    receipt = production.submit_receipt(ids.user, {"store": "app_store", "signedTransaction": other.sign(transaction)})

    webhook.assert_error(400, "wrong_bundle_id")
    receipt.assert_error(400, "wrong_bundle_id")
    assert production.read(ids.user)["purchases"] == []
    assert production.stored_event(subscribed(other, transaction)["notificationUUID"], "app_store").status == 404


def test_a_sandbox_stack_still_refuses_production_data(parity, ids):
    # the session's stack is configured Sandbox; a Production-signed notification and receipt for its app
    signer = PRODUCTION.with_(bundle_id=parity_bundle_id())
    notification = subscribed(signer, subscription(signer, None))
    parity.post_apple(json.dumps({"signedPayload": signer.sign(notification)}).encode()).assert_error(
        400, "wrong_environment"
    )
    receipt = {"store": "app_store", "signedTransaction": signer.sign(subscription(signer, None))}
    parity.submit_receipt(ids.user, receipt).assert_error(400, "wrong_environment")
    assert parity.stored_event(notification["notificationUUID"], "app_store").status == 404


def parity_bundle_id() -> str:
    return apple.BUNDLE_ID  # the session stack's APPLE_BUNDLE_ID (conftest's apple_signer)
