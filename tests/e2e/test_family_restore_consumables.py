"""Family Sharing, restores and consumables through the whole local stack, over HTTP only: notifications
and StoreKit 2 transactions signed at test time by the chain the stack trusts, Play purchases in the
Play Developer API imitation, and (for restores) a second stack whose App Store Server API is the local
imitation, answering the account's transaction history signed at test time, page by page."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from tests.e2e.conftest import (
    APPLE_COINS,
    APPLE_LIFETIME,
    APPLE_MONTHLY,
    PLAY_COINS,
    PLAY_PACKAGE,
    local_stack,
    wait_until,
)
from tests.support import apple
from tests.support import google as push
from tests.support.app_store_api import AppStoreApiState, app_store_api_server

pytestmark = pytest.mark.e2e

DAY = apple.DAY_MS
KEY_ID, ISSUER_ID = "KEYE2E0001", "57246542-96fe-1a63-e053-0824d011072a"


def new_id() -> str:
    """A 16-digit transaction id, like Apple's, unique to this run."""
    return str(3_000_000_000_000_000 + uuid.uuid4().int % 10**15)


def subscription(signer: apple.AppleSigner, original: str | None = None, **fields) -> dict:
    now = apple.now_ms()
    original = original or new_id()
    return signer.transaction(
        **{"transactionId": original, "originalTransactionId": original, "productId": APPLE_MONTHLY,
           "purchaseDate": now - 60_000, "originalPurchaseDate": now - 60_000, "expiresDate": now + 30 * DAY,
           "signedDate": now, "appAccountToken": None, "appTransactionId": new_id(), **fields}
    )  # fmt: skip


def one_time(signer: apple.AppleSigner, product: str, kind: str, **fields) -> dict:
    return subscription(signer, productId=product, type=kind, expiresDate=None, **fields)


def completed(parity, user_id: str) -> list[dict]:
    return parity.bus_events("purchase.completed", user_id)


# ------------------------------------------------------------------------------------------ Family Sharing


def test_a_family_members_share_is_theirs_by_their_receipt_and_revoke_ends_only_theirs(parity, apple_signer):
    parent, member = f"u_parent_{uuid.uuid4().hex[:8]}", f"u_member_{uuid.uuid4().hex[:8]}"
    # GIVEN a parent who subscribed with their appAccountToken (Apple notified it)
    bought = subscription(apple_signer, appAccountToken=parity.read(parent)["appAccountToken"])
    parity.deliver_apple(apple_signer.notification("SUBSCRIBED", "INITIAL_BUY", transaction=bought), apple_signer)
    assert parity.read(parent)["entitlements"]["pro"]["active"] is True

    # WHEN the family member's app posts the member's own transaction of the shared subscription
    shared = subscription(apple_signer, inAppOwnershipType="FAMILY_SHARED")
    reply = parity.submit_receipt(member, {"store": "app_store", "signedTransaction": apple_signer.sign(shared)})

    # THEN the member has pro, through a purchase they hold as family
    assert reply.status == 200, reply.raw
    assert reply.json["entitlements"]["pro"]["active"] is True
    assert [(p["purchaseId"], p["ownership"]) for p in reply.json["purchases"]] == [
        (f"app_store:{shared['originalTransactionId']}", "family")
    ]
    assert [(p["ownership"]) for p in parity.read(parent)["purchases"]] == ["owner"]

    # WHEN the parent turns sharing off: Apple revokes the member's transaction
    revoked = {**shared, "revocationDate": apple.now_ms(), "revocationReason": 0, "signedDate": apple.now_ms()}
    outcome = parity.deliver_apple(apple_signer.notification("REVOKE", None, transaction=revoked), apple_signer)

    # THEN only the member's access ends
    assert outcome["outcome"] == "applied", outcome
    pro = parity.read(member)["entitlements"]["pro"]
    assert (pro["active"], pro["state"]) == (False, "revoked")
    assert parity.read(parent)["entitlements"]["pro"]["active"] is True
    assert [c["new"]["state"] for c in parity.changes(member)][-1] == "revoked"
    assert all(c["new"]["active"] for c in parity.changes(parent))


def test_a_family_share_notified_before_the_member_posts_it_belongs_to_no_one_until_then(parity, apple_signer):
    member = f"u_member_{uuid.uuid4().hex[:8]}"
    parent_token = parity.read(f"u_parent_{uuid.uuid4().hex[:8]}")["appAccountToken"]
    # Apple does not give a member's transaction the purchaser's token; should one appear, it claims nothing
    shared = subscription(apple_signer, inAppOwnershipType="FAMILY_SHARED", appAccountToken=parent_token)

    parity.deliver_apple(apple_signer.notification("SUBSCRIBED", "INITIAL_BUY", transaction=shared), apple_signer)
    reply = parity.submit_receipt(member, {"store": "app_store", "transactionId": shared["transactionId"]})
    assert reply.status == 503  # no App Store Server API on this stack: an id alone cannot be looked up

    reply = parity.submit_receipt(member, {"store": "app_store", "signedTransaction": apple_signer.sign(shared)})
    assert reply.status == 200, reply.raw
    assert reply.json["entitlements"]["pro"]["active"] is True
    assert reply.json["purchases"][0]["ownership"] == "family"


# ------------------------------------------------------------------------------------------ consumables


def test_an_app_store_consumable_is_recorded_grants_nothing_and_is_completed_once(parity, apple_signer):
    user = f"u_coins_{uuid.uuid4().hex[:8]}"
    coins = one_time(apple_signer, APPLE_COINS, "Consumable", appAccountToken=parity.read(user)["appAccountToken"],
                     quantity=3)  # fmt: skip

    # WHEN Apple notifies it, the app posts it, and Apple's notification arrives again (a new delivery)
    parity.deliver_apple(apple_signer.notification("ONE_TIME_CHARGE", None, transaction=coins), apple_signer)
    reply = parity.submit_receipt(user, {"store": "app_store", "signedTransaction": apple_signer.sign(coins)})
    parity.deliver_apple(apple_signer.notification("ONE_TIME_CHARGE", None, transaction=coins), apple_signer)

    # THEN it is in the purchase history, grants no entitlement, and was completed once: its id the transactionId
    assert reply.status == 200, reply.raw
    assert reply.json["entitlements"] == {} == parity.read(user)["entitlements"]
    assert [(p["productId"], p["entitlements"]) for p in parity.read(user)["purchases"]] == [(APPLE_COINS, [])]
    events = completed(parity, user)
    assert [(e["id"], e["quantity"], e["store"], e["productId"]) for e in events] == [
        (coins["transactionId"], 3, "app_store", APPLE_COINS)
    ]


def test_a_play_consumable_named_by_the_catalog_grants_nothing_and_is_completed_once(parity, play_api):
    user = f"u_coins_{uuid.uuid4().hex[:8]}"
    token = push.purchase_token()
    bought = play_api.add_product(
        token, product_id=PLAY_COINS, obfuscatedExternalAccountId=parity.read(user)["appAccountToken"], quantity=2
    )

    # WHEN Google notifies the purchase, twice (two Pub/Sub messages), and the app posts it too
    parity.deliver_google(push.one_time_product_notification(token, 1, sku=PLAY_COINS))
    parity.deliver_google(push.one_time_product_notification(token, 1, sku=PLAY_COINS))
    receipt = {"store": "play_store", "packageName": PLAY_PACKAGE, "productId": PLAY_COINS, "purchaseToken": token}
    reply = parity.submit_receipt(user, receipt)

    # THEN no entitlement, one purchase.completed whose id is the order id
    assert reply.status == 200, reply.raw
    assert reply.json["entitlements"] == {}
    assert [(p["purchaseId"], p["entitlements"]) for p in reply.json["purchases"]] == [(f"play_store:{token}", [])]
    events = completed(parity, user)
    assert [(e["id"], e["changeId"], e["quantity"], e["store"]) for e in events] == [
        (bought["orderId"], bought["orderId"], 2, "play_store")
    ]
    wait_until(lambda: play_api.products[(PLAY_PACKAGE, PLAY_COINS, token)]["acknowledgementState"] == 1)


# ------------------------------------------------------------------------------------------ restore


@pytest.fixture(scope="module")
def app_store_api(apple_signer) -> Iterator[tuple[AppStoreApiState, ec.EllipticCurvePrivateKey]]:
    key = ec.generate_private_key(ec.SECP256R1())
    with app_store_api_server(
        key.public_key(), KEY_ID, ISSUER_ID, bundle_id=apple_signer.bundle_id, environment="Sandbox",
        app_apple_id=None, page_size=2,
    ) as state:  # fmt: skip
        yield state, key


@pytest.fixture(scope="module")
def restoring(tmp_path_factory, idp, apple_signer, app_store_api):
    """A stack with the App Store Server API configured (the local imitation)."""
    state, key = app_store_api
    workdir = tmp_path_factory.mktemp("restore-stack")
    key_file = workdir / "AuthKey.p8"
    key_file.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    with local_stack(
        workdir,
        idp,
        APPLE_BUNDLE_ID=apple_signer.bundle_id,
        APPLE_ENVIRONMENT="Sandbox",
        APPLE_ROOT_CERTS=str(apple_signer.chain.write_root(workdir)),
        APPLE_API_BASE=state.base_url,
        APPLE_KEY_ID=KEY_ID,
        APPLE_ISSUER_ID=ISSUER_ID,
        APPLE_PRIVATE_KEY_FILE=str(key_file),
    ) as stack:
        yield stack


def test_restore_claims_every_purchase_of_the_accounts_history_under_the_claim_rules(restoring, apple_signer, app_store_api):
    api, _ = app_store_api
    me, other = f"u_restore_{uuid.uuid4().hex[:8]}", f"u_other_{uuid.uuid4().hex[:8]}"
    now = apple.now_ms()
    # GIVEN an account's history over three pages: a subscription bought 40 days ago and renewed since,
    # a lifetime unlock, a consumable, and a purchase bought with another user's appAccountToken
    original = new_id()
    first = subscription(apple_signer, original, purchaseDate=now - 40 * DAY, signedDate=now - 40 * DAY,
                         expiresDate=now - 10 * DAY)  # fmt: skip
    renewed = subscription(apple_signer, original, transactionId=new_id(), purchaseDate=now - 10 * DAY,
                           originalPurchaseDate=now - 40 * DAY)  # fmt: skip
    forever = one_time(apple_signer, APPLE_LIFETIME, "Non-Consumable")
    coins = one_time(apple_signer, APPLE_COINS, "Consumable")
    theirs = one_time(apple_signer, APPLE_LIFETIME, "Non-Consumable",
                      appAccountToken=restoring.read(other)["appAccountToken"])  # fmt: skip
    history = [apple_signer.sign(tx) for tx in (first, renewed, forever, coins, theirs)]
    api.history[forever["transactionId"]] = history
    api.add_subscription(
        renewed["transactionId"],
        apple_signer.sign(renewed),
        apple_signer.signed_renewal_info(originalTransactionId=original, productId=APPLE_MONTHLY),
    )

    # WHEN the app restores from the lifetime unlock's signed transaction (a new phone)
    reply = restoring.submit_receipt(
        me, {"store": "app_store", "signedTransaction": apple_signer.sign(forever), "restore": True}
    )

    # THEN each purchase of the account is claimed, except the one another user's token names, and the
    # consumable (delivered when it was bought: a restore does not credit it again)
    assert reply.status == 200, reply.raw
    expected = sorted(f"app_store:{tx['originalTransactionId']}" for tx in (first, forever))
    assert sorted(reply.json["restored"]["claimed"]) == expected
    assert reply.json["restored"]["refused"] == [f"app_store:{theirs['originalTransactionId']}"]
    entitlements = reply.json["entitlements"]
    assert entitlements["pro"]["active"] is True and entitlements["pro"]["purchaseId"] == f"app_store:{original}"
    assert entitlements["lifetime"]["purchaseId"] == f"app_store:{forever['originalTransactionId']}"
    assert "coins" not in entitlements
    assert restoring.read(me)["entitlements"] == entitlements
    assert restoring.read(other)["entitlements"] == {}
    # every page read; the consumable neither claimed nor completed
    pages = [r["query"].get("revision") for r in api.requests if r["path"].startswith("/inApps/v2/history/")]
    assert pages[-3:] == [None, ["rev-2"], ["rev-4"]]
    assert restoring.bus_events("purchase.completed", me) == []
    assert f"app_store:{coins['originalTransactionId']}" not in [p["purchaseId"] for p in reply.json["purchases"]]

    # AND a second restore changes nothing
    again = restoring.submit_receipt(
        me, {"store": "app_store", "signedTransaction": apple_signer.sign(forever), "restore": True}
    )
    assert again.status == 200 and again.json["entitlements"] == entitlements


def test_restore_needs_a_boolean(restoring, apple_signer):
    jws = apple_signer.sign(one_time(apple_signer, APPLE_LIFETIME, "Non-Consumable"))
    restoring.submit_receipt("u_restore_bad", {"store": "app_store", "signedTransaction": jws, "restore": "yes"}).assert_error(
        422, "invalid_receipt"
    )
