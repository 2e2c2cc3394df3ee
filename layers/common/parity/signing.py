"""Signed entitlements: the ES256 key that signs `signedEntitlements`, and the JWKS apps verify it with.

A key ring is PEM text holding one or more EC P-256 private keys (PKCS8): the first signs, every one is
published in the JWKS (a rotation keeps the previous key there while answers signed with it may still be
cached by apps). Each key's `kid` is its RFC 7638 JWK thumbprint, so the same key has the same id
wherever it is loaded and nothing but the key has to be stored.

Signing is ECDSA P-256 over SHA-256 with `cryptography` (no JWT library: the token is three base64url
parts), about 25 µs a signature. The key is loaded once per container (`bootstrap.entitlement_signer`).
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from .domain.errors import ConfigurationError

TOKEN_TYPE = "JWT"  # the header's `typ`: the payload is a JWT claims set (sub, iat, exp)
_PEM_BLOCK = re.compile(rb"-----BEGIN ([A-Z ]+)-----.+?-----END \1-----", re.DOTALL)
_ECDSA = ec.ECDSA(hashes.SHA256())
# RFC 6979 signatures (the same bytes every time): only for documents that must not change between builds.
_DETERMINISTIC = ec.ECDSA(hashes.SHA256(), deterministic_signing=True)


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _compact_json(document: Any) -> bytes:
    return json.dumps(document, separators=(",", ":"), sort_keys=True).encode("utf-8")


def public_jwk(public_key: ec.EllipticCurvePublicKey) -> dict[str, str]:
    """The key's JWK members (RFC 7518 §6.2.1), without `kid`."""
    numbers = public_key.public_numbers()
    return {
        "kty": "EC",
        "crv": "P-256",
        "x": b64url(numbers.x.to_bytes(32, "big")),
        "y": b64url(numbers.y.to_bytes(32, "big")),
    }


def thumbprint(jwk: Mapping[str, str]) -> str:
    """RFC 7638: SHA-256 of the required members in lexicographic order, no whitespace, base64url."""
    required = {name: jwk[name] for name in ("crv", "kty", "x", "y")}
    return b64url(hashlib.sha256(_compact_json(required)).digest())


@dataclass(frozen=True)
class SigningKey:
    """One P-256 key and its JWK (with `kid`, `alg`, `use`)."""

    private_key: ec.EllipticCurvePrivateKey = field(repr=False)
    jwk: Mapping[str, str]

    @classmethod
    def of(cls, private_key: ec.EllipticCurvePrivateKey) -> SigningKey:
        members = public_jwk(private_key.public_key())
        return cls(private_key, {**members, "kid": thumbprint(members), "alg": "ES256", "use": "sig"})

    @property
    def kid(self) -> str:
        return self.jwk["kid"]


def load_key_ring(pem: str | bytes, what: str) -> tuple[SigningKey, ...]:
    """Every private key in `pem` (one or more PEM blocks), in order; `what` names the source in errors."""
    data = pem.encode("utf-8") if isinstance(pem, str) else pem
    keys = []
    for block in _PEM_BLOCK.finditer(data):
        if not block.group(1).endswith(b"PRIVATE KEY"):
            continue
        try:
            key = serialization.load_pem_private_key(block.group(0), password=None)
        except (ValueError, TypeError) as error:
            raise ConfigurationError(f"{what} holds a private key that cannot be read: {error}") from None
        if not isinstance(key, ec.EllipticCurvePrivateKey) or not isinstance(key.curve, ec.SECP256R1):
            raise ConfigurationError(f"{what} must hold EC P-256 private keys (ES256)")
        keys.append(SigningKey.of(key))
    if not keys:
        raise ConfigurationError(f"{what} holds no PEM private key (an EC P-256 key in PKCS8, for ES256)")
    return tuple(keys)


def generate_pem() -> bytes:
    """A new P-256 private key, PKCS8 PEM (the local stack's key when none is configured)."""
    key = ec.generate_private_key(ec.SECP256R1())
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())


class EntitlementSigner:
    """Signs entitlement payloads with the first key of its ring and publishes every key's JWK."""

    def __init__(self, keys: Sequence[SigningKey], deterministic: bool = False) -> None:
        if not keys:
            raise ConfigurationError("no entitlement signing key")
        unique: dict[str, SigningKey] = {}
        for key in keys:
            unique.setdefault(key.kid, key)
        self._keys = tuple(unique.values())
        self._algorithm = _DETERMINISTIC if deterministic else _ECDSA
        header = {"alg": "ES256", "kid": self._keys[0].kid, "typ": TOKEN_TYPE}
        self._header = b64url(_compact_json(header))

    @classmethod
    def from_pem(cls, *rings: str | bytes | None, what: str = "ENTITLEMENT_SIGNING_KEY_FILE") -> EntitlementSigner:
        """The first ring's first key signs; the rest (a previous key) are published only."""
        keys: list[SigningKey] = []
        for ring in rings:
            if ring:
                keys += load_key_ring(ring, what)
        return cls(keys)

    @property
    def kid(self) -> str:
        return self._keys[0].kid

    def sign(self, claims: Mapping[str, Any]) -> str:
        """`claims` as a compact JWS (ES256; header `alg`, `kid`, `typ`)."""
        signing_input = f"{self._header}.{b64url(_compact_json(claims))}"
        der = self._keys[0].private_key.sign(signing_input.encode("ascii"), self._algorithm)
        r, s = decode_dss_signature(der)
        return f"{signing_input}.{b64url(r.to_bytes(32, 'big') + s.to_bytes(32, 'big'))}"

    def jwks(self) -> dict[str, list[dict[str, str]]]:
        """`GET /.well-known/jwks.json`: the signing key first, then the ones still published."""
        return {"keys": [dict(key.jwk) for key in self._keys]}


def jwks_of(signers: Iterable[EntitlementSigner]) -> dict[str, list[dict[str, str]]]:
    """One JWKS of several signers' keys (the current and the previous version of a secret), deduplicated."""
    seen: dict[str, dict[str, str]] = {}
    for signer in signers:
        for key in signer.jwks()["keys"]:
            seen.setdefault(key["kid"], key)
    return {"keys": list(seen.values())}
