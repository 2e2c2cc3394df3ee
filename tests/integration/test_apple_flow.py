"""App Store Server Notifications through the real handlers: verify → store → queue → process → read."""

from __future__ import annotations

import pytest

from tests.support import apple as fx
from tests.support.harness import TEST_CATALOG, running_stack

DAY = fx.DAY_MS
MONTHLY = "com.example.pro.monthly"


@pytest.fixture
def signer() -> fx.AppleSigner:
    return fx.AppleSigner(environment="Sandbox")


@pytest.fixture
def stack(tmp_path, signer):
    catalog = {"products": {**TEST_CATALOG["products"], MONTHLY: ["pro"]}}
    env = {
        "APPLE_BUNDLE_ID": signer.bundle_id,
        "APPLE_ENVIRONMENT": "Sandbox",
        "APPLE_ROOT_CERTS": str(signer.chain.write_root(tmp_path)),
    }
    with running_stack(catalog=catalog, catalog_dir=tmp_path, env=env) as fresh:
        yield fresh


def notification(signer, notification_type, subtype, original, token, *, expires, signed, **tx):
    transaction = signer.transaction(
        originalTransactionId=original,
        transactionId=tx.pop("transaction_id", original),
        appAccountToken=token,
        expiresDate=expires,
        signedDate=signed,
        **tx,
    )
    renewal = signer.renewal_info(originalTransactionId=original, appAccountToken=token, signedDate=signed)
    return signer.notification_body(
        notification_type, subtype, transaction=transaction, renewal_info=renewal, signedDate=signed
    )


def test_a_subscription_carrying_the_users_token_is_theirs(stack, signer):
    # GIVEN a user whose appAccountToken the app passed to StoreKit
    token = stack.read("u_apple").body["appAccountToken"]
    now = fx.now_ms()

    # WHEN Apple notifies the purchase
    response = stack.post_apple(
        notification(signer, "SUBSCRIBED", "INITIAL_BUY", "3000000000000001", token, expires=now + 30 * DAY, signed=now)
    )
    assert response.status == 200
    assert stack.drain().failed == []

    # THEN the user has pro from the App Store, with no call from the app
    pro = stack.read("u_apple").body["entitlements"]["pro"]
    assert (pro["active"], pro["store"], pro["purchaseId"]) == (True, "app_store", "app_store:3000000000000001")


def test_the_same_notification_twice_is_stored_and_processed_once(stack, signer):
    now = fx.now_ms()
    body = notification(signer, "SUBSCRIBED", "INITIAL_BUY", "3000000000000002", None, expires=now + DAY, signed=now)

    first, second = stack.post_apple(body), stack.post_apple(body)

    assert (first.status, second.status) == (200, 200)
    assert (first.body["duplicate"], second.body["duplicate"]) == (False, True)
    assert len(stack.receive()) == 1


def test_a_refund_then_a_late_renewal_of_the_same_transaction_stays_revoked(stack, signer):
    token = stack.read("u_refund").body["appAccountToken"]
    now = fx.now_ms()
    original = "3000000000000003"
    renew = notification(signer, "DID_RENEW", None, original, token, expires=now + 30 * DAY, signed=now)
    refund = notification(
        signer, "REFUND", None, original, token, expires=now + 30 * DAY, signed=now + 1000, revocationDate=now + 900
    )

    # WHEN the refund arrives first and the renewal it refunds late
    for body in (refund, renew):
        assert stack.post_apple(body).status == 200
    assert stack.drain().failed == []

    pro = stack.read("u_refund").body["entitlements"]["pro"]
    assert (pro["active"], pro["state"]) == (False, "revoked")


def test_a_notification_for_another_app_is_refused_and_nothing_is_stored(stack, signer):
    other = signer.with_(bundle_id="com.example.other")
    now = fx.now_ms()
    body = notification(other, "SUBSCRIBED", "INITIAL_BUY", "3000000000000004", None, expires=now + DAY, signed=now)

    response = stack.post_apple(body)

    assert response.status == 400
    assert response.body["error"]["code"] == "wrong_bundle_id"
    assert stack.receive() == []
    assert not [i for i in stack.table_items() if i["PK"].startswith("EVENT#")]


def test_a_chain_from_another_root_is_refused(stack, signer):
    forged = signer.with_(chain=fx.make_chain())
    now = fx.now_ms()
    body = notification(forged, "SUBSCRIBED", "INITIAL_BUY", "3000000000000005", None, expires=now + DAY, signed=now)

    response = stack.post_apple(body)

    assert response.status == 400
    assert stack.receive() == []


def test_a_test_notification_is_acknowledged_and_not_stored(stack, signer):
    body = signer.notification_body("TEST", None)

    response = stack.post_apple(body)

    assert response.status == 200
    assert stack.receive() == []


def test_without_an_app_configured_notifications_are_refused_with_503(tmp_path, signer):
    with running_stack(catalog_dir=tmp_path) as unconfigured:
        response = unconfigured.post_apple(signer.notification_body())

        assert response.status == 503
        assert response.body["error"]["code"] == "not_configured"
        assert unconfigured.receive() == []
