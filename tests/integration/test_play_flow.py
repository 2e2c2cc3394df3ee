"""Google Play through the real handlers: push → store → queue → fetch from the Play Developer API →
purchase, entitlements, acknowledgement."""

from __future__ import annotations

import time

import pytest

from tests.support import google as push
from tests.support.harness import TEST_CATALOG, running_stack
from tests.support.play_api import PACKAGE, generate_key, play_api_server


@pytest.fixture
def certs():
    with push.certs_server() as state:
        yield state


@pytest.fixture
def play():
    with play_api_server(generate_key()) as state:
        yield state


@pytest.fixture
def stack(tmp_path, certs, play):
    with _stack(tmp_path, certs, play) as fresh:
        yield fresh


def _stack(tmp_path, certs, play, **extra: str):
    env = {
        "GOOGLE_PACKAGE_NAME": PACKAGE,
        "GOOGLE_PUBSUB_AUDIENCE": push.AUDIENCE,
        "GOOGLE_PUBSUB_SERVICE_ACCOUNT": push.SERVICE_ACCOUNT,
        "GOOGLE_OIDC_CERTS_URL": certs.url,
        "GOOGLE_API_BASE": play.base_url,
        "GOOGLE_SERVICE_ACCOUNT_FILE": str(play.write_service_account(tmp_path / "service-account.json")),
    }
    catalog = {"products": {**TEST_CATALOG["products"], "pro_monthly": ["pro"], "lifetime": ["pro", "lifetime"]}}
    return running_stack(catalog=catalog, catalog_dir=tmp_path, env={**env, **extra})


def notify(stack, notification: dict, message_id: str | None = None) -> None:
    response = stack.post_google(push.push_body(notification, message_id=message_id), push.bearer(push.mint_token()))
    assert response.status == 200, response.body


def acknowledgements(play) -> list[tuple[str, str]]:
    return [call for call in play.calls() if call[1].endswith(":acknowledge")]


def test_a_purchase_with_the_users_token_is_theirs_and_acknowledged_once(stack, play):
    account = stack.read("u_play").body["appAccountToken"]
    token = push.purchase_token()
    play.add_subscription(token, externalAccountIdentifiers={"obfuscatedExternalAccountId": account})

    notify(stack, push.subscription_notification(token, 4))  # SUBSCRIPTION_PURCHASED
    notify(stack, push.subscription_notification(token, 4))  # Pub/Sub redelivers (a new message id)
    assert stack.drain().failed == []

    pro = stack.read("u_play").body["entitlements"]["pro"]
    assert (pro["active"], pro["store"], pro["purchaseId"]) == (True, "play_store", f"play_store:{token}")
    assert len(acknowledgements(play)) == 1


def test_an_upgrade_replaces_the_token_in_one_lifecycle(stack, play):
    account = stack.read("u_upgrade").body["appAccountToken"]
    old, new = push.purchase_token(), push.purchase_token()
    identifiers = {"obfuscatedExternalAccountId": account}
    play.add_subscription(old, externalAccountIdentifiers=identifiers, acknowledgementState="ACKNOWLEDGEMENT_STATE_ACKNOWLEDGED")
    notify(stack, push.subscription_notification(old, 4))
    assert stack.drain().failed == []

    play.add_subscription(
        new, product_id="pro_monthly", linkedPurchaseToken=old, externalAccountIdentifiers=identifiers,
        acknowledgementState="ACKNOWLEDGEMENT_STATE_ACKNOWLEDGED",
    )
    notify(stack, push.subscription_notification(new, 4))
    assert stack.drain().failed == []

    purchases = stack.read("u_upgrade").body["purchases"]
    assert [p["purchaseId"] for p in purchases] == [f"play_store:{old}"]


def test_a_voided_subscription_is_revoked(stack, play):
    token, bought = _voided_setup(stack, play, "u_void")

    play.add_voided(token, int(time.time() * 1000), orderId=bought["latestOrderId"])  # Google lists the refund
    notify(stack, push.voided_purchase_notification(token, order_id=bought["latestOrderId"]))
    assert stack.drain().failed == []

    pro = stack.read("u_void").body["entitlements"]["pro"]
    assert (pro["active"], pro["state"]) == (False, "revoked")
    listed = [r for r in play.requests if r["path"].endswith("/purchases/voidedpurchases")]
    assert [r["query"]["type"] for r in listed] == [["1"]]  # subscriptions included


def _voided_setup(stack, play, user: str) -> tuple[str, dict]:
    account = stack.read(user).body["appAccountToken"]
    token = push.purchase_token()
    bought = play.add_subscription(
        token, externalAccountIdentifiers={"obfuscatedExternalAccountId": account},
        acknowledgementState="ACKNOWLEDGEMENT_STATE_ACKNOWLEDGED",
    )
    notify(stack, push.subscription_notification(token, 4))
    assert stack.drain().failed == []
    return token, bought


def test_a_forged_void_that_google_does_not_list_revokes_nothing(stack, play):
    # GIVEN an active subscription, and Google listing no refund of it
    token, bought = _voided_setup(stack, play, "u_forged")
    stack.changes()

    # WHEN a push claims its order was refunded
    notify(stack, push.voided_purchase_notification(token, order_id=bought["latestOrderId"]), message_id="forged-1")
    assert stack.drain().failed == []

    # THEN nothing is revoked: the event is recorded as unconfirmed and changes nothing
    pro = stack.read("u_forged").body["entitlements"]["pro"]
    assert (pro["active"], pro["state"]) == (True, "active")
    assert stack.event_item("forged-1", source="play_store")["outcome"] == "unconfirmed"
    assert stack.changes() == []
    assert "revocations" not in stack.purchase_item(f"play_store:{token}")


def test_a_void_of_another_order_of_the_token_is_not_confirmed(stack, play):
    token, bought = _voided_setup(stack, play, "u_other_order")
    play.add_voided(token, int(time.time() * 1000), orderId="GPA.0000-0000-0000-00000")  # an older order, refunded

    notify(stack, push.voided_purchase_notification(token, order_id=bought["latestOrderId"]))
    assert stack.drain().failed == []

    assert stack.read("u_other_order").body["entitlements"]["pro"]["active"] is True


def test_a_forged_void_of_a_one_time_product_revokes_nothing_and_a_real_one_revokes(stack, play):
    account = stack.read("u_lifetime").body["appAccountToken"]
    token = push.purchase_token()
    bought = play.add_product(token, product_id="lifetime", obfuscatedExternalAccountId=account, acknowledgementState=1)
    notify(stack, push.one_time_product_notification(token, 1, sku="lifetime"))
    assert stack.drain().failed == []

    notify(stack, push.voided_purchase_notification(token, order_id=bought["orderId"], product_type=2))
    assert stack.drain().failed == []
    assert stack.read("u_lifetime").body["entitlements"]["lifetime"]["active"] is True

    play.add_voided(token, int(time.time() * 1000), subscription=False, orderId=bought["orderId"])
    notify(stack, push.voided_purchase_notification(token, order_id=bought["orderId"], product_type=2))
    assert stack.drain().failed == []
    lifetime = stack.read("u_lifetime").body["entitlements"]["lifetime"]
    assert (lifetime["active"], lifetime["state"]) == (False, "revoked")


def test_google_unreachable_when_confirming_a_void_fails_the_record_for_a_retry(stack, play):
    account = stack.read("u_void_retry").body["appAccountToken"]
    token = push.purchase_token()
    bought = play.add_product(token, product_id="lifetime", obfuscatedExternalAccountId=account, acknowledgementState=1)
    notify(stack, push.one_time_product_notification(token, 1, sku="lifetime"))
    assert stack.drain().failed == []
    play.add_voided(token, int(time.time() * 1000), subscription=False, orderId=bought["orderId"])

    # GIVEN Google's voided purchases list is down (the client's two attempts)
    play.script(503, {"error": {"code": 503, "message": "Backend Error"}}, times=2)
    notify(stack, push.voided_purchase_notification(token, order_id=bought["orderId"], product_type=2))

    # THEN the record fails (SQS retries it) and nothing is revoked meanwhile
    assert len(stack.drain().failed) == 1
    assert stack.read("u_void_retry").body["entitlements"]["lifetime"]["active"] is True

    # WHEN Google answers again, the retry confirms and revokes
    stack.redeliver_failed()
    assert stack.drain().failed == []
    assert stack.read("u_void_retry").body["entitlements"]["lifetime"]["active"] is False


def test_google_unreachable_fails_the_record_for_a_retry(stack, play):
    token = push.purchase_token()
    play.add_subscription(token)
    play.script(503, push_error := {"error": {"code": 503, "message": "Backend Error", "status": "UNAVAILABLE"}}, times=20)

    notify(stack, push.subscription_notification(token, 4))
    drained = stack.drain()

    assert len(drained.failed) == 1 and push_error
    assert stack.purchase_item(f"play_store:{token}") is None


# -- POST /v1/users/{userId}/receipts, play_store -------------------------------------------------------


def play_receipt(token: str, product_id: str = "pro_monthly", package: str = PACKAGE) -> dict:
    return {"store": "play_store", "packageName": package, "productId": product_id, "purchaseToken": token}


def test_a_play_receipt_is_fetched_claimed_acknowledged_and_readable_at_once(stack, play):
    token = push.purchase_token()
    play.add_subscription(token)

    response = stack.submit_receipt("u_play_receipt", play_receipt(token))

    assert response.status == 200, response.body
    assert response.body["entitlements"]["pro"]["active"] is True
    assert len(acknowledgements(play)) == 1
    # a second submission finds it acknowledged: no second call
    assert stack.submit_receipt("u_play_receipt", play_receipt(token)).status == 200
    assert len(acknowledgements(play)) == 1


def test_a_one_time_product_receipt_is_a_lifetime_entitlement(stack, play):
    token = push.purchase_token()
    play.add_product(token, product_id="lifetime")

    response = stack.submit_receipt("u_play_lifetime", play_receipt(token, product_id="lifetime"))

    assert response.status == 200, response.body
    lifetime = response.body["entitlements"]["lifetime"]
    assert (lifetime["active"], lifetime["expiresAt"]) == (True, None)


def test_a_receipt_for_another_package_is_a_400(stack, play):
    response = stack.submit_receipt("u_play_other", play_receipt(push.purchase_token(), package="com.example.other"))

    assert (response.status, response.body["error"]["code"]) == (400, "wrong_package")


def test_a_token_google_does_not_know_is_a_400(stack, play):
    response = stack.submit_receipt("u_play_unknown", play_receipt(push.purchase_token()))

    assert (response.status, response.body["error"]["code"]) == (400, "unverifiable_receipt")


def test_google_unreachable_gives_202_pending_and_the_retry_claims_later(stack, play):
    token = push.purchase_token()
    play.add_subscription(token)
    play.script(503, {"error": {"code": 503, "message": "Backend Error", "status": "UNAVAILABLE"}}, times=2)

    response = stack.submit_receipt("u_play_pending", play_receipt(token))

    assert (response.status, response.body["status"]) == (202, "pending")
    assert stack.drain().failed == []
    assert stack.read("u_play_pending").body["entitlements"]["pro"]["active"] is True


@pytest.mark.parametrize("strategy", ["ALL", "FIRST", "LAST"])
def test_a_purchase_token_that_google_says_is_another_users_is_a_409(tmp_path, certs, play, strategy):
    with _stack(tmp_path, certs, play, ENTITLEMENT_STRATEGY=strategy) as stack:
        # GIVEN u_owner bought with their token as obfuscatedExternalAccountId, and claimed it
        account = stack.read("u_owner").body["appAccountToken"]
        token = push.purchase_token()
        play.add_subscription(token, externalAccountIdentifiers={"obfuscatedExternalAccountId": account})
        assert stack.submit_receipt("u_owner", play_receipt(token)).status == 200

        # WHEN u_thief posts the same purchase token
        response = stack.submit_receipt("u_thief", play_receipt(token))

        # THEN it is refused and u_owner keeps access
        assert (response.status, response.body["error"]["code"]) == (409, "purchase_owned_by_another_user")
        assert stack.read("u_owner").body["entitlements"]["pro"]["active"] is True
        assert "pro" not in stack.read("u_thief").body["entitlements"]
