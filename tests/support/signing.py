"""The entitlement signing key of the test tiers (made once per process, never stored) and an
independent check of `signedEntitlements`: PyJWT verifies what Parity signed with `cryptography` alone."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

import jwt
from jwt.algorithms import ECAlgorithm

from parity.signing import EntitlementSigner, generate_pem

KEY_FILE_ENV = "ENTITLEMENT_SIGNING_KEY_FILE"


@cache
def key_pem() -> bytes:
    return generate_pem()


SIGNER = EntitlementSigner.from_pem(key_pem())


def write_key(directory: Path, pem: bytes | None = None) -> Path:
    """A PEM key file for ENTITLEMENT_SIGNING_KEY_FILE (the test key unless `pem` is given)."""
    path = directory / "entitlement-signing-key.pem"
    path.write_bytes(pem or key_pem())
    return path


def verify(token: str, jwks: dict, check_exp: bool = True) -> dict:
    """The claims of `token` once PyJWT verified it (ES256) with the JWKS key its `kid` names
    (`check_exp` False: a token of a fixed past date)."""
    header = jwt.get_unverified_header(token)
    assert header["alg"] == "ES256" and header["typ"] == "JWT", header
    (key,) = [k for k in jwks["keys"] if k["kid"] == header["kid"]]
    public_key = ECAlgorithm.from_jwk(json.dumps(key))
    return jwt.decode(
        token, public_key, algorithms=["ES256"], options={"require": ["sub", "iat", "exp"], "verify_exp": check_exp}
    )
