"""One purchase shared by many users under ALL, against moto: the bound on sharing (MAX_SHARED_OWNERS,
409 too_many_owners), and a write path bounded to one transaction however many users a purchase
touches (the users that do not fit are written in batches after the purchase, exactly once)."""

from __future__ import annotations

import boto3
import pytest

from parity.services.bounded import BoundedWriter
from tests.support import apple as fx
from tests.support.harness import TEST_CATALOG, running_stack

DAY = fx.DAY_MS
MONTHLY = "com.example.pro.monthly"
ORIGINAL = "5000000000000001"
PURCHASE = f"app_store:{ORIGINAL}"
CLAIMANTS = [f"u_share_{n:02d}" for n in range(60)]
SHARERS = CLAIMANTS[:40]  # enough for batched writes; each claim costs a Query per owner under moto


@pytest.fixture
def signer() -> fx.AppleSigner:
    return fx.AppleSigner(environment="Sandbox")


class TransactionSizes:
    """The item count of every TransactWriteItems the functions send (clients made after `install`)."""

    def __init__(self) -> None:
        self.sizes: list[int] = []

    def install(self) -> None:
        boto3.DEFAULT_SESSION.events.register("before-parameter-build.dynamodb.TransactWriteItems", self._seen)

    def _seen(self, params, **_) -> None:
        self.sizes.append(len(params["TransactItems"]))


def shared_stack(tmp_path, signer, **env: str):
    catalog = {"products": {**TEST_CATALOG["products"], MONTHLY: ["pro"]}}
    apple = {
        "APPLE_BUNDLE_ID": signer.bundle_id,
        "APPLE_ENVIRONMENT": "Sandbox",
        "APPLE_ROOT_CERTS": str(signer.chain.write_root(tmp_path)),
        "ENTITLEMENT_STRATEGY": "ALL",
    }
    return running_stack(catalog=catalog, catalog_dir=tmp_path, env={**apple, **env})


def receipt(signer) -> dict:
    """One App Store subscription, linked to nobody (any user may present it)."""
    now = fx.now_ms()
    transaction = signer.transaction(
        originalTransactionId=ORIGINAL, transactionId=ORIGINAL, expiresDate=now + 30 * DAY, signedDate=now, appAccountToken=None
    )
    return {"store": "app_store", "signedTransaction": signer.sign(transaction)}


def refund_notification(signer) -> bytes:
    now = fx.now_ms()
    transaction = signer.transaction(
        originalTransactionId=ORIGINAL,
        transactionId=ORIGINAL,
        appAccountToken=None,
        expiresDate=now + 30 * DAY,
        signedDate=now + 1000,
        revocationDate=now + 900,
        revocationReason=0,
    )
    renewal = signer.renewal_info(originalTransactionId=ORIGINAL, appAccountToken=None, signedDate=now + 1000)
    return signer.notification_body("REFUND", None, transaction=transaction, renewal_info=renewal, signedDate=now + 1000)


def pro(stack, user: str) -> dict | None:
    return stack.read(user).body["entitlements"].get("pro")


def refunds(stack, user: str) -> int:
    return int((stack.item(f"USER#{user}", "PROFILE") or {}).get("refunds", 0))


def test_under_all_ten_share_fifty_are_refused_and_a_refund_reaches_every_sharer(tmp_path, signer):
    sizes = TransactionSizes()
    with shared_stack(tmp_path, signer) as stack:
        sizes.install()
        body = receipt(signer)

        # GIVEN 60 users present the same purchase (MAX_SHARED_OWNERS: the default, 10)
        answers = {user: stack.submit_receipt(user, body) for user in CLAIMANTS}

        # THEN the first 10 share it, the other 50 get 409 too_many_owners; nothing answers 5xx
        assert all(answer.status in (200, 409) for answer in answers.values())
        assert [u for u, a in answers.items() if a.status == 200] == CLAIMANTS[:10]
        refused = [a.body["error"]["code"] for a in answers.values() if a.status == 409]
        assert refused == ["too_many_owners"] * 50
        assert stack.purchase_item(PURCHASE)["ownerIds"] == CLAIMANTS[:10]
        assert all(pro(stack, u)["active"] for u in CLAIMANTS[:10])
        assert all(pro(stack, u) is None for u in CLAIMANTS[10:])
        # a refusal is one line of the claimant's trail, none of the owners'
        refusals = stack.user_report(CLAIMANTS[0]).body["refusals"]
        assert refusals == []
        mine = stack.user_report(CLAIMANTS[59]).body["refusals"]
        assert [(r["action"], r["detail"]) for r in mine] == [("refused", "too_many_owners")]

        # WHEN Apple refunds the purchase
        assert stack.post_apple(refund_notification(signer)).status == 200
        drained = stack.drain()

        # THEN every sharer loses access, each refund counted once per sharer, nothing dead-lettered
        assert drained.failed == []
        assert all((pro(stack, u)["active"], pro(stack, u)["state"]) == (False, "revoked") for u in CLAIMANTS[:10])
        assert [refunds(stack, u) for u in CLAIMANTS[:10]] == [1] * 10
        revoked = {c["userId"] for c in stack.changes() if c["new"] and c["new"]["state"] == "revoked"}
        assert revoked == set(CLAIMANTS[:10])
        assert max(sizes.sizes) <= 100


def test_the_requests_of_a_claim_stay_few_when_the_purchase_has_ten_owners(tmp_path, signer):
    with shared_stack(tmp_path, signer) as stack:
        body = receipt(signer)
        for user in CLAIMANTS[:9]:
            assert stack.submit_receipt(user, body).status == 200
        stack.counter.reset()
        assert stack.submit_receipt(CLAIMANTS[9], body).status == 200
        accepted = stack.counter.snapshot()["dynamodb"]
        print(f"\nrequests of the tenth claim (accepted, 9 owners before): {accepted}")

        stack.counter.reset()
        assert stack.submit_receipt("u_eleventh", body).status == 409
        refused = stack.counter.snapshot()["dynamodb"]
        # (the tenth claim, accepted, for comparison: it rewrote every owner's copy)

        # A refusal reads the purchase and the claimant, appends the claim event (with its body item)
        # and writes its processed mark with one audit line (the answer's read is not made: a 409).
        assert sum(refused.values()) <= 5, refused
        assert refused.get("TransactWriteItems", 0) == 2
        print(f"\nrequests of a refused claim (10 owners): {refused}")


def test_with_a_high_bound_forty_share_and_a_refund_cut_between_batches_reaches_each_exactly_once(
    tmp_path, signer, monkeypatch
):
    sizes = TransactionSizes()
    with shared_stack(tmp_path, signer, MAX_SHARED_OWNERS=str(len(SHARERS))) as stack:
        sizes.install()
        body = receipt(signer)

        # GIVEN 40 users share the purchase (each claim rewrites every owner's copy: batched past ~30;
        # the refund writes three items per sharer: batched too)
        assert [stack.submit_receipt(user, body).status for user in SHARERS] == [200] * len(SHARERS)
        assert stack.purchase_item(PURCHASE)["ownerIds"] == SHARERS
        assert "pendingUsers" not in stack.purchase_item(PURCHASE)
        assert all(pro(stack, u)["active"] for u in SHARERS)
        stack.changes()

        # GIVEN the processor dies after the refund's first transaction (the purchase and some users)
        real_complete, crashed = BoundedWriter.complete, []

        def crash_once(self, purchase, now, cause, loaded=None):
            if not crashed:
                crashed.append(purchase.pending_users if hasattr(purchase, "pending_users") else purchase)
                raise RuntimeError("the container died between batches")
            return real_complete(self, purchase, now, cause, loaded)

        monkeypatch.setattr(BoundedWriter, "complete", crash_once)
        assert stack.post_apple(refund_notification(signer)).status == 200
        first = stack.drain()
        assert len(first.failed) == 1 and crashed and len(crashed[0]) > 0
        pending = set(stack.purchase_item(PURCHASE)["pendingUsers"])
        assert pending and pending < set(SHARERS)
        done_before = [u for u in SHARERS if u not in pending]
        assert all(refunds(stack, u) == 1 for u in done_before)
        assert all(refunds(stack, u) == 0 for u in pending)

        # WHEN SQS delivers the refund again
        stack.redeliver_failed()
        again = stack.drain()

        # THEN the pending users are brought up to date, every refund counted exactly once
        assert again.failed == []
        assert "pendingUsers" not in stack.purchase_item(PURCHASE)
        assert [refunds(stack, u) for u in SHARERS] == [1] * len(SHARERS)
        assert all(pro(stack, u)["state"] == "revoked" for u in SHARERS)
        revoked = {c["userId"] for c in stack.changes() if c["new"] and c["new"]["state"] == "revoked"}
        assert revoked == set(SHARERS)  # every sharer told, at least once

        # ... and a third delivery changes nothing
        stack.send_raw(again.bodies[again.succeeded[0]], group=PURCHASE, dedup_id="third-delivery")
        assert stack.drain().failed == []
        assert [refunds(stack, u) for u in SHARERS] == [1] * len(SHARERS)
        # the batched path was taken, and no transaction went past DynamoDB's hundred items
        assert max(sizes.sizes) <= 100 and any(size > 60 for size in sizes.sizes)
        print(f"\nlargest TransactWriteItems: {max(sizes.sizes)} items over {len(sizes.sizes)} transactions")

