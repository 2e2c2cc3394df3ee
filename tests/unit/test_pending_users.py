"""A purchase shared by more users than one transaction writes (`services.bounded`), on the in-memory
fakes: a write that died between its batches leaves users pending, and the nightly drift scan
(`services.drift`) completes them, each refund counted once."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from parity.domain.model import PurchaseUpdate, Revocation, Store
from parity.domain.ownership import Strategy
from parity.services.bounded import BoundedWriter
from tests.support.services import World
from tests.unit.test_claims_and_admin import APPLE_PURCHASE, T0, claim


def test_the_drift_scan_completes_the_users_a_crashed_write_left_pending(monkeypatch):
    world = World(strategy=Strategy.ALL, max_shared_owners=40)
    users = [f"u_drift_{n:02d}" for n in range(36)]
    for user in users:
        assert claim(world, user).status == "applied"

    # GIVEN a refund whose write died after its first transaction (a receipt's caller gone: no redelivery)
    real_complete = BoundedWriter.complete
    monkeypatch.setattr(BoundedWriter, "complete", lambda *a, **k: (_ for _ in ()).throw(RuntimeError("died")))
    at = datetime.fromtimestamp(T0 + 60, tz=timezone.utc)
    refund = PurchaseUpdate(
        Store.APP_STORE, "2000000000000001", "n_refund", at, revocation=Revocation("refund:1", at + timedelta(days=30), True, at)
    )
    with pytest.raises(RuntimeError):
        world.processor().apply(refund, source="app_store")
    monkeypatch.setattr(BoundedWriter, "complete", real_complete)
    pending = set(world.store.get_purchase(APPLE_PURCHASE).pending_users)
    assert pending and all(world.store.load_user(u).refunds == 0 for u in pending)

    # WHEN the nightly scan runs (no App Store API: the purchase is swept)
    result = world.scan()

    # THEN it selected the pending purchase and brought every user up to date, each refund once
    assert result["selected"] >= 1
    assert world.store.get_purchase(APPLE_PURCHASE).pending_users == ()
    assert [world.store.load_user(u).refunds for u in users] == [1] * 36
    assert all(world.read(u)["entitlements"]["pro"]["state"] == "revoked" for u in users)
