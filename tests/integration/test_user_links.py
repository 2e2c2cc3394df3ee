"""Users named by a store-side link: an appAccountToken carried by the store is a claim by its user."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from parity.domain.model import PurchaseUpdate, Snapshot, State, Store


def app_store_update(token: str | None, event_id: str, t0: int) -> PurchaseUpdate:
    as_of = datetime.fromtimestamp(t0, tz=timezone.utc)
    return PurchaseUpdate(
        store=Store.APP_STORE,
        store_key="2000000000000001",
        event_id=event_id,
        occurred_at=as_of,
        snapshot=Snapshot(State.ACTIVE, as_of + timedelta(days=30), as_of, product_id="price_pro_monthly"),
        app_account_token=token,
    )


def test_a_purchase_carrying_a_users_app_account_token_is_claimed_by_that_user(stack, t0):
    # GIVEN a user whose appAccountToken was issued on their first read
    token = stack.read("u_token").body["appAccountToken"]
    stack.counter.reset()

    # WHEN a store update carrying that token is applied
    outcome = stack.processor.service.apply(app_store_update(token, "n_token_1", t0), source="app_store")

    # THEN the purchase is that user's, read with the token's owner in one request
    assert outcome.status == "applied"
    assert stack.counter.count("dynamodb", "BatchGetItem") == 1
    assert stack.counter.count("dynamodb", "GetItem") == 0
    body = stack.read("u_token").body
    assert [p["purchaseId"] for p in body["purchases"]] == ["app_store:2000000000000001"]
    assert body["entitlements"]["pro"]["active"] is True


def test_a_token_nobody_was_issued_leaves_the_purchase_unowned(stack, t0):
    outcome = stack.processor.service.apply(
        app_store_update("6f1c0c3e-3b7e-4e5b-9a57-7f8a2f0c1d11", "n_token_2", t0), source="app_store"
    )

    assert outcome.status == "applied"
    assert stack.purchase_item("app_store:2000000000000001").get("ownerIds") is None
