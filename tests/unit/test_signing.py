"""Signed entitlements: the ES256 token, the key ring, the JWKS, and where the key comes from."""

from __future__ import annotations

import base64
import hashlib
import json

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from parity.adapters.signing_keys import JWKS_REFRESH_SECONDS, PublishedKeys, published_keys, signer
from parity.domain.errors import ConfigurationError
from parity.settings import Settings, SigningSettings
from parity.signing import EntitlementSigner, generate_pem, jwks_of, load_key_ring
from tests.support.signing import verify, write_key

CLAIMS = {"sub": "u_1", "iat": 1_700_000_000, "exp": 4_000_000_000, "entitlements": {"pro": {"active": True}}}


def _pem(key) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())


def test_a_token_is_a_compact_es256_jws_that_an_independent_library_verifies():
    signer = EntitlementSigner.from_pem(generate_pem())
    token = signer.sign(CLAIMS)
    header = json.loads(base64.urlsafe_b64decode(token.split(".")[0] + "=="))
    assert header == {"alg": "ES256", "kid": signer.kid, "typ": "JWT"}
    assert verify(token, signer.jwks()) == CLAIMS


def test_a_tampered_token_does_not_verify():
    signer = EntitlementSigner.from_pem(generate_pem())
    head, payload, signature = signer.sign(CLAIMS).split(".")
    forged = base64.urlsafe_b64encode(json.dumps({**CLAIMS, "sub": "u_2"}).encode()).rstrip(b"=").decode()
    with pytest.raises(Exception, match="Signature verification failed"):
        verify(f"{head}.{forged}.{signature}", signer.jwks())


def test_the_kid_is_the_rfc_7638_thumbprint_of_the_public_key():
    signer = EntitlementSigner.from_pem(generate_pem())
    (jwk,) = signer.jwks()["keys"]
    canonical = f'{{"crv":"P-256","kty":"EC","x":"{jwk["x"]}","y":"{jwk["y"]}"}}'.encode()
    expected = base64.urlsafe_b64encode(hashlib.sha256(canonical).digest()).rstrip(b"=").decode()
    assert jwk == {"kty": "EC", "crv": "P-256", "x": jwk["x"], "y": jwk["y"], "kid": expected, "alg": "ES256", "use": "sig"}
    assert EntitlementSigner.from_pem(signer_pem := generate_pem()).kid == EntitlementSigner.from_pem(signer_pem).kid


def test_a_key_ring_signs_with_its_first_key_and_publishes_every_key():
    # GIVEN the new key first, the previous one after it (a rotation)
    previous, current = generate_pem(), generate_pem()
    old_token = EntitlementSigner.from_pem(previous).sign(CLAIMS)
    ring = EntitlementSigner.from_pem(current + b"\n" + previous)
    # THEN new tokens carry the new kid, and the JWKS verifies both the new and the old ones
    jwks = ring.jwks()
    assert [k["kid"] for k in jwks["keys"]] == [ring.kid, EntitlementSigner.from_pem(previous).kid]
    assert verify(ring.sign(CLAIMS), jwks) == verify(old_token, jwks) == CLAIMS


def test_the_jwks_of_several_versions_lists_each_key_once():
    a, b = EntitlementSigner.from_pem(generate_pem()), EntitlementSigner.from_pem(generate_pem())
    assert [k["kid"] for k in jwks_of([a, b, a])["keys"]] == [a.kid, b.kid]


def test_deterministic_signing_gives_the_same_token_twice():
    pem = generate_pem()
    fixed = EntitlementSigner(load_key_ring(pem, "test"), deterministic=True)
    assert fixed.sign(CLAIMS) == fixed.sign(CLAIMS)
    assert verify(fixed.sign(CLAIMS), fixed.jwks()) == CLAIMS


@pytest.mark.parametrize(
    "pem, message",
    [
        (b"", "holds no PEM private key"),
        (b"not a key at all", "holds no PEM private key"),
        (b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n", "cannot be read"),
        (_pem(ec.generate_private_key(ec.SECP384R1())), "EC P-256"),
        (_pem(rsa.generate_private_key(public_exponent=65537, key_size=2048)), "EC P-256"),
    ],
)
def test_a_key_that_cannot_sign_es256_fails_naming_its_source(pem, message):
    with pytest.raises(ConfigurationError, match=f"ENTITLEMENT_SIGNING_KEY_FILE.*{message}"):
        EntitlementSigner.from_pem(pem or b"x")


def test_the_key_file_is_read_once_and_a_missing_one_names_the_variable(tmp_path):
    path = write_key(tmp_path)
    settings = Settings.from_env({"ENTITLEMENT_SIGNING_KEY_FILE": str(path)}).signing
    assert signer(settings).kid == EntitlementSigner.from_pem(path.read_bytes()).kid
    with pytest.raises(ConfigurationError, match="ENTITLEMENT_SIGNING_KEY_FILE is not set"):
        signer(SigningSettings(None, None))
    with pytest.raises(ConfigurationError, match="cannot be read"):
        signer(SigningSettings(str(tmp_path / "missing.pem"), None))


def test_the_published_keys_are_read_again_after_a_while(tmp_path):
    reads, now = [], [0.0]
    keys = PublishedKeys(lambda: reads.append(1) or {"keys": [len(reads)]}, clock=lambda: now[0])
    assert keys.jwks() == keys.jwks() == {"keys": [1]}
    now[0] += JWKS_REFRESH_SECONDS
    assert keys.jwks() == {"keys": [2]}
    file_keys = published_keys(SigningSettings(str(write_key(tmp_path)), None))
    assert len(file_keys.jwks()["keys"]) == 1
