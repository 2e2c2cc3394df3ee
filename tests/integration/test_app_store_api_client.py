"""The App Store Server API client (`parity.adapters.app_store_api`) against a local imitation that
checks the bearer JWT for real: the calls and their verified answers, token reuse, retries with
backoff, and the errors that tell "retry later" from "rejected"."""

from __future__ import annotations

import socket
import time

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from parity.adapters.app_store_api import (
    PRODUCTION_BASE_URL,
    SANDBOX_BASE_URL,
    AppStoreApiClient,
    AppStoreApiError,
    BearerTokenSigner,
)
from parity.domain.errors import StoreApiError
from parity.settings import ConfigurationError, Settings
from parity.webhooks.apple import RejectedSignedData, SignedDataVerifier
from tests.support import apple as fx
from tests.support.app_store_api import app_store_api_server

KEY_ID, ISSUER_ID = "2X9R4HXF34", "57246542-96fe-1a63-e053-0824d011072a"
signer = fx.AppleSigner()


def pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    """The key as App Store Connect delivers it in a .p8 file (PKCS#8 PEM)."""
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


@pytest.fixture(scope="module")
def api_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


@pytest.fixture
def api(api_key):
    with app_store_api_server(api_key.public_key(), KEY_ID, ISSUER_ID) as state:
        yield state


@pytest.fixture
def verifier() -> SignedDataVerifier:
    return SignedDataVerifier([fx.default_chain().root], fx.BUNDLE_ID, "Production", fx.APP_APPLE_ID)


@pytest.fixture
def make_client(api, api_key, verifier, sleeps):
    def make(key: ec.EllipticCurvePrivateKey | None = None, clock=time.time, **kwargs) -> AppStoreApiClient:
        token_signer = BearerTokenSigner(pem(key or api_key), KEY_ID, ISSUER_ID, fx.BUNDLE_ID, clock=clock)
        options = {
            "base_url": api.base_url + "/",
            "sandbox_base_url": api.base_url,  # a lookup by id alone asks the Sandbox after Production
            "sleep": sleeps,
            "jitter": lambda: 0.5,
            **kwargs,
        }  # a trailing slash works
        return AppStoreApiClient(token_signer, verifier, **options)

    return make


def history_of(count: int) -> tuple[list[dict], list[str]]:
    transactions = [signer.transaction(transactionId=str(3000 + i), originalTransactionId="3000") for i in range(count)]
    return transactions, [signer.sign(t) for t in transactions]


# --------------------------------------------------------------------------- the calls


def test_subscription_statuses_come_back_verified_and_decoded(api, make_client):
    # GIVEN Apple knows a subscription of the customer
    transaction, renewal = (
        signer.transaction(originalTransactionId="1000"),
        signer.renewal_info(originalTransactionId="1000"),
    )
    api.add_subscription("1000", signer.sign(transaction), signer.sign(renewal), status=4)

    # WHEN Parity asks for all subscription statuses
    [status] = make_client().get_all_subscription_statuses("1000")

    # THEN the decoded, verified items come back
    assert (status.subscription_group_identifier, status.status, status.original_transaction_id) == (
        "21000000",
        4,
        "1000",
    )
    assert status.transaction == transaction and status.renewal_info == renewal
    # AND the request carried a token the imitation verified (ES256, kid, iss, aud, bid, ≤ 60 min)
    [request] = api.requests
    assert request["path"] == "/inApps/v1/subscriptions/1000" and "auth_error" not in request
    assert request["header"] == {"alg": "ES256", "kid": KEY_ID, "typ": "JWT"}
    claims = request["claims"]
    assert (claims["iss"], claims["aud"], claims["bid"]) == (ISSUER_ID, "appstoreconnect-v1", fx.BUNDLE_ID)
    assert 0 < claims["exp"] - claims["iat"] <= 3600


def test_transaction_info_comes_back_verified_and_decoded(api, make_client):
    transaction = signer.transaction(transactionId="2000")
    api.transactions["2000"] = signer.sign(transaction)
    assert make_client().get_transaction_info("2000") == transaction
    assert api.paths() == ["/inApps/v1/transactions/2000"]


def test_the_history_is_read_page_by_page_with_the_same_filters(api, make_client):
    # GIVEN 45 transactions: three pages of 20
    transactions, api.history["3000"] = history_of(45)

    # WHEN the whole history is read, newest filters included
    read = list(
        make_client().iter_transaction_history(
            "3000", sort="ASCENDING", productType=["AUTO_RENEWABLE", "NON_CONSUMABLE"]
        )
    )

    # THEN every transaction comes back, in order, verified and decoded
    assert read == transactions
    # AND three requests were made, following the revisions, each repeating the filters
    assert api.paths() == ["/inApps/v2/history/3000"] * 3
    assert [r["query"].get("revision") for r in api.requests] == [None, ["rev-20"], ["rev-40"]]
    assert all(r["query"]["sort"] == ["ASCENDING"] for r in api.requests)
    assert all(r["query"]["productType"] == ["AUTO_RENEWABLE", "NON_CONSUMABLE"] for r in api.requests)


def test_one_history_page_says_whether_more_follow(api, make_client):
    _, api.history["3000"] = history_of(21)
    client = make_client()
    first = client.get_transaction_history_page("3000")
    assert (len(first.transactions), first.has_more, first.revision) == (20, True, "rev-20")
    last = client.get_transaction_history_page("3000", first.revision)
    assert (len(last.transactions), last.has_more) == (1, False)


def test_a_history_longer_than_the_page_bound_stops(api, make_client):
    _, api.history["3000"] = history_of(45)
    with pytest.raises(AppStoreApiError, match="longer than 2 pages") as caught:
        list(make_client().iter_transaction_history("3000", max_pages=2))
    assert caught.value.retryable is False and len(api.requests) == 2


def test_the_token_is_reused_until_shortly_before_it_expires(api, make_client):
    # GIVEN a clock 27 minutes behind real time (so every token stays valid for the imitation)
    now = [time.time() - 27 * 60]
    api.transactions["2000"] = signer.signed_transaction(transactionId="2000")
    client = make_client(clock=lambda: now[0])

    client.get_transaction_info("2000")
    now[0] += 60
    client.get_transaction_info("2000")
    now[0] += 24 * 60 + 1  # 5 minutes before the 30-minute token expires
    client.get_transaction_info("2000")

    tokens = [r["token"] for r in api.requests]
    assert tokens[0] == tokens[1] != tokens[2]
    assert all("auth_error" not in r for r in api.requests)


# --------------------------------------------------------------------------- refused: not retryable


def test_a_token_signed_with_another_key_is_refused_with_401_and_not_retried(api, make_client, sleeps):
    api.transactions["2000"] = signer.signed_transaction(transactionId="2000")

    with pytest.raises(StoreApiError) as caught:
        make_client(key=ec.generate_private_key(ec.SECP256R1())).get_transaction_info("2000")

    assert isinstance(caught.value, AppStoreApiError)
    assert (caught.value.retryable, caught.value.status) == (False, 401)
    assert "credentials" in str(caught.value)
    assert len(api.requests) == 1 and "auth_error" in api.requests[0] and sleeps.sleeps == []


def test_an_unknown_transaction_is_a_refusal_with_apples_error_code(api, make_client, sleeps):
    with pytest.raises(AppStoreApiError) as caught:
        make_client().get_transaction_info("404404")
    assert (caught.value.retryable, caught.value.status, caught.value.error_code) == (False, 404, 4040010)
    # asked in Production, then in the Sandbox (an id alone does not say where it lives)
    assert len(api.requests) == 2 and sleeps.sleeps == []


def test_a_bad_request_is_not_retried(api, make_client):
    api.script(400, {"errorCode": 4000006, "errorMessage": "Invalid transaction id."})
    with pytest.raises(AppStoreApiError) as caught:
        make_client().get_transaction_info("x")
    assert (caught.value.retryable, caught.value.error_code) == (False, 4000006)


def test_a_redirect_is_not_followed_with_the_token(api, make_client):
    api.script(302, None, {"Location": f"{api.base_url}/elsewhere"})
    with pytest.raises(AppStoreApiError) as caught:
        make_client().get_transaction_info("2000")
    assert (caught.value.retryable, caught.value.status) == (False, 302)
    assert api.paths() == ["/inApps/v1/transactions/2000"]


def test_a_forged_signed_item_in_an_answer_is_rejected(api, make_client):
    # GIVEN an answer whose transaction was signed by a chain that does not lead to the trusted root
    forged = fx.AppleSigner(chain=fx.make_chain()).signed_transaction(originalTransactionId="1000")
    api.add_subscription("1000", forged, signer.signed_renewal_info())

    with pytest.raises(AppStoreApiError) as caught:
        make_client().get_all_subscription_statuses("1000")

    assert caught.value.retryable is False
    assert isinstance(caught.value.__cause__, RejectedSignedData) and caught.value.__cause__.code == "untrusted_root"


def test_a_tampered_history_item_is_rejected(api, make_client):
    _, signed = history_of(3)
    signed[1] = fx.tamper_payload(signed[1], revocationDate=None, expiresDate=4102444800000)
    api.history["3000"] = signed
    with pytest.raises(AppStoreApiError, match="invalid_signature") as caught:
        list(make_client().iter_transaction_history("3000"))
    assert caught.value.retryable is False


def test_a_transaction_of_another_environment_is_rejected(api, make_client):
    api.transactions["2000"] = signer.signed_transaction(transactionId="2000", environment="Sandbox")
    with pytest.raises(AppStoreApiError, match="wrong_environment"):
        make_client().get_transaction_info("2000")


# --------------------------------------------------------------------------- retried, then retryable


def test_throttling_is_retried_after_the_time_apple_asks_for(api, make_client, sleeps):
    api.transactions["2000"] = signer.signed_transaction(transactionId="2000")
    api.script(429, {"errorCode": 4290000, "errorMessage": "Rate limit exceeded."}, {"Retry-After": "2"})

    assert make_client().get_transaction_info("2000")["transactionId"] == "2000"

    assert sleeps.sleeps == [2.0] and len(api.requests) == 2


def test_a_retry_after_given_as_a_date_is_honoured(api, make_client, sleeps):
    api.transactions["2000"] = signer.signed_transaction(transactionId="2000")
    api.script(503, None, {"Retry-After": time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime(time.time() + 5))})
    make_client().get_transaction_info("2000")
    assert len(sleeps.sleeps) == 1 and 3 <= sleeps.sleeps[0] <= 5


def test_a_retry_after_longer_than_the_bound_is_not_waited_for(api, make_client, sleeps):
    api.script(429, None, {"Retry-After": "3600"})
    with pytest.raises(AppStoreApiError) as caught:
        make_client().get_transaction_info("2000")
    assert (caught.value.retryable, caught.value.retry_after) == (True, 3600.0)
    assert sleeps.sleeps == [] and len(api.requests) == 1


def test_server_errors_are_retried_with_exponential_backoff_then_reported_retryable(api, make_client, sleeps):
    api.script(500, {"errorCode": 5000000, "errorMessage": "An unknown error occurred."}, times=10)

    with pytest.raises(AppStoreApiError) as caught:
        make_client(max_attempts=4).get_transaction_info("2000")

    assert (caught.value.retryable, caught.value.status, caught.value.error_code) == (True, 500, 5000000)
    assert len(api.requests) == 4
    # base 0.5 s doubling, half of each delay jittered (jitter fixed at 0.5 here)
    assert sleeps.sleeps == [0.375, 0.75, 1.5]


def test_backoff_is_capped(api, make_client, sleeps):
    api.script(502, None, times=10)
    with pytest.raises(AppStoreApiError):
        make_client(max_attempts=6, max_backoff=1.0, jitter=lambda: 1.0).get_transaction_info("2000")
    assert sleeps.sleeps == [0.5, 1.0, 1.0, 1.0, 1.0]


def test_a_server_error_then_success_returns_the_answer(api, make_client, sleeps):
    api.transactions["2000"] = signer.signed_transaction(transactionId="2000")
    api.script(503)
    assert make_client().get_transaction_info("2000")["transactionId"] == "2000"
    assert len(api.requests) == 2 and len(sleeps.sleeps) == 1


def test_every_call_has_a_timeout(api, make_client):
    api.delay = 1.0
    started = time.monotonic()
    with pytest.raises(AppStoreApiError, match="unreachable") as caught:
        make_client(timeout=0.2, max_attempts=2).get_transaction_info("2000")
    assert caught.value.retryable is True
    assert time.monotonic() - started < 1.5  # two attempts of 0.2 s, not two of 1 s


def test_an_unreachable_api_is_retryable(api_key, verifier, sleeps):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # nothing listens here once closed
    token_signer = BearerTokenSigner(pem(api_key), KEY_ID, ISSUER_ID, fx.BUNDLE_ID)
    client = AppStoreApiClient(
        token_signer, verifier, base_url=f"http://127.0.0.1:{port}", sleep=sleeps, max_attempts=2
    )
    with pytest.raises(AppStoreApiError, match="unreachable") as caught:
        client.get_transaction_info("2000")
    assert caught.value.retryable is True and caught.value.status is None and len(sleeps.sleeps) == 1


def test_an_answer_that_is_not_json_is_retryable(api, make_client):
    api.script(200, b"<html>maintenance</html>")
    with pytest.raises(AppStoreApiError) as caught:
        make_client().get_transaction_info("2000")
    assert caught.value.retryable is True


# --------------------------------------------------------------------------- configuration


def test_the_base_url_defaults_to_apples_by_environment(api_key, verifier):
    token_signer = BearerTokenSigner(pem(api_key), KEY_ID, ISSUER_ID, fx.BUNDLE_ID)
    sandbox = SignedDataVerifier([fx.default_chain().root], fx.BUNDLE_ID, "Sandbox")
    assert AppStoreApiClient(token_signer, verifier)._base == PRODUCTION_BASE_URL
    assert AppStoreApiClient(token_signer, sandbox)._base == SANDBOX_BASE_URL


def test_the_client_is_built_from_settings(api, api_key, verifier, tmp_path):
    api.transactions["2000"] = signer.signed_transaction(transactionId="2000")
    key_file = tmp_path / "AuthKey_2X9R4HXF34.p8"
    key_file.write_bytes(pem(api_key))
    env = {
        "APPLE_KEY_ID": KEY_ID,
        "APPLE_ISSUER_ID": ISSUER_ID,
        "APPLE_PRIVATE_KEY_FILE": str(key_file),
        "APPLE_API_BASE": api.base_url,
    }

    client = AppStoreApiClient.from_settings(Settings.from_env(env), verifier)

    assert client.get_transaction_info("2000")["transactionId"] == "2000"
    assert AppStoreApiClient.from_settings(Settings.from_env({}), verifier) is None
    with pytest.raises(ConfigurationError, match="APPLE_ISSUER_ID"):
        AppStoreApiClient.from_settings(Settings.from_env({**env, "APPLE_ISSUER_ID": ""}), verifier)
    with pytest.raises(ConfigurationError, match="APPLE_PRIVATE_KEY_FILE"):
        AppStoreApiClient.from_settings(
            Settings.from_env({**env, "APPLE_PRIVATE_KEY_FILE": str(tmp_path / "none.p8")}), verifier
        )


def test_on_aws_the_key_is_the_pem_text_of_the_apple_private_key_secret(api, api_key, verifier):
    api.transactions["2001"] = signer.signed_transaction(transactionId="2001")
    env = {
        "APPLE_KEY_ID": KEY_ID,
        "APPLE_ISSUER_ID": ISSUER_ID,
        "APPLE_PRIVATE_KEY": pem(api_key).decode(),  # the secret's value (read from the environment here)
        "APPLE_API_BASE": api.base_url,
    }

    client = AppStoreApiClient.from_settings(Settings.from_env(env), verifier)

    assert client.get_transaction_info("2001")["transactionId"] == "2001"


@pytest.mark.parametrize(
    "key_pem",
    [b"not a key", pem(ec.generate_private_key(ec.SECP384R1()))],
    ids=["not PEM", "P-384"],
)
def test_a_private_key_that_is_not_an_es256_key_is_a_configuration_error(key_pem):
    with pytest.raises(ConfigurationError, match="APPLE_PRIVATE_KEY_FILE"):
        BearerTokenSigner(key_pem, KEY_ID, ISSUER_ID, fx.BUNDLE_ID)
