"""Apple Family Sharing and restores on the in-memory fakes, with the real verifier on the generated test
chain: a family member's purchase is theirs when their app posts it (`ownership: family`), REVOKE ends
only their access; `"restore": true` claims every purchase of the account's transaction history, each
under the claim rules."""

from __future__ import annotations

import pytest

from parity.domain.ownership import Strategy
from tests.support import apple as fx
from tests.support.services import World
from tests.unit.test_app_store_receipts import MONTHLY, apple_world

DAY = fx.DAY_MS
LIFETIME = "com.example.lifetime"


def subscription(signer: fx.AppleSigner, original: str, **fields) -> dict:
    now = fx.now_ms()
    fields = {"transactionId": original, "expiresDate": now + 30 * DAY, "signedDate": now, **fields}
    return signer.transaction(originalTransactionId=original, **fields)


def family(signer: fx.AppleSigner, original: str, **fields) -> dict:
    """A family member's transaction: their own ids, no appAccountToken (Apple gives the member none)."""
    return subscription(signer, original, inAppOwnershipType="FAMILY_SHARED", appAccountToken=None, **fields)


def signed(signer: fx.AppleSigner, transaction: dict, **fields) -> dict:
    return {"store": "app_store", "signedTransaction": signer.sign(transaction), **fields}


def notify(world: World, signer: fx.AppleSigner, kind: str, subtype: str | None, transaction: dict) -> None:
    """A notification Apple signed, verified at the door and processed."""
    body = signer.notification_body(kind, subtype, transaction=transaction)
    world.processor().process_app_store(world.apple_verifier.verify_and_decode_notification_body(body))


@pytest.fixture
def signer() -> fx.AppleSigner:
    return fx.AppleSigner()


# -- Family Sharing ----------------------------------------------------------------------------------


def test_a_family_members_app_posting_their_transaction_claims_it_as_family(signer):
    world = apple_world()

    status, body = world.submit_receipt("u_kid", signed(signer, family(signer, "6100000000000001")))

    assert status == 200 and body["entitlements"]["pro"]["active"] is True
    assert [(p["purchaseId"], p["ownership"]) for p in body["purchases"]] == [("app_store:6100000000000001", "family")]


def test_a_family_notification_nobody_posted_yet_belongs_to_no_one_until_the_member_posts_it(signer):
    world = apple_world()
    tx = family(signer, "6100000000000002")

    notify(world, signer, "SUBSCRIBED", "INITIAL_BUY", tx)
    assert world.owners("app_store:6100000000000002") == []

    assert world.submit_receipt("u_kid", signed(signer, tx))[0] == 200
    assert world.owners("app_store:6100000000000002") == ["u_kid"] and world.has("u_kid")


def test_a_family_transaction_carrying_the_purchasers_token_does_not_claim_it_for_the_purchaser(signer):
    world = apple_world()
    parent_token = world.read("u_parent")["appAccountToken"]
    tx = subscription(signer, "6100000000000003", inAppOwnershipType="FAMILY_SHARED", appAccountToken=parent_token)

    notify(world, signer, "SUBSCRIBED", "INITIAL_BUY", tx)
    assert world.owners("app_store:6100000000000003") == []  # never the purchaser's by its token

    assert world.submit_receipt("u_kid", signed(signer, tx))[0] == 200  # the member is not refused
    assert world.owners("app_store:6100000000000003") == ["u_kid"]


def test_revoke_ends_only_the_members_access_and_counts_no_refund(signer):
    # GIVEN a parent who bought with their token, and a family member whose app posted their share
    world = apple_world()
    parent_token = world.read("u_parent")["appAccountToken"]
    bought = subscription(signer, "6100000000000010", appAccountToken=parent_token)
    notify(world, signer, "SUBSCRIBED", "INITIAL_BUY", bought)
    shared = family(signer, "6100000000000011")
    assert world.submit_receipt("u_kid", signed(signer, shared))[0] == 200
    assert world.has("u_parent") and world.has("u_kid")

    # WHEN Apple revokes the member's share (the parent turned sharing off)
    notify(world, signer, "REVOKE", None, {**shared, "revocationDate": fx.now_ms(), "revocationReason": 0})

    # THEN the member loses access, the parent keeps it, and no refund is counted against the member
    kid = world.read("u_kid")
    assert kid["entitlements"]["pro"]["state"] == "revoked" and not kid["entitlements"]["pro"]["active"]
    assert world.has("u_parent")
    assert world.store.load_user("u_kid").refunds == 0


# -- restore -----------------------------------------------------------------------------------------


def account(world: World, signer: fx.AppleSigner, *transactions: dict) -> None:
    """Apple's transaction history of one account (answered for any of its transaction ids)."""
    world.app_store_api.add_history(*transactions)


def lifetime(signer: fx.AppleSigner, original: str, **fields) -> dict:
    now = fx.now_ms()
    return signer.transaction(
        transactionId=original, originalTransactionId=original, expiresDate=None, signedDate=now,
        **{"appAccountToken": None, "productId": LIFETIME, "type": "Non-Consumable", **fields},
    )  # fmt: skip


def restore_world(**settings) -> World:
    world = apple_world(api=True, **settings)
    world.catalog = type(world.catalog)({**world.catalog.products, LIFETIME: ("lifetime",)})
    return world


def test_restore_claims_every_purchase_of_the_account_history(signer):
    world = restore_world()
    first = subscription(signer, "6200000000000001", appAccountToken=None, signedDate=fx.now_ms() - 40 * DAY,
                         purchaseDate=fx.now_ms() - 40 * DAY, expiresDate=fx.now_ms() - 10 * DAY)  # fmt: skip
    renewed = subscription(signer, "6200000000000001", transactionId="6200000000000002", appAccountToken=None)
    forever = lifetime(signer, "6200000000000003")
    account(world, signer, first, renewed, forever)

    status, body = world.submit_receipt("u_new_phone", signed(signer, first, restore=True))

    assert status == 200
    assert body["restored"] == {"claimed": ["app_store:6200000000000001", "app_store:6200000000000003"], "refused": []}
    assert body["entitlements"]["pro"]["active"] and body["entitlements"]["lifetime"]["active"]
    assert body["entitlements"]["pro"]["expiresAt"] is not None
    assert world.read("u_new_phone")["entitlements"] == body["entitlements"]
    assert ("iter_transaction_history", "6200000000000001") in world.app_store_api.calls


@pytest.mark.parametrize("strategy", list(Strategy))
def test_restore_leaves_a_purchase_linked_to_another_user_and_claims_the_rest(signer, strategy):
    world = restore_world(strategy=strategy)
    other = world.read("u_other")["appAccountToken"]
    theirs = subscription(signer, "6200000000000011", appAccountToken=other)
    mine = lifetime(signer, "6200000000000012")
    account(world, signer, theirs, mine)

    status, body = world.submit_receipt("u_me", signed(signer, mine, restore=True))

    assert status == 200
    assert body["restored"] == {"claimed": ["app_store:6200000000000012"], "refused": ["app_store:6200000000000011"]}
    assert "pro" not in body["entitlements"] and body["entitlements"]["lifetime"]["active"]
    assert world.owners("app_store:6200000000000011") == []  # still only u_other's to claim


def test_restore_where_every_purchase_is_someone_elses_is_409(signer):
    world = restore_world()
    other = world.read("u_other")["appAccountToken"]
    theirs = subscription(signer, "6200000000000021", appAccountToken=other)
    account(world, signer, theirs)

    status, body = world.submit_receipt("u_me", signed(signer, theirs, restore=True))

    assert (status, body["error"]["code"]) == (409, "purchase_owned_by_another_user")


def test_restore_by_transaction_id_alone_takes_nothing_anyone_holds(signer):
    world = restore_world(strategy=Strategy.LAST)
    held = lifetime(signer, "6200000000000031")
    free = lifetime(signer, "6200000000000032", productId=MONTHLY, type="Non-Consumable")
    assert world.submit_receipt("u_holder", signed(signer, held))[0] == 200
    account(world, signer, held, free)

    status, body = world.submit_receipt(
        "u_guesser", {"store": "app_store", "transactionId": "6200000000000031", "restore": True}
    )

    assert status == 200
    assert body["restored"] == {"claimed": ["app_store:6200000000000032"], "refused": ["app_store:6200000000000031"]}
    assert world.owners("app_store:6200000000000031") == ["u_holder"]


def test_restore_while_apple_is_unreachable_is_pending_and_the_retry_restores(signer):
    world = restore_world()
    forever = lifetime(signer, "6200000000000041")
    account(world, signer, forever)
    world.app_store_api.fail(503)

    status, body = world.submit_receipt("u_later", signed(signer, forever, restore=True))
    assert (status, body["status"]) == (202, "pending")

    world.app_store_api.recover()
    world.drain()
    assert world.has("u_later", "lifetime")


def test_restore_without_the_app_store_server_api_is_503_not_configured(signer):
    world = apple_world()
    forever = lifetime(signer, "6200000000000051")

    status, body = world.submit_receipt("u_me", signed(signer, forever, restore=True))

    assert (status, body["error"]["code"]) == (503, "not_configured")
    assert world.store.get_purchase("app_store:6200000000000051") is None


@pytest.mark.parametrize("value", ["true", 1, None])
def test_restore_must_be_a_boolean(signer, value):
    world = restore_world()
    status, body = world.submit_receipt("u_me", signed(signer, lifetime(signer, "6200000000000061"), restore=value))
    assert (status, body["error"]["code"]) == (422, "invalid_receipt")


def test_restore_leaves_consumables_out_so_they_are_never_credited_twice(signer):
    world = restore_world()
    forever = lifetime(signer, "6200000000000071")
    coins = lifetime(signer, "6200000000000072", productId="com.example.coins.100", type="Consumable")
    account(world, signer, forever, coins)

    status, body = world.submit_receipt("u_me", signed(signer, forever, restore=True))

    assert status == 200
    assert body["restored"] == {"claimed": ["app_store:6200000000000071"], "refused": []}
    assert world.store.get_purchase("app_store:6200000000000072") is None
    assert [n for n in world.publisher.notices() if n["type"] == "purchase.completed"] == []


def test_restore_reads_the_history_in_the_app_and_environment_the_transaction_was_bought_in(signer):
    # GIVEN App Review's Sandbox purchase, restored on a Production stack
    world = restore_world()
    review = lifetime(signer, "6200000000000041", environment="Sandbox")
    account(world, signer, review)

    status, body = world.submit_receipt("u_reviewer", signed(signer, review, restore=True))

    # THEN the history was asked of the Sandbox, for the transaction's own app, and the purchase is claimed
    assert status == 200 and body["restored"]["claimed"] == ["app_store:6200000000000041"]
    history = world.app_store_api.asked[0]  # the first call: the signed transaction needed no lookup
    assert (history["app"], history["environment"]) == (review["bundleId"], "Sandbox")
