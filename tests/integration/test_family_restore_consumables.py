"""Family Sharing, restores and consumables through the real handlers against moto: receipts and
notifications verified on the generated chain, the App Store Server API client against the local
imitation (transaction history paged with `revision` and `hasMore`), the change bus captured."""

from __future__ import annotations

import pytest

from tests.integration.test_app_store_receipts import api_env, apple_env
from tests.support import apple as fx
from tests.support.app_store_api import app_store_api_server
from tests.support.harness import TEST_CATALOG, running_stack

DAY = fx.DAY_MS
MONTHLY = "com.example.pro.monthly"
LIFETIME = "com.example.lifetime"
COINS = "com.example.coins.100"
KEY_ID, ISSUER_ID = "KEY1234567", "57246542-96fe-1a63-e053-0824d011072a"
CATALOG = {"products": {**TEST_CATALOG["products"], MONTHLY: ["pro"], LIFETIME: ["lifetime"], COINS: ["coins"]}}


@pytest.fixture
def signer() -> fx.AppleSigner:
    return fx.AppleSigner(environment="Sandbox")


@pytest.fixture
def stack(tmp_path, signer):
    with running_stack(catalog=CATALOG, catalog_dir=tmp_path, env=apple_env(tmp_path, signer)) as fresh:
        yield fresh


def subscription(signer, original: str, **fields) -> dict:
    now = fx.now_ms()
    fields = {"transactionId": original, "expiresDate": now + 30 * DAY, "signedDate": now, **fields}
    return signer.transaction(originalTransactionId=original, **fields)


def one_time(signer, original: str, product: str, kind: str, **fields) -> dict:
    return signer.transaction(
        transactionId=original, originalTransactionId=original, expiresDate=None, signedDate=fx.now_ms(),
        **{"productId": product, "type": kind, "appAccountToken": None, **fields},
    )  # fmt: skip


def post(stack, signer, kind: str, subtype: str | None, transaction: dict) -> None:
    assert stack.post_apple(signer.notification_body(kind, subtype, transaction=transaction)).status == 200
    assert stack.drain().failed == []


# -- Family Sharing ----------------------------------------------------------------------------------


def test_a_family_share_is_the_members_by_their_receipt_and_revoke_ends_only_theirs(stack, signer):
    # GIVEN a parent who bought with their token (notified), and the member's own family-shared transaction
    parent_token = stack.read("u_parent").body["appAccountToken"]
    post(stack, signer, "SUBSCRIBED", "INITIAL_BUY", subscription(signer, "7100000000000001", appAccountToken=parent_token))
    shared = subscription(signer, "7100000000000002", inAppOwnershipType="FAMILY_SHARED", appAccountToken=None)
    post(stack, signer, "SUBSCRIBED", "INITIAL_BUY", shared)  # Apple notifies the member's share too: nobody's yet
    assert stack.purchase_item("app_store:7100000000000002").get("ownerIds") is None

    # WHEN the member's app posts it
    response = stack.submit_receipt("u_member", {"store": "app_store", "signedTransaction": signer.sign(shared)})

    # THEN it is theirs, as family
    assert response.status == 200, response.body
    assert response.body["entitlements"]["pro"]["active"] is True
    assert [(p["purchaseId"], p["ownership"]) for p in response.body["purchases"]] == [
        ("app_store:7100000000000002", "family")
    ]
    assert stack.purchase_item("app_store:7100000000000002")["familyShared"] is True

    # WHEN sharing is turned off (REVOKE of the member's transaction)
    post(stack, signer, "REVOKE", None, {**shared, "revocationDate": fx.now_ms(), "revocationReason": 0})

    # THEN the member's access ends, the parent's does not
    member = stack.read("u_member").body
    assert (member["entitlements"]["pro"]["active"], member["entitlements"]["pro"]["state"]) == (False, "revoked")
    assert stack.read("u_parent").body["entitlements"]["pro"]["active"] is True


# -- consumables -------------------------------------------------------------------------------------


def test_an_app_store_consumable_grants_nothing_and_is_completed_once_on_the_bus(stack, signer):
    token = stack.read("u_coins").body["appAccountToken"]
    coins = one_time(signer, "7200000000000001", COINS, "Consumable", appAccountToken=token, quantity=5)
    stack.changes(), stack.notices()  # what earlier reads published

    post(stack, signer, "ONE_TIME_CHARGE", None, coins)
    response = stack.submit_receipt("u_coins", {"store": "app_store", "signedTransaction": signer.sign(coins)})

    assert response.status == 200
    assert response.body["entitlements"] == {}
    assert [(p["purchaseId"], p["entitlements"]) for p in response.body["purchases"]] == [("app_store:7200000000000001", [])]
    completed = [n for n in stack.notices() if n["type"] == "purchase.completed"]
    assert [(n["id"], n["userId"], n["quantity"], n["productId"]) for n in completed] == [
        ("7200000000000001", "u_coins", 5, COINS)
    ]


# -- restore (the App Store Server API imitated locally) -----------------------------------------------


@pytest.fixture
def api_key():
    from cryptography.hazmat.primitives.asymmetric import ec

    return ec.generate_private_key(ec.SECP256R1())


@pytest.fixture
def api(api_key):
    with app_store_api_server(
        api_key.public_key(), KEY_ID, ISSUER_ID, environment="Sandbox", app_apple_id=None, page_size=2
    ) as state:
        yield state


@pytest.fixture
def api_stack(tmp_path, signer, api, api_key):
    env = apple_env(tmp_path, signer, **api_env(tmp_path, api, api_key))
    with running_stack(catalog=CATALOG, catalog_dir=tmp_path, env=env) as fresh:
        yield fresh


def test_restore_reads_every_page_of_the_history_and_claims_each_purchase(api_stack, api, signer):
    # GIVEN an account whose history holds a renewed subscription, a lifetime unlock and a purchase
    # bought with another user's token, over two pages
    other = api_stack.read("u_other").body["appAccountToken"]
    now = fx.now_ms()
    first = subscription(signer, "7300000000000001", appAccountToken=None, purchaseDate=now - 40 * DAY,
                         signedDate=now - 40 * DAY, expiresDate=now - 10 * DAY)  # fmt: skip
    renewal = subscription(signer, "7300000000000001", transactionId="7300000000000002", appAccountToken=None)
    forever = one_time(signer, "7300000000000003", LIFETIME, "Non-Consumable")
    theirs = one_time(signer, "7300000000000004", LIFETIME, "Non-Consumable", appAccountToken=other)
    api.history["7300000000000003"] = [signer.sign(tx) for tx in (first, renewal, forever, theirs)]
    api.add_subscription("7300000000000002", signer.sign(renewal), signer.signed_renewal_info(originalTransactionId="7300000000000001"))

    # WHEN the user restores from the lifetime unlock's signed transaction
    response = api_stack.submit_receipt(
        "u_restorer", {"store": "app_store", "signedTransaction": signer.sign(forever), "restore": True}
    )

    # THEN every page was read, and each purchase claimed under the claim rules
    assert response.status == 200, response.body
    assert response.body["restored"] == {
        "claimed": ["app_store:7300000000000001", "app_store:7300000000000003"],
        "refused": ["app_store:7300000000000004"],
    }
    entitlements = response.body["entitlements"]
    assert entitlements["pro"]["active"] and entitlements["lifetime"]["purchaseId"] == "app_store:7300000000000003"
    assert api_stack.read("u_restorer").body["entitlements"] == entitlements
    history = [r for r in api.requests if r["path"] == "/inApps/v2/history/7300000000000003"]
    assert [r["query"].get("revision") for r in history] == [None, ["rev-2"]]
    assert api_stack.purchase_item("app_store:7300000000000004").get("ownerIds") is None


def test_restore_of_an_unknown_transaction_id_is_refused(api_stack):
    response = api_stack.submit_receipt(
        "u_restorer", {"store": "app_store", "transactionId": "7300000000000099", "restore": True}
    )

    assert (response.status, response.body["error"]["code"]) == (400, "unverifiable_receipt")
