"""Sandbox on a Production stack, and several apps per stack, on the in-memory fakes with the real App
Store verifier (generated test chain): a Sandbox notification or receipt is accepted by a Production
stack and says `environment: sandbox` on the purchase, the entitlement and the change event; every
purchase names its `app`; the drift check asks Apple in the purchase's own app and environment; data
of an app the stack does not serve is a 400 that changes nothing. The same for Google Play packages."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta, timezone

import pytest

from parity.domain.catalog import Catalog
from parity.domain.errors import RejectedWebhook
from parity.domain.model import PurchaseUpdate, Snapshot, State, Store
from parity.domain.purchases import apply_update
from parity.services.ingest import AppleIngest, GoogleIngest
from tests.support import apple as fx
from tests.support import play_payloads as play
from tests.support.domain import TEST_CATALOG
from tests.support.fakes import FakeAppStoreApi, FakeClock, FakePlayApi, apple_verifier, push_verifier
from tests.support.google import bearer, mint_token
from tests.support.services import World

MONTHLY = "com.example.pro.monthly"
LITE, LITE_APPLE_ID = "com.example.lite", 555000111
DAY = fx.DAY_MS


def apple_world(environment: str = "Production", apps: dict | None = None) -> World:
    now = datetime.fromtimestamp(fx.now_ms() / 1000, timezone.utc)
    return World(
        clock=FakeClock(now, tick=timedelta(milliseconds=1)),
        catalog=Catalog.from_document({"products": {**TEST_CATALOG["products"], MONTHLY: ["pro"]}}),
        apple_verifier=apple_verifier(environment, apps),
        app_store_api=FakeAppStoreApi(),
    )


def subscription(signer: fx.AppleSigner, original: str, **fields) -> dict:
    now = fx.now_ms()
    fields = {"transactionId": original, "expiresDate": now + 30 * DAY, "signedDate": now, **fields}
    return signer.transaction(originalTransactionId=original, **fields)


def notify(world: World, signer: fx.AppleSigner, transaction: dict) -> None:
    """Apple's SUBSCRIBED notification for `transaction`, through the webhook's path and the queue."""
    renewal = signer.renewal_info(originalTransactionId=transaction["originalTransactionId"])
    body = signer.notification_body(transaction=transaction, renewal_info=renewal)
    AppleIngest(world.intake(), world.apple_verifier).ingest(body)
    world.drain()
    assert not world.failed


SANDBOX = fx.AppleSigner(environment="Sandbox", app_apple_id=None)  # App Review: the app is not live yet


# -- the domain: environment and app are facts of the whole lifecycle ----------------------------------


def test_an_update_naming_environment_and_app_sets_them_whatever_its_time():
    at = datetime(2026, 1, 1, tzinfo=timezone.utc)
    first = PurchaseUpdate(
        Store.APP_STORE, "1", "e1", at, snapshot=Snapshot(State.ACTIVE, at + timedelta(days=30), at, environment="sandbox"),
        environment="sandbox", app="com.example.app",
    )  # fmt: skip
    purchase = apply_update(None, first)
    assert (purchase.environment, purchase.app) == ("sandbox", "com.example.app")
    # a purchase stored before the fields existed (production, no app) learns them from an older event
    stored = replace(purchase, environment="production", app=None, version=3)
    older = PurchaseUpdate(Store.APP_STORE, "1", "e0", at - timedelta(days=1), environment="sandbox", app="com.example.app")
    assert (apply_update(stored, older).environment, apply_update(stored, older).app) == ("sandbox", "com.example.app")
    # an update that does not name them keeps what is stored
    silent = PurchaseUpdate(Store.APP_STORE, "1", "e2", at + timedelta(days=1), snapshot=first.snapshot and replace(first.snapshot, as_of=at + timedelta(days=1)))
    assert apply_update(purchase, silent).app == "com.example.app"


def test_an_apple_transaction_names_its_environment_and_app_on_the_update():
    from parity.domain import apple

    update = apple.normalize_transaction(SANDBOX.transaction()).update_for("u_1")
    assert (update.environment, update.app) == ("sandbox", fx.BUNDLE_ID)


# -- Sandbox on a Production stack ---------------------------------------------------------------------


def test_a_production_stack_applies_a_sandbox_notification_marked_sandbox_everywhere():
    world = apple_world("Production")
    token = world.read("u_reviewer")["appAccountToken"]
    world.publisher.changes()

    # WHEN App Review's Sandbox purchase is notified to the production server
    notify(world, SANDBOX, subscription(SANDBOX, "5000000000000001", appAccountToken=token))

    # THEN it grants, and says sandbox on the purchase, the entitlement and the change event
    body = world.read("u_reviewer")
    assert body["entitlements"]["pro"]["active"] is True
    assert body["entitlements"]["pro"]["environment"] == "sandbox"
    assert [(p["environment"], p["app"]) for p in body["purchases"]] == [("sandbox", fx.BUNDLE_ID)]
    assert [c["environment"] for c in world.publisher.changes()] == ["sandbox"]
    stored = world.store.get_purchase("app_store:5000000000000001")
    assert (stored.environment, stored.app) == ("sandbox", fx.BUNDLE_ID)


def test_a_production_notification_says_production():
    world = apple_world("Production")
    token = world.read("u_customer")["appAccountToken"]
    notify(world, fx.AppleSigner(), subscription(fx.AppleSigner(), "5000000000000002", appAccountToken=token))
    body = world.read("u_customer")
    assert body["entitlements"]["pro"]["environment"] == "production"
    assert [(p["environment"], p["app"]) for p in body["purchases"]] == [("production", fx.BUNDLE_ID)]


def test_a_sandbox_receipt_on_a_production_stack_claims_and_says_sandbox():
    world = apple_world("Production")
    tx = subscription(SANDBOX, "5000000000000003")
    world.app_store_api.current["5000000000000003"] = (tx, SANDBOX.renewal_info(originalTransactionId="5000000000000003"), 1)

    status, body = world.submit_receipt("u_tester", {"store": "app_store", "signedTransaction": SANDBOX.sign(tx)})

    assert status == 200, body
    assert body["entitlements"]["pro"]["environment"] == "sandbox"
    assert [(p["environment"], p["app"]) for p in body["purchases"]] == [("sandbox", fx.BUNDLE_ID)]


def test_a_sandbox_stack_still_refuses_production_data_and_changes_nothing():
    world = apple_world("Sandbox")
    tx = subscription(fx.AppleSigner(), "5000000000000004")
    status, body = world.submit_receipt("u_x", {"store": "app_store", "signedTransaction": fx.AppleSigner().sign(tx)})
    assert (status, body["error"]["code"]) == (400, "wrong_environment")
    with pytest.raises(RejectedWebhook) as refused:
        AppleIngest(world.intake(), world.apple_verifier).ingest(fx.AppleSigner().notification_body(transaction=tx))
    assert refused.value.code == "wrong_environment"
    assert world.store.get_purchase("app_store:5000000000000004") is None and not world.queue.messages


def test_the_drift_check_of_a_sandbox_purchase_asks_apple_in_the_sandbox_of_its_app():
    world = apple_world("Production")
    tx = subscription(SANDBOX, "5000000000000005")
    notify(world, SANDBOX, tx)
    world.app_store_api.current["5000000000000005"] = (tx, SANDBOX.renewal_info(originalTransactionId="5000000000000005"), 1)

    world.clock.advance(days=8)
    world.scan()

    assert {"transaction_id": "5000000000000005", "app": fx.BUNDLE_ID, "environment": "sandbox"} in world.app_store_api.asked


# -- several apps --------------------------------------------------------------------------------------


def test_each_app_of_a_stack_names_itself_on_its_purchases():
    world = apple_world("Production", {fx.BUNDLE_ID: fx.APP_APPLE_ID, LITE: LITE_APPLE_ID})
    lite = fx.AppleSigner(bundle_id=LITE, app_apple_id=LITE_APPLE_ID)
    token = world.read("u_two_apps")["appAccountToken"]

    notify(world, fx.AppleSigner(), subscription(fx.AppleSigner(), "5000000000000010", appAccountToken=token))
    notify(world, lite, subscription(lite, "5000000000000011", appAccountToken=token))

    apps = {p["purchaseId"]: p["app"] for p in world.read("u_two_apps")["purchases"]}
    assert apps == {"app_store:5000000000000010": fx.BUNDLE_ID, "app_store:5000000000000011": LITE}


def test_data_of_an_app_the_stack_does_not_serve_is_a_400_that_changes_nothing():
    world = apple_world("Production", {fx.BUNDLE_ID: fx.APP_APPLE_ID, LITE: LITE_APPLE_ID})
    other = fx.AppleSigner(bundle_id="com.example.other")
    tx = subscription(other, "5000000000000012")

    status, body = world.submit_receipt("u_x", {"store": "app_store", "signedTransaction": other.sign(tx)})
    assert (status, body["error"]["code"]) == (400, "wrong_bundle_id")
    with pytest.raises(RejectedWebhook) as refused:
        AppleIngest(world.intake(), world.apple_verifier).ingest(other.notification_body(transaction=tx))
    assert (refused.value.code, refused.value.status) == ("wrong_bundle_id", 400)
    assert world.store.get_purchase("app_store:5000000000000012") is None and not world.queue.messages


# -- Google Play: several packages, test purchases -----------------------------------------------------

PHONE, TABLET = play.PACKAGE, "com.example.parity.tablet"


def play_world() -> World:
    return World(
        clock=FakeClock(play.at(1)),
        catalog=Catalog.from_document({"products": {play.MONTHLY: ["pro"]}}),
        play_api=FakePlayApi(),
        play_package=(PHONE, TABLET),  # type: ignore[arg-type]
    )


def test_a_play_receipt_of_the_second_package_names_it_and_a_test_purchase_says_sandbox():
    world = play_world()
    world.play_api.subscriptions[(TABLET, "tok-tablet")] = play.subscription(account=None, test=True)

    status, body = world.submit_receipt(
        "u_tablet", {"store": "play_store", "packageName": TABLET, "productId": play.MONTHLY, "purchaseToken": "tok-tablet"}
    )

    assert status == 200, body
    assert [(p["environment"], p["app"]) for p in body["purchases"]] == [("sandbox", TABLET)]
    assert body["entitlements"]["pro"]["environment"] == "sandbox"


def test_a_play_receipt_or_notification_of_another_package_is_a_400():
    world = play_world()
    status, body = world.submit_receipt(
        "u_x", {"store": "play_store", "packageName": "com.example.other", "productId": play.MONTHLY, "purchaseToken": "t"}
    )
    assert (status, body["error"]["code"]) == (400, "wrong_package")
    ingest = GoogleIngest(world.intake(), push_verifier(), world.play_package)
    notification = {**play.subscription_notification(4), "packageName": "com.example.other"}
    with pytest.raises(RejectedWebhook) as refused:
        ingest.ingest(_push(notification), bearer(mint_token()))
    assert refused.value.code == "wrong_package" and not world.queue.messages
    # the second package's notification is accepted, and processed against its own package
    world.play_api.subscriptions[(TABLET, play.PURCHASE_TOKEN)] = play.subscription()
    ingest.ingest(_push({**play.subscription_notification(4), "packageName": TABLET}), bearer(mint_token()))
    world.drain()
    assert not world.failed
    assert world.store.get_purchase(f"play_store:{play.PURCHASE_TOKEN}").app == TABLET


def _push(notification: dict) -> bytes:
    import json

    return json.dumps(play.push_envelope(notification)).encode()
