"""Consumables on the in-memory fakes: recorded in the purchase history, never a lasting entitlement, and
credited once through `purchase.completed` (its id the App Store transactionId or the Play orderId),
whatever the duplicates, resubmissions and replays."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from parity.domain.catalog import Catalog
from tests.support import apple as fx
from tests.support import play_payloads as pp
from tests.support.domain import TEST_CATALOG
from tests.support.fakes import FakeClock, FakePlayApi, apple_verifier
from tests.support.services import World

COINS = "com.example.coins.100"
CATALOG = {
    "products": {**TEST_CATALOG["products"], COINS: ["coins"], pp.COINS: ["coins"], pp.LIFETIME: ["lifetime"]},
    "consumables": [pp.COINS],
}


def world(**settings) -> World:
    now = datetime.fromtimestamp(fx.now_ms() / 1000, timezone.utc)
    return World(
        clock=FakeClock(now, tick=timedelta(milliseconds=1)),
        catalog=Catalog.from_document(CATALOG),
        apple_verifier=apple_verifier(),
        **settings,
    )


def completed(world: World) -> list[dict]:
    return [notice for notice in world.publisher.notices() if notice["type"] == "purchase.completed"]


def coins(signer: fx.AppleSigner, transaction_id: str, **fields) -> dict:
    now = fx.now_ms()
    return signer.transaction(
        transactionId=transaction_id, originalTransactionId=transaction_id, productId=COINS, type="Consumable",
        purchaseDate=now - 1000, expiresDate=None, signedDate=now, appAccountToken=None, quantity=2, **fields,
    )  # fmt: skip


def test_an_app_store_consumable_is_recorded_granting_nothing_and_completed_once():
    # GIVEN a consumable the catalog maps to an entitlement (as a mistake would)
    w, signer = world(), fx.AppleSigner()
    receipt = {"store": "app_store", "signedTransaction": signer.sign(coins(signer, "5100000000000001"))}

    # WHEN the app posts it, twice
    status, body = w.submit_receipt("u_c1", receipt)
    first = completed(w)
    again, body_again = w.submit_receipt("u_c1", receipt)

    # THEN it is in the purchase history, grants no entitlement, and is completed once, for the user
    assert (status, again) == (200, 200)
    assert body["entitlements"] == {} == body_again["entitlements"]
    assert [(p["purchaseId"], p["entitlements"]) for p in body["purchases"]] == [("app_store:5100000000000001", [])]
    assert [(e["id"], e["changeId"], e["userId"], e["quantity"], e["store"], e["productId"]) for e in first] == [
        ("5100000000000001", "5100000000000001", "u_c1", 2, "app_store", COINS)
    ]
    assert completed(w) == []


def test_a_consumable_taken_over_by_another_user_is_not_completed_again():
    w, signer = world(), fx.AppleSigner()
    receipt = {"store": "app_store", "signedTransaction": signer.sign(coins(signer, "5100000000000002"))}
    w.submit_receipt("u_c2", receipt)
    assert [e["userId"] for e in completed(w)] == ["u_c2"]

    status, _ = w.submit_receipt("u_c3", receipt)  # LAST: the purchase moves, the credit does not

    assert status == 200
    assert completed(w) == []
    assert w.store.get_purchase("app_store:5100000000000002").credited_to == "u_c2"


def test_a_refunded_consumable_is_never_completed():
    w, signer = world(), fx.AppleSigner()
    refunded = coins(signer, "5100000000000003", revocationDate=fx.now_ms() - 500, revocationReason=0)

    status, body = w.submit_receipt("u_c4", {"store": "app_store", "signedTransaction": signer.sign(refunded)})

    assert status == 200 and body["purchases"][0]["state"] == "revoked"
    assert completed(w) == []


def test_a_play_consumable_named_by_the_catalog_grants_nothing_and_is_completed_with_its_order_id():
    # GIVEN a purchased, not yet consumed, one-time product the catalog lists as a consumable
    w = world(play_api=FakePlayApi())
    token = "coins-token-1"
    w.play_api.products[(pp.PACKAGE, pp.COINS, token)] = pp.product_purchase(
        account=None, order_id="GPA.1111-2222-3333-44444", quantity=3
    )
    receipt = {"store": "play_store", "packageName": pp.PACKAGE, "productId": pp.COINS, "purchaseToken": token}

    status, body = w.submit_receipt("u_c5", receipt)
    again, _ = w.submit_receipt("u_c5", receipt)

    assert (status, again) == (200, 200)
    assert body["entitlements"] == {}
    assert [(p["productId"], p["entitlements"]) for p in body["purchases"]] == [(pp.COINS, [])]
    assert [(e["id"], e["userId"], e["quantity"], e["store"]) for e in completed(w)] == [
        ("GPA.1111-2222-3333-44444", "u_c5", 3, "play_store")
    ]


@pytest.mark.parametrize("listed", [True, False])
def test_a_play_product_the_app_consumed_is_a_consumable_even_unlisted(listed):
    w = world(play_api=FakePlayApi())
    if not listed:
        w.catalog = Catalog.from_document({"products": CATALOG["products"]})
    token = "coins-token-2"
    w.play_api.products[(pp.PACKAGE, pp.COINS, token)] = pp.product_purchase(account=None, consumed=1)

    status, body = w.submit_receipt(
        "u_c6", {"store": "play_store", "packageName": pp.PACKAGE, "productId": pp.COINS, "purchaseToken": token}
    )

    assert status == 200 and body["entitlements"] == {}
    assert [e["id"] for e in completed(w)] == ["GPA.3399-0000-1111-22222"]


def test_a_play_non_consumable_still_grants_for_ever_and_publishes_no_completion():
    w = world(play_api=FakePlayApi())
    token = "lifetime-token-1"
    w.play_api.products[(pp.PACKAGE, pp.LIFETIME, token)] = pp.product_purchase(account=None)

    status, body = w.submit_receipt(
        "u_c7", {"store": "play_store", "packageName": pp.PACKAGE, "productId": pp.LIFETIME, "purchaseToken": token}
    )

    assert status == 200 and body["entitlements"]["lifetime"]["active"] is True
    assert completed(w) == []


def test_a_pending_play_consumable_is_completed_when_it_is_paid():
    w = world(play_api=FakePlayApi())
    token = "coins-token-3"
    w.play_api.products[(pp.PACKAGE, pp.COINS, token)] = pp.product_purchase(2, account=None)  # pending
    receipt = {"store": "play_store", "packageName": pp.PACKAGE, "productId": pp.COINS, "purchaseToken": token}
    w.submit_receipt("u_c8", receipt)
    assert completed(w) == []

    w.play_api.products[(pp.PACKAGE, pp.COINS, token)] = pp.product_purchase(0, account=None)
    w.submit_receipt("u_c8", receipt)

    assert [e["userId"] for e in completed(w)] == ["u_c8"]


def test_the_catalog_refuses_consumables_that_are_not_a_list_of_ids():
    with pytest.raises(ValueError, match="consumables"):
        Catalog.from_document({"products": {}, "consumables": "coins"})


def test_a_replay_keeps_who_a_consumable_was_credited_to():
    from parity.domain.replay import rebuild

    w, signer = world(), fx.AppleSigner()
    w.submit_receipt("u_c9", {"store": "app_store", "signedTransaction": signer.sign(coins(signer, "5100000000000009"))})
    steps, _ = w.store.replay_steps("app_store:5100000000000009")

    rebuilt = rebuild(steps)

    assert rebuilt is not None and rebuilt.credited_to == "u_c9"
    assert rebuilt == w.store.get_purchase("app_store:5100000000000009").with_changes(checked_at=rebuilt.checked_at)
