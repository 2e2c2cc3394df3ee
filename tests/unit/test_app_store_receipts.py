"""The receipts service's App Store branch on the in-memory fakes (`services.receipts`), with the real
verifier on the generated test chain: refusals of what does not verify, the claim rules, claims that
honour verified links, the pending answer while Apple is unreachable, and the drift scan asking Apple.
The route's wiring (configuration, the API client, the body's validation) is in
tests/integration/test_app_store_receipts.py."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from parity.domain.catalog import Catalog
from parity.domain.ownership import Strategy
from tests.support import apple as fx
from tests.support.domain import TEST_CATALOG
from tests.support.fakes import FakeAppStoreApi, FakeClock, apple_verifier
from tests.support.services import World

DAY = fx.DAY_MS
MONTHLY = "com.example.pro.monthly"
EVERY_STRATEGY = list(Strategy)


def apple_world(api: bool = False, **settings) -> World:
    """A world whose clock is now: the test chain's certificates are valid from when it was made."""
    now = datetime.fromtimestamp(fx.now_ms() / 1000, timezone.utc)
    return World(
        clock=FakeClock(now, tick=timedelta(milliseconds=1)),
        catalog=Catalog.from_document({"products": {**TEST_CATALOG["products"], MONTHLY: ["pro"]}}),
        apple_verifier=apple_verifier(),
        app_store_api=FakeAppStoreApi() if api else None,
        **settings,
    )


@pytest.fixture
def signer() -> fx.AppleSigner:
    return fx.AppleSigner()


@pytest.fixture
def world() -> World:
    return apple_world()


@pytest.fixture
def api_world() -> World:
    return apple_world(api=True)


def subscription(signer, original: str, **fields) -> dict:
    now = fx.now_ms()
    fields = {"transactionId": original, "expiresDate": now + 30 * DAY, "signedDate": now, **fields}
    return signer.transaction(originalTransactionId=original, **fields)


def signed(signer, transaction: dict) -> dict:
    return {"store": "app_store", "signedTransaction": signer.sign(transaction)}


def by_id(original: str) -> dict:
    return {"store": "app_store", "transactionId": original}


def at_apple(world: World, signer, transaction: dict) -> None:
    """Apple's current answer for the transaction's purchase: it, its renewal info, active."""
    original = transaction["originalTransactionId"]
    world.app_store_api.current[original] = (transaction, signer.renewal_info(originalTransactionId=original), 1)


def test_a_forged_transaction_is_a_400_and_changes_nothing(world, signer):
    forged = signer.with_(chain=fx.make_chain())

    status, _ = world.submit_receipt("u_r2", signed(forged, subscription(signer, "4000000000000002")))

    assert status == 400
    assert world.store.get_purchase("app_store:4000000000000002") is None


def test_a_transaction_of_another_app_is_a_400(world, signer):
    other = signer.with_(bundle_id="com.example.other")

    status, body = world.submit_receipt("u_r3", signed(other, subscription(other, "4000000000000003")))

    assert (status, body["error"]["code"]) == (400, "wrong_bundle_id")


def test_under_first_a_second_claimant_gets_409(signer):
    world = apple_world(strategy=Strategy.FIRST)
    receipt = signed(signer, subscription(signer, "4000000000000007"))
    assert world.submit_receipt("u_first", receipt)[0] == 200

    status, body = world.submit_receipt("u_second", receipt)

    assert (status, body["error"]["code"]) == (409, "purchase_owned_by_another_user")
    assert world.read("u_second")["entitlements"] == {}
    assert world.has("u_first")


def test_under_last_the_latest_claimant_takes_it_even_with_a_receipt_submitted_before(world, signer):
    receipt = signed(signer, subscription(signer, "4000000000000011"))

    for user in ("u_a", "u_b", "u_a"):
        assert world.submit_receipt(user, receipt)[0] == 200

    assert world.has("u_a")
    assert world.read("u_b")["entitlements"]["pro"]["active"] is False


def test_resubmitting_the_same_receipt_publishes_no_change_again(world, signer):
    receipt = signed(signer, subscription(signer, "4000000000000012"))
    assert world.submit_receipt("u_again", receipt)[0] == 200
    assert [c["entitlement"] for c in world.publisher.changes()] == ["pro"]

    assert world.submit_receipt("u_again", receipt)[0] == 200

    assert world.publisher.changes() == []


# -- with the App Store Server API ---------------------------------------------------------------------


def test_apple_unreachable_gives_202_pending_and_the_queued_retry_claims_later(api_world, signer):
    original = "4000000000000009"
    at_apple(api_world, signer, subscription(signer, original))
    api_world.app_store_api.fail(503)

    # WHEN Apple answers 503 to the synchronous lookup
    status, body = api_world.submit_receipt("u_pending", by_id(original))

    # THEN the app is told to wait, nothing is granted yet, and a retry is queued
    assert (status, body["status"]) == (202, "pending")
    assert api_world.read("u_pending")["entitlements"] == {}
    assert len(api_world.queue.messages) == 1

    # WHEN the processor takes the queued retry and Apple is back
    api_world.app_store_api.recover()
    api_world.drain()

    # THEN the claim is made
    assert api_world.failed == []
    assert api_world.has("u_pending")


def test_a_queued_retry_while_apple_is_still_down_fails_for_sqs_to_retry_and_queues_nothing_new(api_world):
    api_world.app_store_api.fail(503)
    assert api_world.submit_receipt("u_down", by_id("4000000000000010"))[0] == 202

    api_world.drain()

    assert len(api_world.failed) == 1  # the message itself, waiting for its retry
    assert api_world.queue.messages == []  # no second copy
    assert api_world.read("u_down")["entitlements"] == {}


def test_a_transaction_id_alone_claims_a_purchase_nobody_holds(api_world, signer):
    at_apple(api_world, signer, subscription(signer, "4000000000000106", appAccountToken=None))

    status, body = api_world.submit_receipt("u_first_by_id", by_id("4000000000000106"))

    assert status == 200 and body["entitlements"]["pro"]["active"] is True


# -- the drift scan asks the App Store ----------------------------------------------------------------


def test_the_drift_scan_finds_a_refund_apple_never_notified_and_revokes(api_world, signer):
    original = "4000000000000011"
    tx = subscription(signer, original)
    at_apple(api_world, signer, tx)
    assert api_world.submit_receipt("u_drift", by_id(original))[0] == 200

    # GIVEN Apple refunded it and the REFUND notification never came
    at_apple(api_world, signer, {**tx, "revocationDate": fx.now_ms(), "revocationReason": 0, "signedDate": fx.now_ms()})
    api_world.app_store_api.calls.clear()

    # WHEN a week has passed (the rolling recheck) and the scan runs
    api_world.clock.advance(days=8)
    result = api_world.scan()

    # THEN the App Store was asked for the subscription's status, and access is revoked and reported
    assert ("current_transaction", original) in api_world.app_store_api.calls
    pro = api_world.read("u_drift")["entitlements"]["pro"]
    assert (pro["active"], pro["state"]) == (False, "revoked")
    assert result["counts"]["refunded_unnoticed"] == 1 and result["counts"]["repaired"] == 1


# -- claims honour verified links (the store data names the user; an id alone proves nothing) -----------


@pytest.mark.parametrize("strategy", EVERY_STRATEGY)
def test_another_user_posting_a_transaction_that_carries_the_owners_token_gets_409(signer, strategy):
    world = apple_world(strategy=strategy)
    # GIVEN u_owner bought with their appAccountToken and claimed the purchase
    token = world.read("u_owner")["appAccountToken"]
    receipt = signed(signer, subscription(signer, "4000000000000101", appAccountToken=token))
    assert world.submit_receipt("u_owner", receipt)[0] == 200

    # WHEN u_thief posts the same signed transaction
    status, body = world.submit_receipt("u_thief", receipt)

    # THEN it is refused, and u_owner keeps access
    assert (status, body["error"]["code"]) == (409, "purchase_owned_by_another_user")
    assert world.has("u_owner") and not world.has("u_thief")
    assert world.owners("app_store:4000000000000101") == ["u_owner"]


def test_a_transaction_naming_another_user_is_refused_even_before_they_claim_it(world, signer):
    token = world.read("u_buyer")["appAccountToken"]
    receipt = signed(signer, subscription(signer, "4000000000000102", appAccountToken=token))

    status, body = world.submit_receipt("u_thief", receipt)

    assert (status, body["error"]["code"]) == (409, "purchase_owned_by_another_user")
    assert not world.has("u_thief")
    # the buyer claims it afterwards
    assert world.submit_receipt("u_buyer", receipt)[0] == 200 and world.has("u_buyer")


def test_a_purchase_the_store_linked_is_refused_to_a_later_transaction_without_token(world, signer):
    # GIVEN a purchase the store linked to u_owner (their token on its first transaction)
    token = world.read("u_owner")["appAccountToken"]
    linked = subscription(signer, "4000000000000103", appAccountToken=token)
    assert world.submit_receipt("u_owner", signed(signer, linked))[0] == 200

    # WHEN a later transaction of the same purchase, without a token, is posted by someone else
    renewal = subscription(signer, "4000000000000103", appAccountToken=None, transactionId="4000000000000199")
    status, body = world.submit_receipt("u_thief", signed(signer, renewal))

    # THEN the link stands
    assert (status, body["error"]["code"]) == (409, "purchase_owned_by_another_user")
    assert world.has("u_owner")


@pytest.mark.parametrize("strategy", EVERY_STRATEGY)
def test_a_transaction_id_alone_takes_nothing_from_anyone(signer, strategy):
    world = apple_world(api=True, strategy=strategy)
    token = world.read("u_owner")["appAccountToken"]
    linked = subscription(signer, "4000000000000104", appAccountToken=token)
    unlinked = subscription(signer, "4000000000000105", appAccountToken=None)
    for tx in (linked, unlinked):
        at_apple(world, signer, tx)
    assert world.submit_receipt("u_owner", signed(signer, unlinked))[0] == 200

    # WHEN u_thief sends only the ids: one whose transaction carries u_owner's token, one u_owner holds
    answers = [world.submit_receipt("u_thief", by_id(original)) for original in ("4000000000000104", "4000000000000105")]

    # THEN both are refused, and only the linked user may claim by id
    assert [(status, body["error"]["code"]) for status, body in answers] == [(409, "purchase_owned_by_another_user")] * 2
    assert not world.has("u_thief")
    assert world.owners("app_store:4000000000000105") == ["u_owner"]
    assert world.submit_receipt("u_owner", by_id("4000000000000104"))[0] == 200
