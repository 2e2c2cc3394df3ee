"""Sandbox data on a Production stack, and several apps, through the real handlers against moto:
notifications and receipts are verified, stored, processed and read with `environment` and `app` on
the purchase (and its DynamoDB item), `environment` on the entitlement (and its projection item) and on
the published change; the App Store Server API is asked in the transaction's own environment (a local
imitation for each of Apple's two) and for its own app (the token's `bid`)."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from tests.support import apple as fx
from tests.support.app_store_api import app_store_api_server
from tests.support.harness import TEST_CATALOG, running_stack

DAY = fx.DAY_MS
MONTHLY = "com.example.pro.monthly"
LITE, LITE_APPLE_ID = "com.example.lite", 555000111
KEY_ID, ISSUER_ID = "KEY1234567", "57246542-96fe-1a63-e053-0824d011072a"
CATALOG = {"products": {**TEST_CATALOG["products"], MONTHLY: ["pro"]}}

PRODUCTION = fx.AppleSigner()
SANDBOX = fx.AppleSigner(environment="Sandbox", app_apple_id=None)  # App Review: not published yet
LITE_APP = fx.AppleSigner(bundle_id=LITE, app_apple_id=LITE_APPLE_ID)


def production_env(tmp_path, **extra) -> dict:
    """A Production stack serving the test app and the lite app."""
    return {
        "APPLE_BUNDLE_ID": f"{fx.BUNDLE_ID},{LITE}",
        "APPLE_APP_APPLE_ID": f"{fx.APP_APPLE_ID},{LITE_APPLE_ID}",
        "APPLE_ENVIRONMENT": "Production",
        "APPLE_ROOT_CERTS": str(PRODUCTION.chain.write_root(tmp_path)),
        **extra,
    }


@pytest.fixture
def stack(tmp_path):
    with running_stack(catalog=CATALOG, catalog_dir=tmp_path, env=production_env(tmp_path)) as fresh:
        yield fresh


def subscription(signer: fx.AppleSigner, original: str, **fields) -> dict:
    now = fx.now_ms()
    fields = {"transactionId": original, "expiresDate": now + 30 * DAY, "signedDate": now, **fields}
    return signer.transaction(originalTransactionId=original, **fields)


def notification(signer: fx.AppleSigner, original: str, token: str | None) -> bytes:
    transaction = subscription(signer, original, appAccountToken=token)
    renewal = signer.renewal_info(originalTransactionId=original, appAccountToken=token)
    return signer.notification_body("SUBSCRIBED", "INITIAL_BUY", transaction=transaction, renewal_info=renewal)


def test_a_sandbox_notification_on_a_production_stack_is_stored_and_read_as_sandbox(stack):
    # GIVEN App Review's account on the production stack
    token = stack.read("u_review").body["appAccountToken"]
    stack.changes()

    # WHEN Apple's Sandbox notifies its purchase to the production URL
    response = stack.post_apple(notification(SANDBOX, "6000000000000001", token))

    # THEN it is accepted, applied, and says sandbox in the answer, the items and the change event
    assert response.status == 200, response.body
    assert stack.drain().failed == []
    body = stack.read("u_review").body
    assert (body["entitlements"]["pro"]["active"], body["entitlements"]["pro"]["environment"]) == (True, "sandbox")
    assert [(p["environment"], p["app"]) for p in body["purchases"]] == [("sandbox", fx.BUNDLE_ID)]
    item = stack.purchase_item("app_store:6000000000000001")
    assert (item["environment"], item["app"]) == ("sandbox", fx.BUNDLE_ID)
    assert stack.item("USER#u_review", "ENT#pro")["environment"] == "sandbox"
    assert [change["environment"] for change in stack.changes()] == ["sandbox"]
    report = stack.user_report("u_review").body
    assert [(p["environment"], p["app"]) for p in report["purchases"]] == [("sandbox", fx.BUNDLE_ID)]


def test_each_configured_app_is_served_and_an_unconfigured_one_refused(stack):
    token = stack.read("u_two").body["appAccountToken"]
    assert stack.post_apple(notification(PRODUCTION, "6000000000000002", token)).status == 200
    assert stack.post_apple(notification(LITE_APP, "6000000000000003", token)).status == 200
    assert stack.drain().failed == []
    apps = {p["purchaseId"]: (p["app"], p["environment"]) for p in stack.read("u_two").body["purchases"]}
    assert apps == {
        "app_store:6000000000000002": (fx.BUNDLE_ID, "production"),
        "app_store:6000000000000003": (LITE, "production"),
    }

    # an app the stack does not serve: 400, nothing stored or queued
    other = fx.AppleSigner(bundle_id="com.example.other")
    response = stack.post_apple(notification(other, "6000000000000004", token))
    assert (response.status, response.body["error"]["code"]) == (400, "wrong_bundle_id")
    receipt = {"store": "app_store", "signedTransaction": other.sign(subscription(other, "6000000000000004"))}
    refused = stack.submit_receipt("u_two", receipt)
    assert (refused.status, refused.body["error"]["code"]) == (400, "wrong_bundle_id")
    assert stack.receive() == [] and stack.purchase_item("app_store:6000000000000004") is None


def test_a_sandbox_stack_refuses_production_data(tmp_path):
    env = {**production_env(tmp_path), "APPLE_ENVIRONMENT": "Sandbox"}
    with running_stack(catalog=CATALOG, catalog_dir=tmp_path, env=env) as sandbox_stack:
        response = sandbox_stack.post_apple(notification(PRODUCTION, "6000000000000005", None))
        assert (response.status, response.body["error"]["code"]) == (400, "wrong_environment")
        assert sandbox_stack.receive() == []


# -- the App Store Server API: each transaction in its own environment, for its own app ----------------


@pytest.fixture
def api_key():
    return ec.generate_private_key(ec.SECP256R1())


@pytest.fixture
def apple_production(api_key):
    with app_store_api_server(api_key.public_key(), KEY_ID, ISSUER_ID, other_bundle_ids=(LITE,)) as state:
        yield state


@pytest.fixture
def apple_sandbox(api_key):
    with app_store_api_server(
        api_key.public_key(), KEY_ID, ISSUER_ID, environment="Sandbox", app_apple_id=None, other_bundle_ids=(LITE,)
    ) as state:
        yield state


@pytest.fixture
def api_stack(tmp_path, api_key, apple_production, apple_sandbox):
    key_file = tmp_path / "AuthKey.p8"
    key_file.write_bytes(
        api_key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    env = production_env(
        tmp_path,
        APPLE_API_BASE=apple_production.base_url,
        APPLE_SANDBOX_API_BASE=apple_sandbox.base_url,
        APPLE_KEY_ID=KEY_ID,
        APPLE_ISSUER_ID=ISSUER_ID,
        APPLE_PRIVATE_KEY_FILE=str(key_file),
    )
    with running_stack(catalog=CATALOG, catalog_dir=tmp_path, env=env) as fresh:
        yield fresh


def test_a_sandbox_receipt_asks_the_sandbox_api_and_a_production_one_the_production_api(
    api_stack, apple_production, apple_sandbox
):
    sandbox_tx, production_tx = subscription(SANDBOX, "6000000000000010"), subscription(LITE_APP, "6000000000000011")
    apple_sandbox.add_subscription(
        "6000000000000010", SANDBOX.sign(sandbox_tx), SANDBOX.signed_renewal_info(originalTransactionId="6000000000000010")
    )
    apple_production.add_subscription(
        "6000000000000011",
        LITE_APP.sign(production_tx),
        LITE_APP.signed_renewal_info(originalTransactionId="6000000000000011"),
    )

    sandbox = api_stack.submit_receipt("u_tf", {"store": "app_store", "signedTransaction": SANDBOX.sign(sandbox_tx)})
    production = api_stack.submit_receipt(
        "u_lite", {"store": "app_store", "signedTransaction": LITE_APP.sign(production_tx)}
    )

    assert (sandbox.status, production.status) == (200, 200), (sandbox.body, production.body)
    assert [(p["environment"], p["app"]) for p in sandbox.body["purchases"]] == [("sandbox", fx.BUNDLE_ID)]
    assert [(p["environment"], p["app"]) for p in production.body["purchases"]] == [("production", LITE)]
    # each asked where its transaction lives, with a token for its own app
    assert [(r["path"], r["claims"]["bid"]) for r in apple_sandbox.requests] == [
        ("/inApps/v1/subscriptions/6000000000000010", fx.BUNDLE_ID)
    ]
    assert [(r["path"], r["claims"]["bid"]) for r in apple_production.requests] == [
        ("/inApps/v1/subscriptions/6000000000000011", LITE)
    ]


def test_a_transaction_id_apple_production_does_not_know_is_found_in_the_sandbox(
    api_stack, apple_production, apple_sandbox
):
    original = "6000000000000012"
    tx = subscription(SANDBOX, original)
    apple_sandbox.transactions[original] = SANDBOX.sign(tx)
    apple_sandbox.add_subscription(original, SANDBOX.sign(tx), SANDBOX.signed_renewal_info(originalTransactionId=original))

    response = api_stack.submit_receipt("u_by_id", {"store": "app_store", "transactionId": original})

    assert response.status == 200, response.body
    assert [(p["environment"], p["app"]) for p in response.body["purchases"]] == [("sandbox", fx.BUNDLE_ID)]
    # production first (each app), then the sandbox
    assert all(r["path"] == f"/inApps/v1/transactions/{original}" for r in apple_production.requests)
    assert {r["claims"]["bid"] for r in apple_production.requests} == {fx.BUNDLE_ID, LITE}
    assert f"/inApps/v1/transactions/{original}" in apple_sandbox.paths()
