"""The Play Developer API client (`parity.adapters.play_api`) against a local imitation of the API and of
Google's token endpoint (`tests/support/play_api.py`): requests really sent by google-api-python-client
over httplib2, a service-account JWT assertion verified with the public key, the bearer token checked on
every API request; token reuse, retries with backoff, and the errors that tell "retry later" from
"rejected"."""

from __future__ import annotations

import json
import socket
import threading
import time
from datetime import datetime, timedelta, timezone
from types import SimpleNamespace

import pytest

from parity.adapters.play_api import SCOPE, PlayApiError, PlayDeveloperApi
from parity.domain.errors import StoreApiError
from parity.settings import ConfigurationError, Settings
from tests.support.play_api import (
    ASSERTION_AUDIENCE,
    PACKAGE,
    UNAUTHENTICATED,
    generate_key,
    google_error,
    play_api_server,
)
from tests.support.sleeps import SleepRecorder

SUBSCRIPTIONS_V2 = f"/androidpublisher/v3/applications/{PACKAGE}/purchases/subscriptionsv2/tokens/"


@pytest.fixture(scope="module")
def service_key():
    return generate_key()


@pytest.fixture
def api(service_key):
    with play_api_server(service_key) as state:
        yield state


@pytest.fixture
def make_client(api, sleeps, tmp_path):
    """A client built as a function builds it: from settings naming a service-account file."""

    def make(key=None, base_url: str | None = None, **kwargs) -> PlayDeveloperApi:
        path = api.write_service_account(tmp_path / "service-account.json", key)
        settings = Settings.from_env(
            {"GOOGLE_SERVICE_ACCOUNT_FILE": str(path), "GOOGLE_API_BASE": base_url or api.base_url}
        )
        client = PlayDeveloperApi.from_settings(settings, **{"sleep": sleeps, "jitter": lambda: 0.5, **kwargs})
        assert client is not None
        return client

    return make


@pytest.fixture
def no_token_backoff(monkeypatch) -> SleepRecorder:
    """google-auth's own backoff between token endpoint attempts, recorded instead of slept."""
    import google.auth._exponential_backoff as backoff

    waits = SleepRecorder()
    monkeypatch.setattr(backoff, "time", SimpleNamespace(sleep=waits))
    return waits


# --------------------------------------------------------------------------- the calls


def test_a_subscription_is_read_with_a_token_from_the_service_accounts_token_uri(api, make_client):
    # GIVEN Google knows a subscription purchase
    purchase = api.add_subscription("tok-1")

    # WHEN Parity reads it
    answer = make_client().get_subscription_v2(PACKAGE, "tok-1")

    # THEN the SubscriptionPurchaseV2 comes back
    assert answer == purchase
    # AND an access token was obtained at the file's token_uri with a verified JWT-bearer assertion
    [grant] = api.token_requests
    assert "error" not in grant and grant["grant_type"] == "urn:ietf:params:oauth:grant-type:jwt-bearer"
    assert grant["header"]["kid"] == api.key_id
    claims = grant["claims"]
    assert (claims["iss"], claims["aud"], claims["scope"]) == (api.client_email, ASSERTION_AUDIENCE, SCOPE)
    # AND the API request carried it
    [request] = api.requests
    assert (request["method"], request["path"]) == ("GET", SUBSCRIPTIONS_V2 + "tok-1")
    assert request["authorization"] == f"Bearer {grant['access_token']}" and "auth_error" not in request


def test_a_subscription_is_acknowledged_with_its_product_id_and_payload(api, make_client):
    api.add_subscription("tok-2", product_id="pro_monthly")

    make_client().acknowledge_subscription(PACKAGE, "pro_monthly", "tok-2", developer_payload="user:u_1")

    [request] = api.requests
    assert request["method"] == "POST"
    assert request["path"] == (
        f"/androidpublisher/v3/applications/{PACKAGE}/purchases/subscriptions/pro_monthly/tokens/tok-2:acknowledge"
    )
    assert request["body"] == {"developerPayload": "user:u_1"} and "auth_error" not in request
    assert api.subscriptions[(PACKAGE, "tok-2")]["acknowledgementState"] == "ACKNOWLEDGEMENT_STATE_ACKNOWLEDGED"


def test_an_acknowledgement_without_payload_sends_an_empty_body(api, make_client):
    api.add_subscription("tok-3")
    make_client().acknowledge_subscription(PACKAGE, "pro_monthly", "tok-3")
    assert api.requests[0]["body"] == {}


def test_a_one_time_product_is_read_and_acknowledged(api, make_client):
    purchase = api.add_product("tok-p", product_id="lifetime")
    client = make_client()

    assert client.get_product(PACKAGE, "lifetime", "tok-p") == purchase
    client.acknowledge_product(PACKAGE, "lifetime", "tok-p")

    product_path = f"/androidpublisher/v3/applications/{PACKAGE}/purchases/products/lifetime/tokens/tok-p"
    assert api.calls() == [("GET", product_path), ("POST", product_path + ":acknowledge")]
    assert api.requests[1]["body"] == {}
    assert api.products[(PACKAGE, "lifetime", "tok-p")]["acknowledgementState"] == 1


def test_voided_purchases_are_read_page_by_page_over_the_same_window(api, make_client):
    # GIVEN five voided purchases in the window, one outside it, and pages of two
    now = datetime.now(timezone.utc)
    start, end = now - timedelta(days=10), now
    inside = [api.add_voided(f"void-{i}", int((now - timedelta(days=i + 1)).timestamp() * 1000)) for i in range(5)]
    api.add_voided("too-old", int((now - timedelta(days=20)).timestamp() * 1000))

    # WHEN every voided purchase of the window is read
    read = list(make_client().iter_voided_purchases(PACKAGE, start_time=start, end_time=end, max_results=2))

    # THEN all five come back, in order, after three requests that follow the page tokens
    assert read == inside
    assert [r["query"].get("token") for r in api.requests] == [None, ["page-2"], ["page-4"]]
    # AND every page asked for the same window, subscriptions included (type=1)
    millis = [str(int(start.timestamp() * 1000)), str(int(end.timestamp() * 1000))]
    for request in api.requests:
        assert request["path"] == f"/androidpublisher/v3/applications/{PACKAGE}/purchases/voidedpurchases"
        assert [request["query"]["startTime"][0], request["query"]["endTime"][0]] == millis
        assert request["query"]["type"] == ["1"] and request["query"]["maxResults"] == ["2"]
    # AND one token served all three requests
    assert len(api.token_requests) == 1


def test_one_voided_page_says_whether_more_follow_and_subscriptions_can_be_left_out(api, make_client):
    millis = int(time.time() * 1000) - 60_000
    api.add_voided("v-sub", millis, subscription=True)
    api.add_voided("v-one-time", millis, subscription=False)
    client = make_client()

    page = client.get_voided_purchases_page(PACKAGE, start_time=millis - 1, max_results=1)
    assert [v["purchaseToken"] for v in page.voided_purchases] == ["v-sub"] and page.next_page_token == "page-1"

    one_time = client.get_voided_purchases_page(PACKAGE, start_time=millis - 1, include_subscriptions=False)
    assert [v["purchaseToken"] for v in one_time.voided_purchases] == ["v-one-time"]
    assert one_time.next_page_token is None and api.requests[-1]["query"]["type"] == ["0"]


def test_voided_purchases_longer_than_the_page_bound_stop(api, make_client):
    for i in range(5):
        api.add_voided(f"v-{i}", int(time.time() * 1000) - 60_000 - i)
    with pytest.raises(PlayApiError, match="longer than 2 pages") as caught:
        list(make_client().iter_voided_purchases(PACKAGE, max_results=1, max_pages=2))
    assert caught.value.retryable is False and len(api.requests) == 2


def test_the_access_token_is_reused_across_calls(api, make_client):
    api.add_subscription("tok-r")
    api.add_product("tok-q")
    client = make_client()

    client.get_subscription_v2(PACKAGE, "tok-r")
    client.get_product(PACKAGE, "lifetime", "tok-q")
    client.acknowledge_subscription(PACKAGE, "pro_monthly", "tok-r")

    assert len(api.token_requests) == 1
    assert {r["authorization"] for r in api.requests} == {f"Bearer {api.token_requests[0]['access_token']}"}


def test_a_token_close_to_expiry_is_replaced(api, make_client):
    # google-auth renews a token in its last minutes; one that lives 60 s is renewed for every call
    api.token_lifetime = 60
    api.add_subscription("tok-e")
    client = make_client()
    client.get_subscription_v2(PACKAGE, "tok-e")
    client.get_subscription_v2(PACKAGE, "tok-e")
    assert len(api.token_requests) == 2
    assert api.requests[0]["authorization"] != api.requests[1]["authorization"]


def test_a_revoked_token_is_replaced_once_and_the_call_succeeds(api, make_client, sleeps):
    api.add_subscription("tok-v")
    client = make_client()
    client.get_subscription_v2(PACKAGE, "tok-v")
    api.revoke_tokens()

    assert client.get_subscription_v2(PACKAGE, "tok-v")["subscriptionState"] == "SUBSCRIPTION_STATE_ACTIVE"

    assert len(api.token_requests) == 2 and "auth_error" in api.requests[1] and "auth_error" not in api.requests[2]
    assert sleeps.sleeps == []


@pytest.mark.parametrize("trailing", ["", "/"], ids=["no trailing slash", "trailing slash"])
@pytest.mark.parametrize("prefix", ["", "/play/proxy"], ids=["at the root", "under a path"])
def test_google_api_base_works_with_or_without_a_trailing_slash(api, make_client, trailing, prefix):
    api.add_subscription("tok-b")
    make_client(base_url=api.base_url + prefix + trailing).get_subscription_v2(PACKAGE, "tok-b")
    assert api.calls() == [("GET", prefix + SUBSCRIPTIONS_V2 + "tok-b")]


def test_path_segments_are_escaped(api, make_client):
    token = "abc/def+ghi==.AO-J1Oz"  # purchase tokens are opaque: nothing in them may change the path
    api.add_subscription(token)
    assert make_client().get_subscription_v2(PACKAGE, token)["kind"] == "androidpublisher#subscriptionPurchaseV2"
    assert api.requests[0]["path"].startswith(SUBSCRIPTIONS_V2) and "abc%2Fdef" in api.requests[0]["path"]


def test_no_background_lookup_is_started(api, make_client, monkeypatch):
    # google-auth would look up a "Regional Access Boundary" at iamcredentials.googleapis.com after each
    # token refresh, from a daemon thread: the client talks to token_uri and GOOGLE_API_BASE only.
    started, start = [], threading.Thread.start
    monkeypatch.setattr(threading.Thread, "start", lambda thread: (started.append(thread), start(thread))[1])
    api.add_subscription("tok-g")
    client = make_client()

    client.get_subscription_v2(PACKAGE, "tok-g")
    api.revoke_tokens()
    client.get_subscription_v2(PACKAGE, "tok-g")  # a second refresh

    assert len(api.token_requests) == 2
    assert [type(t).__name__ for t in started if type(t).__module__.startswith("google")] == []


# --------------------------------------------------------------------------- refused: not retryable


def test_an_unknown_purchase_token_is_a_refusal(api, make_client, sleeps):
    with pytest.raises(StoreApiError) as caught:
        make_client().get_subscription_v2(PACKAGE, "no-such-token")
    assert isinstance(caught.value, PlayApiError)
    assert (caught.value.retryable, caught.value.status, caught.value.reason) == (False, 404, "purchaseTokenNotFound")
    assert len(api.requests) == 1 and sleeps.sleeps == []


@pytest.mark.parametrize("status", [400, 410])
def test_other_client_errors_are_not_retried(api, make_client, sleeps, status):
    api.script(status, google_error(status, "The purchase token is no longer valid.", "purchaseTokenNoLongerValid"))
    with pytest.raises(PlayApiError) as caught:
        make_client().get_product(PACKAGE, "lifetime", "tok")
    assert (caught.value.retryable, caught.value.status, caught.value.reason) == (
        False,
        status,
        "purchaseTokenNoLongerValid",
    )
    assert len(api.requests) == 1 and sleeps.sleeps == []


def test_a_service_account_key_that_google_does_not_know_is_refused_at_the_token_endpoint(api, make_client, sleeps):
    # GIVEN a service-account file whose key is not the one Google holds for the account
    client = make_client(key=generate_key())

    with pytest.raises(PlayApiError) as caught:
        client.get_subscription_v2(PACKAGE, "tok")

    # THEN the token endpoint refused the assertion (verified against the real public key), nothing
    # reached the API, and nothing was retried
    assert caught.value.retryable is False and "invalid_grant" in str(caught.value)
    assert len(api.token_requests) == 1 and "error" in api.token_requests[0]
    assert api.requests == [] and sleeps.sleeps == []


def test_a_service_account_without_access_to_the_app_is_refused(api, make_client, sleeps):
    api.script(
        403,
        google_error(403, "The current user has insufficient permissions.", "permissionDenied", "PERMISSION_DENIED"),
    )
    with pytest.raises(PlayApiError, match="rejected the credentials") as caught:
        make_client().get_subscription_v2(PACKAGE, "tok")
    assert (caught.value.retryable, caught.value.status) == (False, 403) and sleeps.sleeps == []


def test_an_access_token_the_api_keeps_refusing_is_a_refusal(api, make_client, sleeps):
    # The API answers 401 whatever the token: google-auth fetches a new token and retries, twice, then
    # the 401 stands.
    api.script(401, UNAUTHENTICATED, times=10)
    with pytest.raises(PlayApiError, match="rejected the credentials") as caught:
        make_client().get_subscription_v2(PACKAGE, "tok")
    assert (caught.value.retryable, caught.value.status) == (False, 401)
    assert len(api.requests) == 3 and len(api.token_requests) == 3 and sleeps.sleeps == []


def test_a_redirect_is_not_followed(api, make_client):
    api.script(302, None, {"Location": f"{api.base_url}/elsewhere"})
    with pytest.raises(PlayApiError) as caught:
        make_client().get_subscription_v2(PACKAGE, "tok")
    assert (caught.value.retryable, caught.value.status) == (False, 302)
    assert api.calls() == [("GET", SUBSCRIPTIONS_V2 + "tok")]


# --------------------------------------------------------------------------- retried, then retryable


def test_throttling_is_retried_after_the_time_google_asks_for(api, make_client, sleeps):
    api.add_subscription("tok-t")
    api.script(
        429, google_error(429, "Quota exceeded.", "rateLimitExceeded", "RESOURCE_EXHAUSTED"), {"Retry-After": "2"}
    )

    assert make_client().get_subscription_v2(PACKAGE, "tok-t")["subscriptionState"] == "SUBSCRIPTION_STATE_ACTIVE"

    assert sleeps.sleeps == [2.0] and len(api.requests) == 2 and len(api.token_requests) == 1


def test_a_rate_limit_403_is_throttling(api, make_client, sleeps):
    api.add_subscription("tok-t")
    api.script(403, google_error(403, "Rate limit exceeded.", "userRateLimitExceeded"))
    make_client().get_subscription_v2(PACKAGE, "tok-t")
    assert len(api.requests) == 2 and sleeps.sleeps == [0.375]


def test_a_retry_after_longer_than_the_bound_is_not_waited_for(api, make_client, sleeps):
    api.script(429, None, {"Retry-After": "3600"})
    with pytest.raises(PlayApiError) as caught:
        make_client().get_subscription_v2(PACKAGE, "tok")
    assert (caught.value.retryable, caught.value.retry_after) == (True, 3600.0)
    assert sleeps.sleeps == [] and len(api.requests) == 1


def test_server_errors_are_retried_with_exponential_backoff_then_reported_retryable(api, make_client, sleeps):
    api.script(
        503, {"error": {"code": 503, "message": "The service is unavailable.", "status": "UNAVAILABLE"}}, times=10
    )

    with pytest.raises(StoreApiError) as caught:
        make_client(max_attempts=4).acknowledge_product(PACKAGE, "lifetime", "tok")

    assert isinstance(caught.value, PlayApiError)
    assert (caught.value.retryable, caught.value.status, caught.value.reason) == (True, 503, "UNAVAILABLE")
    assert len(api.requests) == 4 and len(api.token_requests) == 1
    # base 0.5 s doubling, half of each delay jittered (jitter fixed at 0.5 here)
    assert sleeps.sleeps == [0.375, 0.75, 1.5]


def test_backoff_is_capped_and_jittered(api, make_client, sleeps):
    api.script(500, None, times=10)
    jitters = iter([0.0, 1.0, 0.0, 1.0, 0.0])
    with pytest.raises(PlayApiError):
        make_client(max_attempts=6, max_backoff=1.0, jitter=lambda: next(jitters)).get_product(PACKAGE, "p", "t")
    assert sleeps.sleeps == [0.25, 1.0, 0.5, 1.0, 0.5]


def test_a_server_error_then_success_returns_the_answer(api, make_client, sleeps):
    purchase = api.add_product("tok-s")
    api.script(500)
    assert make_client().get_product(PACKAGE, "lifetime", "tok-s") == purchase
    assert len(api.requests) == 2 and len(sleeps.sleeps) == 1


def test_every_call_has_a_timeout(api, make_client):
    api.delay = 1.0
    client = make_client(timeout=0.2, max_attempts=2)
    started = time.monotonic()
    with pytest.raises(PlayApiError, match="unreachable") as caught:
        client.get_subscription_v2(PACKAGE, "tok")
    assert caught.value.retryable is True and caught.value.status is None
    assert time.monotonic() - started < 1.5  # two attempts of 0.2 s, not two of 1 s
    assert len(api.requests) == 2


def test_an_unreachable_api_is_retryable(api, make_client, sleeps):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # nothing listens here once closed
    client = make_client(base_url=f"http://127.0.0.1:{port}", max_attempts=2)  # the token endpoint stays up
    with pytest.raises(PlayApiError, match="unreachable") as caught:
        client.get_subscription_v2(PACKAGE, "tok")
    assert caught.value.retryable is True and len(sleeps.sleeps) == 1


def test_an_unreachable_token_endpoint_is_retryable(api, make_client, tmp_path, sleeps):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    info = api.service_account_info(token_uri=f"http://127.0.0.1:{port}/token")
    client = PlayDeveloperApi(info, base_url=api.base_url, sleep=sleeps, max_attempts=2)
    with pytest.raises(PlayApiError, match="unreachable") as caught:
        client.get_subscription_v2(PACKAGE, "tok")
    assert caught.value.retryable is True and api.requests == [] and len(sleeps.sleeps) == 1


def test_a_token_endpoint_outage_is_retryable_after_google_auths_own_retries(
    api, make_client, sleeps, no_token_backoff
):
    api.script_token(503, {"error": "internal_failure"}, times=10)
    with pytest.raises(PlayApiError, match="token endpoint") as caught:
        make_client().get_subscription_v2(PACKAGE, "tok")
    assert caught.value.retryable is True
    # google-auth tried three times with its backoff; the client adds no retries on top
    assert len(api.token_requests) == 3 and len(no_token_backoff.sleeps) == 2
    assert sleeps.sleeps == [] and api.requests == []


def test_a_passing_token_endpoint_hiccup_is_absorbed(api, make_client, no_token_backoff):
    api.add_subscription("tok-h")
    api.script_token(500)
    assert make_client().get_subscription_v2(PACKAGE, "tok-h")["kind"] == "androidpublisher#subscriptionPurchaseV2"
    assert len(api.token_requests) == 2 and len(api.requests) == 1


def test_an_answer_that_is_not_json_is_retryable(api, make_client):
    api.script(200, b"<html>maintenance</html>")
    with pytest.raises(PlayApiError) as caught:
        make_client(max_attempts=1).get_subscription_v2(PACKAGE, "tok")
    assert caught.value.retryable is True


# --------------------------------------------------------------------------- configuration


def test_no_service_account_file_means_no_client():
    assert PlayDeveloperApi.from_settings(Settings.from_env({})) is None
    assert PlayDeveloperApi.from_settings(Settings.from_env({"GOOGLE_API_BASE": "http://x"})) is None


def test_the_default_endpoint_is_googles(api):
    client = PlayDeveloperApi(api.service_account_info())
    client.prepare()
    request = client._purchases.subscriptionsv2().get(packageName=PACKAGE, token="t")  # built, not sent
    assert request.uri.startswith("https://androidpublisher.googleapis.com" + SUBSCRIPTIONS_V2 + "t")


def test_building_the_client_sends_nothing(api, make_client):
    make_client().prepare()
    assert api.requests == [] and api.token_requests == []


@pytest.mark.parametrize(
    ("content", "complaint"),
    [
        ("not json", "not a readable JSON file"),
        (json.dumps(["a list"]), "JSON object"),
        (json.dumps({"type": "authorized_user", "client_id": "x"}), "not a service account"),
        (json.dumps({"type": "service_account", "client_email": "a@b"}), "private_key, token_uri"),
    ],
)
def test_an_unusable_service_account_file_is_a_configuration_error(tmp_path, content, complaint):
    path = tmp_path / "sa.json"
    path.write_text(content)
    with pytest.raises(ConfigurationError, match=complaint):
        PlayDeveloperApi.from_settings(Settings.from_env({"GOOGLE_SERVICE_ACCOUNT_FILE": str(path)}))


def test_a_missing_service_account_file_is_a_configuration_error(tmp_path):
    with pytest.raises(ConfigurationError, match="GOOGLE_SERVICE_ACCOUNT_FILE"):
        PlayDeveloperApi.from_settings(
            Settings.from_env({"GOOGLE_SERVICE_ACCOUNT_FILE": str(tmp_path / "missing.json")})
        )


def test_a_private_key_that_is_not_rsa_pem_is_a_configuration_error(api):
    with pytest.raises(ConfigurationError, match="PEM"):
        PlayDeveloperApi({**api.service_account_info(), "private_key": "nope"})


def test_on_aws_the_service_account_is_the_json_text_of_the_google_service_account_secret(api):
    api.add_subscription("token-from-secret")
    settings = Settings.from_env(
        {
            "GOOGLE_SERVICE_ACCOUNT": json.dumps(api.service_account_info()),  # the secret's value
            "GOOGLE_API_BASE": api.base_url,
        }
    )

    client = PlayDeveloperApi.from_settings(settings)

    assert client.get_subscription_v2(PACKAGE, "token-from-secret")["subscriptionState"] == "SUBSCRIPTION_STATE_ACTIVE"
