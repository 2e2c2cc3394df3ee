"""POST /v1/users/{userId}/receipts, app_store branch: verify, ask Apple, claim, answer (read-your-writes)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from parity import bootstrap
from tests.support import apple as fx
from tests.support.app_store_api import app_store_api_server
from tests.support.harness import TEST_CATALOG, running_stack

DAY = fx.DAY_MS
MONTHLY = "com.example.pro.monthly"
KEY_ID, ISSUER_ID = "KEY1234567", "57246542-96fe-1a63-e053-0824d011072a"


@pytest.fixture
def signer() -> fx.AppleSigner:
    return fx.AppleSigner(environment="Sandbox")


def apple_env(tmp_path, signer, **extra) -> dict:
    return {
        "APPLE_BUNDLE_ID": signer.bundle_id,
        "APPLE_ENVIRONMENT": "Sandbox",
        "APPLE_ROOT_CERTS": str(signer.chain.write_root(tmp_path)),
        **extra,
    }


@pytest.fixture
def catalog() -> dict:
    return {"products": {**TEST_CATALOG["products"], MONTHLY: ["pro"]}}


@pytest.fixture
def stack(tmp_path, signer, catalog):
    with running_stack(catalog=catalog, catalog_dir=tmp_path, env=apple_env(tmp_path, signer)) as fresh:
        yield fresh


def subscription(signer, original: str, **fields) -> dict:
    now = fx.now_ms()
    fields = {"transactionId": original, "expiresDate": now + 30 * DAY, "signedDate": now, **fields}
    return signer.transaction(originalTransactionId=original, **fields)


def test_a_signed_transaction_is_verified_claimed_and_readable_at_once(stack, signer):
    jws = signer.sign(subscription(signer, "4000000000000001", appAccountToken=None))

    response = stack.submit_receipt("u_r1", {"store": "app_store", "signedTransaction": jws})

    assert response.status == 200
    pro = response.body["entitlements"]["pro"]
    assert (pro["active"], pro["purchaseId"]) == (True, "app_store:4000000000000001")
    assert stack.read("u_r1").body["entitlements"]["pro"]["active"] is True


def test_a_forged_transaction_is_a_400_and_changes_nothing(stack, signer):
    forged = signer.with_(chain=fx.make_chain()).sign(subscription(signer, "4000000000000002"))

    response = stack.submit_receipt("u_r2", {"store": "app_store", "signedTransaction": forged})

    assert response.status == 400
    assert stack.purchase_item("app_store:4000000000000002") is None


def test_a_transaction_of_another_app_is_a_400(stack, signer):
    other = signer.with_(bundle_id="com.example.other")

    response = stack.submit_receipt(
        "u_r3", {"store": "app_store", "signedTransaction": other.sign(subscription(other, "4000000000000003"))}
    )

    assert (response.status, response.body["error"]["code"]) == (400, "wrong_bundle_id")


@pytest.mark.parametrize(
    ("body", "status"),
    [(b"not json", 400), ({"store": "app_store"}, 422), ({"store": "nope", "transactionId": "1"}, 422)],
)
def test_bad_bodies_are_refused_in_the_contract_shape(stack, body, status):
    response = stack.submit_receipt("u_r4", body)

    assert response.status == status
    assert set(response.body["error"]) == {"code", "message"}


def test_a_user_may_submit_only_for_themselves(stack, signer):
    jws = signer.sign(subscription(signer, "4000000000000005"))

    response = stack.submit_receipt("u_victim", {"store": "app_store", "signedTransaction": jws}, sub="u_attacker")

    assert response.status == 403
    assert stack.purchase_item("app_store:4000000000000005") is None


def test_a_transaction_id_needs_the_api_credentials(stack):
    response = stack.submit_receipt("u_r6", {"store": "app_store", "transactionId": "4000000000000006"})

    assert (response.status, response.body["error"]["code"]) == (503, "not_configured")


def test_under_first_a_second_claimant_gets_409(tmp_path, signer, catalog):
    env = apple_env(tmp_path, signer, ENTITLEMENT_STRATEGY="FIRST")
    with running_stack(catalog=catalog, catalog_dir=tmp_path, env=env) as stack:
        jws = signer.sign(subscription(signer, "4000000000000007"))
        assert stack.submit_receipt("u_first", {"store": "app_store", "signedTransaction": jws}).status == 200

        second = stack.submit_receipt("u_second", {"store": "app_store", "signedTransaction": jws})

        assert (second.status, second.body["error"]["code"]) == (409, "purchase_owned_by_another_user")
        assert stack.read("u_second").body["entitlements"] == {}
        assert stack.read("u_first").body["entitlements"]["pro"]["active"] is True


def test_under_last_the_latest_claimant_takes_it_even_with_a_receipt_submitted_before(stack, signer):
    jws = signer.sign(subscription(signer, "4000000000000011"))
    receipt = {"store": "app_store", "signedTransaction": jws}

    for user in ("u_a", "u_b", "u_a"):
        assert stack.submit_receipt(user, receipt).status == 200

    assert stack.read("u_a").body["entitlements"]["pro"]["active"] is True
    assert stack.read("u_b").body["entitlements"]["pro"]["active"] is False


def test_resubmitting_the_same_receipt_publishes_no_change_again(stack, signer):
    receipt = {"store": "app_store", "signedTransaction": signer.sign(subscription(signer, "4000000000000012"))}
    assert stack.submit_receipt("u_again", receipt).status == 200
    assert [c["entitlement"] for c in stack.changes()] == ["pro"]  # drained: published since the last call

    assert stack.submit_receipt("u_again", receipt).status == 200

    assert stack.changes() == []


# -- with the App Store Server API ---------------------------------------------------------------------


@pytest.fixture
def api_key():
    return ec.generate_private_key(ec.SECP256R1())


@pytest.fixture
def api(api_key, signer):
    with app_store_api_server(
        api_key.public_key(), KEY_ID, ISSUER_ID, environment="Sandbox", app_apple_id=None
    ) as state:
        yield state


def api_env(tmp_path, api, api_key) -> dict:
    """The App Store Server API settings, with a .p8 key written for the test."""
    key_file = tmp_path / "AuthKey.p8"
    key_file.write_bytes(
        api_key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return {
        "APPLE_API_BASE": api.base_url,
        "APPLE_KEY_ID": KEY_ID,
        "APPLE_ISSUER_ID": ISSUER_ID,
        "APPLE_PRIVATE_KEY_FILE": str(key_file),
    }


@pytest.fixture
def api_stack(tmp_path, signer, catalog, api, api_key):
    env = apple_env(tmp_path, signer, **api_env(tmp_path, api, api_key))
    with running_stack(catalog=catalog, catalog_dir=tmp_path, env=env) as fresh:
        yield fresh


def test_a_transaction_id_is_looked_up_with_apple_and_claimed(api_stack, api, signer):
    original = "4000000000000008"
    tx = subscription(signer, original)
    api.transactions[original] = signer.sign(tx)
    api.add_subscription(original, signer.sign(tx), signer.signed_renewal_info(originalTransactionId=original))

    response = api_stack.submit_receipt("u_api", {"store": "app_store", "transactionId": original})

    assert response.status == 200, response.body
    assert response.body["entitlements"]["pro"]["active"] is True
    assert f"/inApps/v1/subscriptions/{original}" in api.paths()


def test_apple_unreachable_gives_202_pending_and_the_queued_retry_claims_later(api_stack, api, signer):
    original = "4000000000000009"
    tx = subscription(signer, original)
    api.transactions[original] = signer.sign(tx)
    api.add_subscription(original, signer.sign(tx), signer.signed_renewal_info(originalTransactionId=original))
    api.script(503, {"errorCode": 5000000, "errorMessage": "An unknown error occurred."}, times=2)

    # WHEN Apple answers 503 to the synchronous lookup
    response = api_stack.submit_receipt("u_pending", {"store": "app_store", "transactionId": original})

    # THEN the app is told to wait, nothing is granted yet, and a retry is queued
    assert response.status == 202
    assert response.body["status"] == "pending"
    assert api_stack.read("u_pending").body["entitlements"] == {}
    assert api_stack.queue_depth() == 1

    # WHEN the processor takes the queued retry and Apple is back
    drained = api_stack.drain()

    # THEN the claim is made
    assert drained.failed == []
    assert api_stack.read("u_pending").body["entitlements"]["pro"]["active"] is True


def test_a_queued_retry_while_apple_is_still_down_fails_for_sqs_to_retry_and_queues_nothing_new(api_stack, api, signer):
    original = "4000000000000010"
    api.script(503, {"errorCode": 5000000, "errorMessage": "An unknown error occurred."}, times=10)
    assert api_stack.submit_receipt("u_down", {"store": "app_store", "transactionId": original}).status == 202

    drained = api_stack.drain()

    assert len(drained.failed) == 1
    assert api_stack.queue_depth() == 1  # only the failed message itself, waiting for its retry: no second copy
    assert api_stack.read("u_down").body["entitlements"] == {}


# -- the drift scan asks the App Store ----------------------------------------------------------------


def test_the_drift_scan_finds_a_refund_apple_never_notified_and_revokes(api_stack, api, signer, monkeypatch):
    from tests.integration.test_drift import scan

    original = "4000000000000011"
    tx = subscription(signer, original)
    api.transactions[original] = signer.sign(tx)
    api.add_subscription(original, signer.sign(tx), signer.signed_renewal_info(originalTransactionId=original))
    assert api_stack.submit_receipt("u_drift", {"store": "app_store", "transactionId": original}).status == 200

    # GIVEN Apple refunded it and the REFUND notification never came
    refunded = {**tx, "revocationDate": fx.now_ms(), "revocationReason": 0, "signedDate": fx.now_ms()}
    api.statuses.clear()
    api.add_subscription(original, signer.sign(refunded), signer.signed_renewal_info(originalTransactionId=original))
    api.requests.clear()

    # WHEN a week has passed (the rolling recheck) and the scan runs
    real = bootstrap.SystemClock.now
    monkeypatch.setattr(bootstrap.SystemClock, "now", lambda self: real(self) + timedelta(days=8))
    result = scan(api_stack)

    # THEN the App Store was asked for the subscription's status, and access is revoked and reported
    assert f"/inApps/v1/subscriptions/{original}" in api.paths()
    pro = api_stack.read("u_drift").body["entitlements"]["pro"]
    assert (pro["active"], pro["state"]) == (False, "revoked")
    assert result["counts"]["refunded_unnoticed"] == 1 and result["counts"]["repaired"] == 1


# -- claims honour verified links (the store data names the user; an id alone proves nothing) -----------

STRATEGIES = ("ALL", "FIRST", "LAST")


def strategy_stack(tmp_path, signer, catalog, strategy: str, **env: str):
    return running_stack(
        catalog=catalog, catalog_dir=tmp_path, env=apple_env(tmp_path, signer, ENTITLEMENT_STRATEGY=strategy, **env)
    )


def has_pro(stack, user: str) -> bool:
    pro = stack.read(user).body["entitlements"].get("pro")
    return bool(pro and pro["active"])


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_another_user_posting_a_transaction_that_carries_the_owners_token_gets_409(tmp_path, signer, catalog, strategy):
    with strategy_stack(tmp_path, signer, catalog, strategy) as stack:
        # GIVEN u_owner bought with their appAccountToken and claimed the purchase
        token = stack.read("u_owner").body["appAccountToken"]
        receipt = {"store": "app_store", "signedTransaction": signer.sign(subscription(signer, "4000000000000101", appAccountToken=token))}
        assert stack.submit_receipt("u_owner", receipt).status == 200

        # WHEN u_thief posts the same signed transaction
        response = stack.submit_receipt("u_thief", receipt)

        # THEN it is refused, and u_owner keeps access
        assert (response.status, response.body["error"]["code"]) == (409, "purchase_owned_by_another_user")
        assert has_pro(stack, "u_owner") and not has_pro(stack, "u_thief")
        assert stack.purchase_item("app_store:4000000000000101")["ownerIds"] == ["u_owner"]


def test_a_transaction_naming_another_user_is_refused_even_before_they_claim_it(stack, signer):
    token = stack.read("u_buyer").body["appAccountToken"]
    receipt = {"store": "app_store", "signedTransaction": signer.sign(subscription(signer, "4000000000000102", appAccountToken=token))}

    response = stack.submit_receipt("u_thief", receipt)

    assert (response.status, response.body["error"]["code"]) == (409, "purchase_owned_by_another_user")
    assert not has_pro(stack, "u_thief")
    # the buyer claims it afterwards
    assert stack.submit_receipt("u_buyer", receipt).status == 200 and has_pro(stack, "u_buyer")


def test_a_purchase_the_store_linked_is_refused_to_a_later_transaction_without_token(stack, signer):
    # GIVEN a purchase the store linked to u_owner (their token on its first transaction)
    token = stack.read("u_owner").body["appAccountToken"]
    linked = subscription(signer, "4000000000000103", appAccountToken=token)
    assert stack.submit_receipt("u_owner", {"store": "app_store", "signedTransaction": signer.sign(linked)}).status == 200

    # WHEN a later transaction of the same purchase, without a token, is posted by someone else
    renewal = subscription(signer, "4000000000000103", appAccountToken=None, transactionId="4000000000000199")
    response = stack.submit_receipt("u_thief", {"store": "app_store", "signedTransaction": signer.sign(renewal)})

    # THEN the link stands
    assert (response.status, response.body["error"]["code"]) == (409, "purchase_owned_by_another_user")
    assert has_pro(stack, "u_owner")


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_a_transaction_id_alone_takes_nothing_from_anyone(tmp_path, signer, catalog, api, api_key, strategy):
    env = api_env(tmp_path, api, api_key)
    with strategy_stack(tmp_path, signer, catalog, strategy, **env) as stack:
        token = stack.read("u_owner").body["appAccountToken"]
        linked = subscription(signer, "4000000000000104", appAccountToken=token)
        unlinked = subscription(signer, "4000000000000105", appAccountToken=None)
        for tx in (linked, unlinked):
            original = tx["originalTransactionId"]
            api.transactions[original] = signer.sign(tx)
            api.add_subscription(original, signer.sign(tx), signer.signed_renewal_info(originalTransactionId=original))
        assert stack.submit_receipt("u_owner", {"store": "app_store", "signedTransaction": signer.sign(unlinked)}).status == 200

        # WHEN u_thief sends only the ids: one whose transaction carries u_owner's token, one u_owner holds
        answers = [
            stack.submit_receipt("u_thief", {"store": "app_store", "transactionId": original})
            for original in ("4000000000000104", "4000000000000105")
        ]

        # THEN both are refused, and only the linked user may claim by id
        assert [(a.status, a.body["error"]["code"]) for a in answers] == [(409, "purchase_owned_by_another_user")] * 2
        assert not has_pro(stack, "u_thief")
        assert stack.purchase_item("app_store:4000000000000105")["ownerIds"] == ["u_owner"]
        assert stack.submit_receipt("u_owner", {"store": "app_store", "transactionId": "4000000000000104"}).status == 200


def test_a_transaction_id_alone_claims_a_purchase_nobody_holds(api_stack, api, signer):
    tx = subscription(signer, "4000000000000106", appAccountToken=None)
    api.transactions["4000000000000106"] = signer.sign(tx)
    api.add_subscription("4000000000000106", signer.sign(tx), signer.signed_renewal_info(originalTransactionId="4000000000000106"))

    response = api_stack.submit_receipt("u_first_by_id", {"store": "app_store", "transactionId": "4000000000000106"})

    assert response.status == 200 and response.body["entitlements"]["pro"]["active"] is True
