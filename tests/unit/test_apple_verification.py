"""Verification of Apple's signed data (`parity.webhooks.apple`) with a certificate chain generated at
test time: what verifies, every way a forgery is refused (with its code), the chain cache, trust-anchor
loading, and the APPLE_* settings."""

from __future__ import annotations

import json
import runpy
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from parity.settings import ConfigurationError, Settings
from parity.webhooks import apple
from parity.webhooks.apple import (
    APPLE_ROOT_CA_G3_SHA256,
    RejectedSignedData,
    SignedDataVerifier,
    check_root_fingerprint,
    fingerprint,
    load_trust_anchors,
)
from tests.support import apple as fx

ROOT = Path(__file__).resolve().parents[2]
signer = fx.AppleSigner()  # Production, the default chain


def verifier(chain: fx.Chain | None = None, environment: str = "Production", **kwargs) -> SignedDataVerifier:
    anchors = kwargs.pop("anchors", None) or [(chain or fx.default_chain()).root]
    return SignedDataVerifier(
        anchors,
        bundle_id=kwargs.pop("bundle_id", fx.BUNDLE_ID),
        environment=environment,
        app_apple_id=kwargs.pop("app_apple_id", fx.APP_APPLE_ID),
        **kwargs,
    )


def rejected(verify, token) -> str:
    with pytest.raises(RejectedSignedData) as caught:
        verify(token)
    return caught.value.code


# --------------------------------------------------------------------------- accepted


def test_a_notification_and_the_items_inside_it_are_verified_and_decoded():
    # GIVEN a SUBSCRIBED notification carrying a signed transaction and renewal info
    transaction, renewal = signer.transaction(), signer.renewal_info()
    signed = signer.signed_notification("SUBSCRIBED", "INITIAL_BUY", transaction=transaction, renewal_info=renewal)

    # WHEN it is verified
    verified = verifier().verify_and_decode_notification(signed)

    # THEN the payload and both nested items come back decoded
    assert (verified.notification_type, verified.subtype) == ("SUBSCRIBED", "INITIAL_BUY")
    assert verified.notification_uuid == fx.decode_unverified(signed)["notificationUUID"]
    assert verified.transaction == transaction
    assert verified.renewal == renewal
    assert verified.app_transaction is None
    assert verified.to_document() == {
        "notification": verified.payload,
        "transaction": transaction,
        "renewal": renewal,
        "app_transaction": None,
    }


def test_the_webhook_body_is_read_as_signed_payload():
    verified = verifier().verify_and_decode_notification_body(
        signer.notification_body("DID_RENEW", None, transaction=signer.transaction())
    )
    assert verified.notification_type == "DID_RENEW" and verified.subtype is None
    assert verified.transaction["bundleId"] == fx.BUNDLE_ID


def test_a_storekit_2_signed_transaction_is_verified_and_decoded():
    transaction = signer.transaction(appAccountToken="0b5c7a8e-0000-4000-8000-000000000001")
    assert verifier().verify_and_decode_signed_transaction(signer.sign(transaction)) == transaction


def test_a_test_notification_without_transaction_verifies():
    verified = verifier().verify_and_decode_notification(signer.signed_notification("TEST", None))
    assert verified.notification_type == "TEST" and verified.transaction is None and verified.renewal is None


def test_a_summary_notification_is_checked_against_its_summary():
    summary = {
        "environment": "Production",
        "appAppleId": fx.APP_APPLE_ID,
        "bundleId": fx.BUNDLE_ID,
        "productId": "p",
        "requestIdentifier": "r",
    }
    payload = {
        "notificationType": "RENEWAL_EXTENSION",
        "subtype": "SUMMARY",
        "notificationUUID": "u",
        "summary": summary,
        "signedDate": fx.now_ms(),
    }
    assert verifier().verify_and_decode_notification(signer.sign(payload)).payload["summary"] == summary
    with pytest.raises(RejectedSignedData, match="another app"):
        verifier().verify_and_decode_notification(
            signer.sign({**payload, "summary": {**summary, "bundleId": "com.other"}})
        )


def test_sandbox_does_not_require_the_app_apple_id():
    sandbox = signer.with_(environment="Sandbox", app_apple_id=None)
    verified = verifier(environment="Sandbox", app_apple_id=None).verify_and_decode_notification(
        sandbox.signed_notification(transaction=sandbox.transaction())
    )
    assert verified.transaction["environment"] == "Sandbox"


def test_data_signed_while_the_leaf_was_valid_verifies_after_the_leaf_expired():
    # GIVEN a leaf that expired yesterday, and a transaction it signed last week (signedDate)
    now = datetime.now(timezone.utc)
    chain = fx.make_chain(
        root=fx.default_chain(), intermediate=fx.default_chain(), leaf_not_after=now - timedelta(days=1)
    )
    week_ago = fx.now_ms() - 7 * fx.DAY_MS
    # THEN it verifies, as with Apple's library: validity is judged at signedDate
    token = fx.sign(signer.transaction(signedDate=week_ago), chain)
    assert verifier().verify_and_decode_signed_transaction(token)["signedDate"] == week_ago


# --------------------------------------------------------------------------- refused: the chain


def test_a_chain_to_another_root_is_refused():
    attacker = fx.AppleSigner(chain=fx.make_chain())  # well-formed, Apple's OIDs, but the attacker's root
    assert rejected(verifier().verify_and_decode_notification, attacker.signed_notification()) == "untrusted_root"


def test_an_impostor_intermediate_under_the_trusted_root_name_is_refused():
    chain = fx.make_chain(root=fx.default_chain(), impostor_intermediate=True)
    assert (
        rejected(verifier().verify_and_decode_signed_transaction, fx.sign(signer.transaction(), chain))
        == "invalid_certificate_chain"
    )


@pytest.mark.parametrize("missing", ["leaf_oid", "intermediate_oid"])
def test_a_chain_without_apples_marker_oid_is_refused(missing):
    chain = fx.make_chain(root=fx.default_chain(), **{missing: False})
    code = rejected(verifier().verify_and_decode_signed_transaction, fx.sign(signer.transaction(), chain))
    assert code == "missing_apple_extension"


def test_a_leaf_that_is_a_ca_is_refused():
    chain = fx.make_chain(root=fx.default_chain(), intermediate=fx.default_chain(), leaf_is_ca=True)
    assert (
        rejected(verifier().verify_and_decode_signed_transaction, fx.sign(signer.transaction(), chain))
        == "invalid_certificate_chain"
    )


def test_a_leaf_key_that_is_not_p256_is_refused():
    chain = fx.make_chain(root=fx.default_chain(), intermediate=fx.default_chain(), leaf_curve=ec.SECP384R1())
    # ES256 needs a P-256 leaf: the chain is refused before any signature is looked at
    token = fx.sign(signer.transaction(), x5c=chain.x5c())
    assert rejected(verifier().verify_and_decode_signed_transaction, token) == "invalid_certificate_chain"


def test_an_expired_leaf_is_refused():
    now = datetime.now(timezone.utc)
    expired = fx.make_chain(
        root=fx.default_chain(),
        intermediate=fx.default_chain(),
        leaf_not_before=now - timedelta(days=400),
        leaf_not_after=now - timedelta(days=1),
    )
    token = fx.sign(signer.transaction(), expired)  # signedDate: now
    assert rejected(verifier().verify_and_decode_signed_transaction, token) == "certificate_not_valid"


def test_a_leaf_not_yet_valid_is_refused():
    now = datetime.now(timezone.utc)
    future = fx.make_chain(
        root=fx.default_chain(), intermediate=fx.default_chain(), leaf_not_before=now + timedelta(days=1)
    )
    assert (
        rejected(verifier().verify_and_decode_signed_transaction, fx.sign(signer.transaction(), future))
        == "certificate_not_valid"
    )


def test_without_signed_date_the_certificates_are_judged_now():
    now = datetime.now(timezone.utc)
    expired = fx.make_chain(
        root=fx.default_chain(), intermediate=fx.default_chain(), leaf_not_after=now - timedelta(days=1)
    )
    payload = {k: v for k, v in signer.transaction().items() if k != "signedDate"}
    assert (
        rejected(verifier().verify_and_decode_signed_transaction, fx.sign(payload, expired)) == "certificate_not_valid"
    )


def test_a_missing_x5c_is_refused():
    assert (
        rejected(verifier().verify_and_decode_signed_transaction, fx.sign_without_x5c(signer.transaction()))
        == "missing_certificate_chain"
    )


@pytest.mark.parametrize(
    "x5c",
    [
        pytest.param(lambda c: c[:2], id="leaf and intermediate only"),
        pytest.param(lambda c: c + c[2:], id="four certificates"),
        pytest.param(lambda c: [c[0], c[1], "not base64!"], id="not base64"),
        pytest.param(lambda c: [c[0], c[1], "AAAA"], id="not DER"),
        pytest.param(lambda c: "".join(c), id="not a list"),
        pytest.param(lambda c: [c[1], c[0], c[2]], id="out of order"),
    ],
)
def test_a_malformed_x5c_is_refused(x5c):
    token = fx.sign(signer.transaction(), x5c=x5c(fx.default_chain().x5c()))
    assert rejected(verifier().verify_and_decode_signed_transaction, token) == "invalid_certificate_chain"


# --------------------------------------------------------------------------- refused: the JWS


@pytest.mark.parametrize(
    "forge",
    [
        pytest.param(fx.forge_alg_none, id="none"),
        pytest.param(fx.forge_hs256, id="HS256 keyed with the leaf's public key"),
        pytest.param(lambda p: fx.with_header(fx.sign(p), alg="ES384"), id="ES384 claimed"),
        pytest.param(lambda p: fx.with_header(fx.sign(p), alg="es256"), id="es256 in lower case"),
    ],
)
def test_any_algorithm_but_es256_is_refused(forge):
    assert (
        rejected(verifier().verify_and_decode_signed_transaction, forge(signer.transaction()))
        == "unsupported_algorithm"
    )


def test_an_rs256_token_is_refused():
    import jwt
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    token = jwt.encode(signer.transaction(), key, algorithm="RS256", headers={"x5c": fx.default_chain().x5c()})
    assert rejected(verifier().verify_and_decode_signed_transaction, token) == "unsupported_algorithm"


def test_a_tampered_payload_is_refused():
    token = fx.tamper_payload(signer.signed_transaction(), expiresDate=fx.now_ms() + 3650 * fx.DAY_MS)
    assert rejected(verifier().verify_and_decode_signed_transaction, token) == "invalid_signature"


def test_a_tampered_signature_is_refused():
    assert (
        rejected(verifier().verify_and_decode_signed_transaction, fx.tamper_signature(signer.signed_transaction()))
        == "invalid_signature"
    )


def test_a_signature_of_the_wrong_length_is_refused():
    header, payload, _ = signer.signed_transaction().split(".")
    assert (
        rejected(verifier().verify_and_decode_signed_transaction, f"{header}.{payload}.{fx.b64url(b'x' * 70)}")
        == "invalid_signature"
    )


def test_a_critical_header_parameter_is_refused():
    assert (
        rejected(verifier().verify_and_decode_signed_transaction, fx.sign(signer.transaction(), crit=["exp"]))
        == "malformed_jws"
    )


@pytest.mark.parametrize(
    "token",
    ["", "abc", "a.b", "a.b.c.d", "a.b.c", "@@@.e30.AAAA", "W10.e30.AAAA", 42, None],
    ids=[
        "empty",
        "one part",
        "two parts",
        "four parts",
        "not json",
        "not base64url",
        "header not an object",
        "a number",
        "null",
    ],
)
def test_something_that_is_not_a_jws_is_refused(token):
    assert rejected(verifier().verify_and_decode_signed_transaction, token) == "malformed_jws"


def test_a_jws_stripped_of_its_signature_is_refused():
    unsigned = signer.signed_transaction().rsplit(".", 1)[0] + "."
    assert rejected(verifier().verify_and_decode_signed_transaction, unsigned) == "malformed_jws"


@pytest.mark.parametrize(
    "body", [b"not json", b"\xff\xfe", b"[]", b'{"signedPayload": 1}', b"{}", b'{"payload": "a.b.c"}']
)
def test_a_webhook_body_that_is_not_a_signed_payload_is_refused(body):
    assert rejected(verifier().verify_and_decode_notification_body, body) == "malformed_body"


def test_a_webhook_body_whose_signed_payload_is_not_a_jws_is_refused():
    assert (
        rejected(verifier().verify_and_decode_notification_body, json.dumps({"signedPayload": "hello"}).encode())
        == "malformed_jws"
    )


def test_a_signed_date_that_is_not_a_number_is_refused():
    assert (
        rejected(verifier().verify_and_decode_signed_transaction, signer.signed_transaction(signedDate="yesterday"))
        == "malformed_jws"
    )


# --------------------------------------------------------------------------- refused: the app and environment


def test_a_notification_for_another_bundle_is_refused():
    other = signer.with_(bundle_id="com.example.other")
    assert rejected(verifier().verify_and_decode_notification, other.signed_notification()) == "wrong_bundle_id"


def test_a_transaction_for_another_bundle_is_refused():
    assert (
        rejected(
            verifier().verify_and_decode_signed_transaction, signer.signed_transaction(bundleId="com.example.other")
        )
        == "wrong_bundle_id"
    )


def test_a_sandbox_notification_is_accepted_in_production():
    # GIVEN App Review's purchase: Sandbox-signed, with no app Apple id (the app is not published yet)
    sandbox = signer.with_(environment="Sandbox", app_apple_id=None)
    signed = sandbox.signed_notification(transaction=sandbox.transaction(), renewal_info=sandbox.renewal_info())
    # WHEN a Production stack verifies it THEN it is accepted, its items too
    notification = verifier().verify_and_decode_notification(signed)
    assert (notification.payload["data"]["environment"], notification.transaction["environment"]) == ("Sandbox", "Sandbox")
    assert verifier().verify_and_decode_signed_transaction(sandbox.signed_transaction())["environment"] == "Sandbox"


def test_a_sandbox_notification_of_another_app_is_still_refused_in_production():
    other = signer.with_(environment="Sandbox", bundle_id="com.example.other")
    assert rejected(verifier().verify_and_decode_notification, other.signed_notification()) == "wrong_bundle_id"


@pytest.mark.parametrize("environment", ["Xcode", "LocalTesting", None])
def test_a_transaction_from_another_environment_is_refused(environment):
    token = signer.signed_transaction(environment=environment)
    assert rejected(verifier().verify_and_decode_signed_transaction, token) == "wrong_environment"


def test_a_production_notification_is_refused_in_sandbox():
    sandbox_verifier = verifier(environment="Sandbox")
    assert (
        rejected(sandbox_verifier.verify_and_decode_notification, signer.signed_notification()) == "wrong_environment"
    )
    assert (
        rejected(sandbox_verifier.verify_and_decode_signed_transaction, signer.signed_transaction())
        == "wrong_environment"
    )


# --------------------------------------------------------------------------- several apps

LITE, LITE_APPLE_ID = "com.example.lite", 555000111


def two_apps(environment: str = "Production") -> SignedDataVerifier:
    return verifier(
        environment=environment, bundle_id=[fx.BUNDLE_ID, LITE], app_apple_id=[fx.APP_APPLE_ID, LITE_APPLE_ID]
    )


def test_each_configured_app_is_accepted_with_its_own_app_apple_id():
    lite = signer.with_(bundle_id=LITE, app_apple_id=LITE_APPLE_ID)
    for app in (signer, lite):
        notification = two_apps().verify_and_decode_notification(
            app.signed_notification(transaction=app.transaction(), renewal_info=app.renewal_info())
        )
        assert notification.transaction["bundleId"] == app.bundle_id
    # the app Apple ids pair with their bundle ids: the first app's id does not pass for the second
    crossed = signer.with_(bundle_id=LITE)
    assert rejected(two_apps().verify_and_decode_notification, crossed.signed_notification()) == "wrong_app_apple_id"


def test_an_app_that_is_not_configured_is_refused_among_several():
    other = signer.with_(bundle_id="com.example.other")
    assert rejected(two_apps().verify_and_decode_notification, other.signed_notification()) == "wrong_bundle_id"
    token = signer.signed_transaction(bundleId="com.example.other")
    assert rejected(two_apps().verify_and_decode_signed_transaction, token) == "wrong_bundle_id"


def test_several_apps_need_one_app_apple_id_each_in_production():
    with pytest.raises(ConfigurationError, match="APPLE_APP_APPLE_ID"):
        verifier(bundle_id=[fx.BUNDLE_ID, LITE], app_apple_id=[fx.APP_APPLE_ID])
    with pytest.raises(ConfigurationError, match="APPLE_APP_APPLE_ID"):
        verifier(bundle_id=[fx.BUNDLE_ID, LITE], app_apple_id=[fx.APP_APPLE_ID, None])
    assert verifier(environment="Sandbox", bundle_id=[fx.BUNDLE_ID, LITE], app_apple_id=None).apps.bundle_ids == (
        fx.BUNDLE_ID,
        LITE,
    )


def test_several_apps_are_parsed_from_comma_separated_lists():
    parsed = Settings.from_env(
        {
            "APPLE_BUNDLE_ID": "com.example.app, com.example.lite",
            "APPLE_APP_APPLE_ID": "1234,5678",
            "GOOGLE_PACKAGE_NAME": "com.example.android,com.example.lite",
            "APPLE_SANDBOX_API_BASE": "http://127.0.0.1:9/",
        }
    )
    assert parsed.apple.bundle_ids == ("com.example.app", "com.example.lite")
    assert parsed.apple.app_apple_ids == (1234, 5678)
    assert (parsed.apple.bundle_id, parsed.apple.app_apple_id) == ("com.example.app", 1234)
    assert parsed.apple.sandbox_api_base == "http://127.0.0.1:9"
    assert parsed.google.package_names == ("com.example.android", "com.example.lite")
    assert parsed.google.package_name == "com.example.android"
    verifier = SignedDataVerifier.from_settings(parsed)
    assert verifier.apps.app_apple_ids == {"com.example.app": 1234, "com.example.lite": 5678}
    with pytest.raises(ConfigurationError, match="same order"):
        Settings.from_env({"APPLE_BUNDLE_ID": "com.example.app,com.example.lite", "APPLE_APP_APPLE_ID": "1234"})


@pytest.mark.parametrize("app_apple_id", [987654321, None, str(fx.APP_APPLE_ID)])
def test_another_app_apple_id_is_refused_in_production(app_apple_id):
    other = signer.with_(app_apple_id=app_apple_id)
    assert rejected(verifier().verify_and_decode_notification, other.signed_notification()) == "wrong_app_apple_id"


def test_a_notification_naming_no_app_is_refused():
    payload = {"notificationType": "TEST", "notificationUUID": "u", "signedDate": fx.now_ms()}
    assert rejected(verifier().verify_and_decode_notification, signer.sign(payload)) == "wrong_bundle_id"


# --------------------------------------------------------------------------- nested items


def test_a_forged_transaction_inside_a_genuine_notification_is_refused():
    forged = fx.AppleSigner(chain=fx.make_chain()).signed_transaction()
    signed = signer.signed_notification(transaction=forged, renewal_info=signer.renewal_info())
    assert rejected(verifier().verify_and_decode_notification, signed) == "untrusted_root"


def test_a_forged_renewal_info_inside_a_genuine_notification_is_refused():
    forged = fx.tamper_payload(signer.signed_renewal_info(), autoRenewStatus=1, isInBillingRetryPeriod=False)
    signed = signer.signed_notification(transaction=signer.transaction(), renewal_info=forged)
    assert rejected(verifier().verify_and_decode_notification, signed) == "invalid_signature"


def test_a_nested_transaction_of_another_app_or_environment_is_refused():
    foreign = signer.transaction(bundleId="com.example.other")
    assert (
        rejected(verifier().verify_and_decode_notification, signer.signed_notification(transaction=foreign))
        == "wrong_bundle_id"
    )
    # Sandbox items are accepted by a Production stack, but never inside a Production notification
    sandbox_renewal = signer.renewal_info(environment="Sandbox")
    code = rejected(verifier().verify_and_decode_notification, signer.signed_notification(renewal_info=sandbox_renewal))
    assert code == "wrong_environment"


def test_a_nested_item_that_is_not_a_string_is_refused():
    signed = signer.signed_notification(data={"signedTransactionInfo": {"transactionId": "1"}})
    assert rejected(verifier().verify_and_decode_notification, signed) == "malformed_jws"


def test_a_signed_app_transaction_in_app_data_is_verified():
    app_transaction = {
        "bundleId": fx.BUNDLE_ID,
        "appAppleId": fx.APP_APPLE_ID,
        "receiptType": "Production",
        "signedDate": fx.now_ms(),
    }
    app_data = {
        "appAppleId": fx.APP_APPLE_ID,
        "bundleId": fx.BUNDLE_ID,
        "environment": "Production",
        "signedAppTransactionInfo": signer.sign(app_transaction),
    }
    payload = {
        "notificationType": "RESCIND_CONSENT",
        "notificationUUID": "u",
        "appData": app_data,
        "signedDate": fx.now_ms(),
    }
    assert verifier().verify_and_decode_notification(signer.sign(payload)).app_transaction == app_transaction


# --------------------------------------------------------------------------- the chain cache


def test_a_known_chain_is_not_validated_again_but_every_signature_is_checked():
    # GIVEN a verifier that has seen nothing yet
    v = verifier()
    assert v.chain_validations == 0

    # WHEN three items signed with the same chain are verified
    v.verify_and_decode_signed_transaction(signer.signed_transaction())
    v.verify_and_decode_signed_transaction(signer.signed_transaction())
    v.verify_and_decode_renewal_info(signer.signed_renewal_info())

    # THEN the chain was validated once
    assert v.chain_validations == 1
    # AND a tampered item over the cached chain is still refused
    assert (
        rejected(v.verify_and_decode_signed_transaction, fx.tamper_payload(signer.signed_transaction(), price=1))
        == "invalid_signature"
    )
    # AND so is data signed outside the leaf's validity, even with the chain cached
    ancient = fx.now_ms() - 2 * 365 * fx.DAY_MS  # the default leaf became valid a year ago
    assert (
        rejected(v.verify_and_decode_signed_transaction, signer.signed_transaction(signedDate=ancient))
        == "certificate_not_valid"
    )
    assert v.chain_validations == 1


def test_a_notification_with_nested_items_validates_its_chain_once():
    v = verifier()
    v.verify_and_decode_notification(
        signer.signed_notification(transaction=signer.transaction(), renewal_info=signer.renewal_info())
    )
    assert v.chain_validations == 1


def test_a_new_leaf_is_validated_and_refused_chains_are_not_cached():
    v = verifier()
    v.verify_and_decode_signed_transaction(signer.signed_transaction())
    rotated = fx.make_chain(root=fx.default_chain(), intermediate=fx.default_chain())
    v.verify_and_decode_signed_transaction(fx.sign(signer.transaction(), rotated))
    assert v.chain_validations == 2

    bad = fx.sign(signer.transaction(), fx.make_chain(root=fx.default_chain(), leaf_oid=False))
    for _ in range(2):
        assert rejected(v.verify_and_decode_signed_transaction, bad) == "missing_apple_extension"
    assert v.chain_validations == 2


def test_the_cache_is_bounded():
    v = verifier(cache_size=1)
    other = fx.make_chain(root=fx.default_chain(), intermediate=fx.default_chain())
    for chain in (fx.default_chain(), other, fx.default_chain()):
        v.verify_and_decode_signed_transaction(fx.sign(signer.transaction(), chain))
    assert v.chain_validations == 3


# --------------------------------------------------------------------------- trust anchors and configuration


@pytest.mark.parametrize("pem", [True, False], ids=["PEM", "DER"])
def test_roots_are_read_from_pem_or_der_files(tmp_path, pem):
    path = fx.default_chain().write_root(tmp_path, pem=pem)
    v = verifier(anchors=load_trust_anchors([str(path)]))
    assert v.verify_and_decode_signed_transaction(signer.signed_transaction())["bundleId"] == fx.BUNDLE_ID


def test_several_roots_may_be_trusted(tmp_path):
    other = fx.make_chain()
    settings = Settings.from_env(
        {
            "APPLE_ROOT_CERTS": f"{other.write_root(tmp_path)} , {fx.default_chain().write_root(tmp_path, pem=False)}",
            "APPLE_BUNDLE_ID": fx.BUNDLE_ID,
            "APPLE_APP_APPLE_ID": str(fx.APP_APPLE_ID),
        }
    )
    v = SignedDataVerifier.from_settings(settings)
    v.verify_and_decode_signed_transaction(signer.signed_transaction())
    v.verify_and_decode_signed_transaction(fx.AppleSigner(chain=other).signed_transaction())


def test_without_apple_root_certs_and_without_a_bundled_root_verification_fails_closed(tmp_path, monkeypatch):
    monkeypatch.setattr(apple, "BUNDLED_ROOT", tmp_path / "absent.cer")
    settings = Settings.from_env({"APPLE_BUNDLE_ID": fx.BUNDLE_ID, "APPLE_APP_APPLE_ID": "1"})
    with pytest.raises(ConfigurationError, match="APPLE_ROOT_CERTS is unset and the bundled Apple Root CA G3"):
        SignedDataVerifier.from_settings(settings)


def test_a_bundled_root_that_is_not_apples_is_refused(tmp_path, monkeypatch):
    impostor = tmp_path / "AppleRootCA-G3.cer"
    impostor.write_bytes(fx.default_chain().root_der())
    monkeypatch.setattr(apple, "BUNDLED_ROOT", impostor)
    with pytest.raises(ConfigurationError, match="not Apple Root CA G3"):
        load_trust_anchors()


def test_the_fingerprint_check_accepts_only_the_expected_fingerprint():
    der = fx.default_chain().root_der()
    check_root_fingerprint(der, expected=fingerprint(der))
    check_root_fingerprint(der, expected=fingerprint(der).lower())
    with pytest.raises(ConfigurationError):
        check_root_fingerprint(der)
    assert APPLE_ROOT_CA_G3_SHA256.startswith("63:34:3A:BF") and len(APPLE_ROOT_CA_G3_SHA256) == 95


@pytest.mark.parametrize(
    "content", [b"", b"not a certificate", b"-----BEGIN CERTIFICATE-----\nxx\n-----END CERTIFICATE-----\n"]
)
def test_an_unreadable_root_file_is_a_configuration_error(tmp_path, content):
    path = tmp_path / "root.pem"
    path.write_bytes(content)
    with pytest.raises(ConfigurationError, match="APPLE_ROOT_CERTS"):
        load_trust_anchors([str(path)])
    with pytest.raises(ConfigurationError, match="APPLE_ROOT_CERTS"):
        load_trust_anchors([str(tmp_path / "missing.pem")])


@pytest.mark.parametrize("environment", ["Xcode", "LocalTesting", "production", ""])
def test_environments_that_skip_signatures_cannot_be_configured(environment):
    with pytest.raises(ConfigurationError, match="Production or Sandbox"):
        verifier(environment=environment)


@pytest.mark.parametrize("environment", ["Xcode", "LocalTesting", "staging"])
def test_settings_refuse_apple_environments_other_than_production_and_sandbox(environment):
    with pytest.raises(ConfigurationError, match="APPLE_ENVIRONMENT"):
        Settings.from_env({"APPLE_ENVIRONMENT": environment})


def test_production_needs_the_app_apple_id_and_every_verifier_a_bundle_id():
    with pytest.raises(ConfigurationError, match="APPLE_APP_APPLE_ID"):
        verifier(app_apple_id=None)
    with pytest.raises(ConfigurationError, match="APPLE_BUNDLE_ID"):
        verifier(bundle_id="")
    with pytest.raises(ConfigurationError, match="root"):
        SignedDataVerifier([], fx.BUNDLE_ID, "Sandbox")


def test_apple_settings_are_parsed_from_the_environment():
    parsed = Settings.from_env(
        {
            "APPLE_BUNDLE_ID": "com.example.app",
            "APPLE_APP_APPLE_ID": "1234",
            "APPLE_ENVIRONMENT": "sandbox",
            "APPLE_ROOT_CERTS": "/a.pem,/b.cer",
            "APPLE_API_BASE": "http://127.0.0.1:9/",
            "APPLE_KEY_ID": "KEY123",
            "APPLE_ISSUER_ID": "issuer-uuid",
            "APPLE_PRIVATE_KEY_FILE": "/keys/AuthKey.p8",
        }
    )
    assert (parsed.apple.bundle_id, parsed.apple.app_apple_id, parsed.apple.environment) == (
        "com.example.app",
        1234,
        "Sandbox",
    )
    assert parsed.apple.root_certs == ("/a.pem", "/b.cer")
    assert parsed.apple.api_base == "http://127.0.0.1:9"
    assert (parsed.apple.key_id, parsed.apple.issuer_id, parsed.apple.private_key_file) == (
        "KEY123",
        "issuer-uuid",
        "/keys/AuthKey.p8",
    )
    defaults = Settings.from_env({})
    assert (defaults.apple.environment, defaults.apple.root_certs, defaults.apple.app_apple_id) == (
        "Production",
        (),
        None,
    )
    with pytest.raises(ConfigurationError, match="APPLE_APP_APPLE_ID"):
        Settings.from_env({"APPLE_APP_APPLE_ID": "com.example"})


# --------------------------------------------------------------------------- layers/common/check_apple_root.py


def _check_script():
    return runpy.run_path(str(ROOT / "layers" / "common" / "check_apple_root.py"))


def test_the_layer_ships_apples_root_and_trusts_it_without_configuration():
    script = _check_script()
    assert script["APPLE_ROOT_CA_G3_SHA256"] == APPLE_ROOT_CA_G3_SHA256
    assert script["check"](apple.BUNDLED_ROOT) == APPLE_ROOT_CA_G3_SHA256
    (anchor,) = load_trust_anchors()
    assert "Apple Root CA - G3" in anchor.subject.rfc4514_string()


def test_the_build_check_fails_on_a_missing_or_foreign_root(tmp_path):
    script = _check_script()
    with pytest.raises(SystemExit, match="missing"):
        script["check"](tmp_path / "absent.cer")
    impostor = tmp_path / "AppleRootCA-G3.cer"
    impostor.write_bytes(fx.default_chain().root_der())
    with pytest.raises(SystemExit, match="not Apple Root CA G3"):
        script["check"](impostor)
