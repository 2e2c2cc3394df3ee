"""Pub/Sub push OIDC verification (`parity.webhooks.google.PubSubPushVerifier`) against a local certs URL
serving Google's v1 format over HTTP, with RSA keys and tokens generated here (`tests.support.google`)."""

from __future__ import annotations

import json
import socket
import threading
import time

import pytest

from parity.settings import ConfigurationError, Settings
from parity.webhooks.google import PubSubPushVerifier, RejectedPush
from parity.webhooks.google_certs import CERTS_DEFAULT_TTL, CERTS_MAX_STALE, CertsCache, CertsUnavailable
from tests.support import google as fx

TRUSTED = fx.signing_key("google-1")
ROGUE = fx.signing_key("rogue")  # a key Google does not publish


@pytest.fixture
def certs():
    with fx.certs_server(TRUSTED) as state:
        yield state


@pytest.fixture
def verifier(certs) -> PubSubPushVerifier:
    return PubSubPushVerifier(fx.AUDIENCE, fx.SERVICE_ACCOUNT, certs.url)


def rejected(verifier: PubSubPushVerifier, authorization: str | None) -> RejectedPush:
    with pytest.raises(RejectedPush) as caught:
        verifier.verify(authorization)
    return caught.value


def assert_rejected(verifier, authorization, code: str, status: int) -> None:
    refusal = rejected(verifier, authorization)
    assert (refusal.code, refusal.status) == (code, status), str(refusal)


# --------------------------------------------------------------------------- accepted


def test_a_token_minted_for_the_push_is_accepted(verifier, certs):
    claims = verifier.verify(fx.bearer(fx.mint_token(TRUSTED)))

    assert (claims["email"], claims["aud"], claims["iss"]) == (fx.SERVICE_ACCOUNT, fx.AUDIENCE, fx.ISSUER)
    assert certs.requests == [fx.CERTS_PATH]


def test_both_google_issuer_spellings_are_accepted(verifier):
    verifier.verify(fx.bearer(fx.mint_token(issuer="accounts.google.com")))
    verifier.verify(fx.bearer(fx.mint_token(issuer="https://accounts.google.com")))


def test_a_token_without_kid_is_checked_against_every_published_key(verifier):
    verifier.verify(fx.bearer(fx.mint_token(TRUSTED, kid=None)))
    assert_rejected(verifier, fx.bearer(fx.mint_token(ROGUE, kid=None)), "invalid_token", 401)


def test_the_email_compares_without_case(verifier):
    verifier.verify(fx.bearer(fx.mint_token(email=fx.SERVICE_ACCOUNT.upper())))


def test_a_token_expired_within_the_clock_skew_is_accepted(verifier):
    verifier.verify(fx.bearer(fx.mint_token(issued_at=int(time.time()) - 3600 - 3)))


# --------------------------------------------------------------------------- 401: not a valid token for us


@pytest.mark.parametrize("audience", ["https://other.example.com/push", fx.AUDIENCE + "/", None])
def test_a_wrong_or_absent_audience_is_refused(verifier, audience):
    assert_rejected(verifier, fx.bearer(fx.mint_token(audience=audience)), "invalid_token", 401)


def test_an_audience_list_is_refused(verifier):
    assert_rejected(verifier, fx.bearer(fx.mint_token(audience=[fx.AUDIENCE, "x"])), "invalid_token", 401)


@pytest.mark.parametrize(
    "issuer", ["https://evil.example.com", "https://securetoken.google.com/parity", "accounts.google.com/", None]
)
def test_another_issuer_is_refused(verifier, issuer):
    assert_rejected(verifier, fx.bearer(fx.mint_token(issuer=issuer)), "invalid_token", 401)


def test_an_expired_token_is_refused(verifier):
    refusal = rejected(verifier, fx.bearer(fx.mint_token(issued_at=int(time.time()) - 7200)))
    assert (refusal.code, refusal.status, str(refusal)) == ("invalid_token", 401, "The token has expired.")


def test_a_token_issued_in_the_future_is_refused(verifier):
    assert_rejected(verifier, fx.bearer(fx.mint_token(issued_at=int(time.time()) + 600)), "invalid_token", 401)


def test_a_token_without_iat_or_exp_is_refused(verifier, certs):
    token = fx.jwt.encode(
        {k: v for k, v in fx.claims().items() if k not in ("iat", "exp")},
        TRUSTED.private_key,
        algorithm="RS256",
        headers={"kid": TRUSTED.kid},
    )
    assert_rejected(verifier, fx.bearer(token), "invalid_token", 401)


def test_a_token_signed_by_a_key_google_does_not_publish_is_refused(verifier):
    assert_rejected(verifier, fx.bearer(fx.mint_token(ROGUE)), "invalid_token", 401)


def test_a_token_signed_by_another_key_under_a_published_kid_is_refused(verifier):
    refusal = rejected(verifier, fx.bearer(fx.mint_token(ROGUE, kid=TRUSTED.kid)))
    assert (refusal.code, str(refusal)) == ("invalid_token", "The token's signature does not verify.")


def test_a_tampered_payload_is_refused(verifier):
    header, _, signature = fx.mint_token(TRUSTED).split(".")
    forged = fx._json_b64url(fx.claims(email="attacker@evil.example.com"))
    assert_rejected(verifier, fx.bearer(f"{header}.{forged}.{signature}"), "invalid_token", 401)


@pytest.mark.parametrize(
    "token",
    [
        pytest.param(lambda: fx.unsigned_token(), id="alg-none"),
        pytest.param(lambda: fx.hs256_token(), id="hs256-keyed-with-the-certificate"),
        pytest.param(lambda: fx.hs256_token(b"secret"), id="hs256"),
        pytest.param(lambda: fx.relabelled_token(fx.mint_token(), alg="ES256"), id="es256-header"),
        pytest.param(lambda: fx.relabelled_token(fx.mint_token(), alg="RS512"), id="rs512-header"),
        pytest.param(lambda: fx.relabelled_token(fx.mint_token(), alg=None), id="no-alg"),
    ],
)
def test_a_token_not_signed_with_rs256_is_refused_before_any_key_is_fetched(verifier, certs, token):
    assert_rejected(verifier, fx.bearer(token()), "invalid_token", 401)
    assert certs.count == 0


@pytest.mark.parametrize(
    "token", ["garbage", "a.b", "a.b.c", "a.b.c.d", "...", fx.b64url(b"{}") + ".e30.", "x" * 10_000]
)
def test_a_bearer_value_that_is_no_jwt_is_refused(verifier, token):
    assert_rejected(verifier, fx.bearer(token), "invalid_token", 401)


@pytest.mark.parametrize("authorization", [None, "", "Basic dXNlcjpwYXNz", "Bearer", "Token abc"])
def test_no_bearer_token_is_refused_as_missing(verifier, certs, authorization):
    assert_rejected(verifier, authorization, "missing_token", 401)
    assert certs.count == 0


# --------------------------------------------------------------------------- 403: a Google token, another sender


@pytest.mark.parametrize("email", ["someone-else@parity-test.iam.gserviceaccount.com", "attacker@gmail.com", None])
def test_a_token_of_another_or_no_service_account_is_forbidden(verifier, email):
    assert_rejected(verifier, fx.bearer(fx.mint_token(email=email)), "forbidden_sender", 403)


@pytest.mark.parametrize("verified", [False, "false", None, 1, "yes"])
def test_an_unverified_email_is_forbidden(verifier, verified):
    assert_rejected(verifier, fx.bearer(fx.mint_token(email_verified=verified)), "forbidden_sender", 403)


def test_the_string_true_counts_as_verified(verifier):
    verifier.verify(fx.bearer(fx.mint_token(email_verified="true")))


# --------------------------------------------------------------------------- the certs URL


def test_the_certs_are_fetched_once_for_many_pushes(verifier, certs):
    for _ in range(50):
        verifier.verify(fx.bearer(fx.mint_token()))
    assert certs.count == 1


def test_concurrent_first_pushes_fetch_the_certs_once(verifier, certs):
    errors: list[Exception] = []

    def push() -> None:
        try:
            verifier.verify(fx.bearer(fx.mint_token()))
        except Exception as error:  # noqa: BLE001 - collected for the assertion
            errors.append(error)

    threads = [threading.Thread(target=push) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert (errors, certs.count) == ([], 1)


def test_a_certs_url_with_a_trailing_slash_works(certs):
    verifier = PubSubPushVerifier(fx.AUDIENCE, fx.SERVICE_ACCOUNT, certs.url + "/")
    verifier.verify(fx.bearer(fx.mint_token()))
    assert certs.requests == [fx.CERTS_PATH]  # the stub is exact: the slash was not sent


@pytest.mark.parametrize("suffix", ["", "/"])
def test_a_certs_url_that_is_a_bare_base_url_works_with_or_without_slash(suffix):
    with fx.certs_server(TRUSTED, path="/") as state:
        verifier = PubSubPushVerifier(fx.AUDIENCE, fx.SERVICE_ACCOUNT, state.base_url + suffix)
        verifier.verify(fx.bearer(fx.mint_token()))
        assert state.requests == ["/"]


def test_a_key_rotation_is_picked_up_by_refetching_early(certs):
    clock = Clock()
    verifier = PubSubPushVerifier(fx.AUDIENCE, fx.SERVICE_ACCOUNT, certs=CertsCache(certs.url, clock=clock))
    verifier.verify(fx.bearer(fx.mint_token(TRUSTED)))
    new = fx.signing_key("google-2")
    certs.document = fx.certs_document(TRUSTED, new)  # Google publishes a new key; our copy is fresh (6 h)

    clock.now += 61  # past the minimum refresh interval, long before max-age
    verifier.verify(fx.bearer(fx.mint_token(new)))

    assert certs.count == 2


def test_forged_key_ids_do_not_make_every_push_refetch(certs, verifier):
    verifier.verify(fx.bearer(fx.mint_token(TRUSTED)))
    for n in range(20):
        assert_rejected(verifier, fx.bearer(fx.mint_token(ROGUE, kid=f"forged-{n}")), "invalid_token", 401)
    assert certs.count == 1  # within the minimum refresh interval of the first fetch


@pytest.mark.parametrize("status", [404, 500, 503])
def test_a_failing_certs_endpoint_is_a_503_not_a_rejection_of_the_sender(status):
    with fx.certs_server(TRUSTED, status=status) as state:
        verifier = PubSubPushVerifier(fx.AUDIENCE, fx.SERVICE_ACCOUNT, state.url)
        assert_rejected(verifier, fx.bearer(fx.mint_token()), "certs_unavailable", 503)


def test_an_unreachable_certs_endpoint_is_a_503():
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    verifier = PubSubPushVerifier(fx.AUDIENCE, fx.SERVICE_ACCOUNT, f"http://127.0.0.1:{port}/certs")
    assert_rejected(verifier, fx.bearer(fx.mint_token()), "certs_unavailable", 503)


def test_a_jwks_document_is_not_googles_v1_format():
    with fx.certs_server(TRUSTED) as state:
        state.document = {"keys": [{"kid": TRUSTED.kid, "kty": "RSA", "n": "AQAB", "e": "AQAB"}]}
        verifier = PubSubPushVerifier(fx.AUDIENCE, fx.SERVICE_ACCOUNT, state.url)
        assert_rejected(verifier, fx.bearer(fx.mint_token()), "certs_unavailable", 503)


# --------------------------------------------------------------------------- the cache policy (in memory)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def cache(request: fx.StaticCertsRequest, clock: Clock) -> CertsCache:
    return CertsCache("https://certs.test/v1/certs", request, clock)


def test_the_certs_are_reused_for_max_age_then_refetched():
    request, clock = fx.StaticCertsRequest(headers={"Cache-Control": "public, max-age=600"}), Clock()
    certs = cache(request, clock)

    certs.certs(TRUSTED.kid)
    clock.now += 599
    certs.certs(TRUSTED.kid)
    assert len(request.calls) == 1

    clock.now += 2
    certs.certs(TRUSTED.kid)
    assert request.calls == ["https://certs.test/v1/certs"] * 2


def test_the_age_header_shortens_the_lifetime():
    request, clock = fx.StaticCertsRequest(headers={"Cache-Control": "max-age=600", "Age": "500"}), Clock()
    certs = cache(request, clock)
    certs.certs()
    clock.now += 101
    certs.certs()
    assert len(request.calls) == 2


def test_without_max_age_a_default_lifetime_applies():
    request, clock = fx.StaticCertsRequest(headers={}), Clock()
    certs = cache(request, clock)
    certs.certs()
    clock.now += CERTS_DEFAULT_TTL - 1
    certs.certs()
    assert len(request.calls) == 1
    clock.now += 2
    certs.certs()
    assert len(request.calls) == 2


def test_no_cache_means_every_use_refetches():
    request, clock = fx.StaticCertsRequest(headers={"Cache-Control": "no-cache"}), Clock()
    certs = cache(request, clock)
    certs.certs()
    certs.certs()
    assert len(request.calls) == 2


def test_stale_certs_stay_in_use_while_the_endpoint_fails_and_it_is_retried_later():
    request, clock = fx.StaticCertsRequest(headers={"Cache-Control": "max-age=60"}), Clock()
    certs = cache(request, clock)
    first = certs.certs(TRUSTED.kid)

    clock.now += 61
    request.fail = True
    assert certs.certs(TRUSTED.kid) == first  # stale, but Google's keys are long-lived
    assert certs.certs(TRUSTED.kid) == first
    assert len(request.calls) == 2  # not one attempt per push

    clock.now += 11
    request.fail = False
    certs.certs(TRUSTED.kid)
    assert len(request.calls) == 3


def test_certs_a_day_past_their_max_age_are_dropped_when_the_endpoint_still_fails():
    request, clock = fx.StaticCertsRequest(headers={"Cache-Control": "max-age=60"}), Clock()
    certs = cache(request, clock)
    certs.certs()
    request.fail = True
    clock.now += 60 + CERTS_MAX_STALE - 1
    certs.certs()
    clock.now += 20
    with pytest.raises(CertsUnavailable):
        certs.certs()


def test_with_no_certs_yet_a_failure_is_unavailable():
    certs = cache(fx.StaticCertsRequest(fail=True), Clock())
    with pytest.raises(CertsUnavailable):
        certs.certs()


@pytest.mark.parametrize("document", [{}, {"keys": []}, {"kid": 5}, {"kid": "not a certificate"}, ["x"]])
def test_a_document_that_is_not_v1_certs_is_unavailable(document):
    certs = cache(fx.StaticCertsRequest(document=document), Clock())
    with pytest.raises(CertsUnavailable):
        certs.certs()


def test_an_unknown_kid_refetches_at_most_once_a_minute():
    request, clock = fx.StaticCertsRequest(), Clock()
    certs = cache(request, clock)
    certs.certs(TRUSTED.kid)
    certs.certs("unknown")
    clock.now += 59
    certs.certs("unknown")
    assert len(request.calls) == 1
    clock.now += 2
    certs.certs("unknown")
    assert len(request.calls) == 2


# --------------------------------------------------------------------------- configuration


def test_the_verifier_is_built_from_the_contracts_variables(certs):
    settings = Settings.from_env(
        {
            "GOOGLE_PACKAGE_NAME": fx.PACKAGE,
            "GOOGLE_PUBSUB_AUDIENCE": fx.AUDIENCE,
            "GOOGLE_PUBSUB_SERVICE_ACCOUNT": fx.SERVICE_ACCOUNT,
            "GOOGLE_OIDC_CERTS_URL": certs.url + "/",
        }
    )
    verifier = PubSubPushVerifier.from_settings(settings)

    verifier.verify(fx.bearer(fx.mint_token()))
    assert (settings.google_package_name, verifier.certs_cache.url) == (fx.PACKAGE, certs.url)


def test_googles_certs_url_is_the_default():
    env = {"GOOGLE_PUBSUB_AUDIENCE": fx.AUDIENCE, "GOOGLE_PUBSUB_SERVICE_ACCOUNT": fx.SERVICE_ACCOUNT}
    settings = Settings.from_env(env)
    assert PubSubPushVerifier.from_settings(settings).certs_cache.url == "https://www.googleapis.com/oauth2/v1/certs"


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"GOOGLE_PUBSUB_SERVICE_ACCOUNT": fx.SERVICE_ACCOUNT}, "GOOGLE_PUBSUB_AUDIENCE"),
        ({"GOOGLE_PUBSUB_AUDIENCE": fx.AUDIENCE}, "GOOGLE_PUBSUB_SERVICE_ACCOUNT"),
    ],
)
def test_without_audience_or_service_account_there_is_no_verifier(env, named):
    with pytest.raises(ConfigurationError, match=named):
        PubSubPushVerifier.from_settings(Settings.from_env(env))


def test_the_certs_document_is_googles_v1_shape():
    document = json.loads(json.dumps(fx.certs_document(TRUSTED, ROGUE)))
    assert set(document) == {TRUSTED.kid, ROGUE.kid}
    assert all(pem.startswith("-----BEGIN CERTIFICATE-----") for pem in document.values())
