"""POST /v1/users/{userId}/receipts, app_store branch: verify, ask Apple, claim, answer (read-your-writes).

The route's wiring against moto: the verifier and API client built from the settings, the body's
validation, the caller's identity. The claim rules, refusals, pending answers and the drift scan asking
Apple are tested on the in-memory fakes in tests/unit/test_app_store_receipts.py."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

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
