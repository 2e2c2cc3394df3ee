"""Route authorization, as API Gateway does it on AWS.

- JWT routes: what the HTTP API's JWT authorizer checks: a bearer token signed (RS256 or ES256) by a
  key of the JWKS at AUTH_JWKS_URL (keys cached, refetched for an unknown `kid`), `exp` and `nbf`,
  `iss` equal to AUTH_ISSUER and `aud` (or `client_id`) among AUTH_AUDIENCE, when those are set.
- Admin routes (IAM on AWS): `Authorization: Bearer $ADMIN_TOKEN`.
- Demo configuration: a key generated at start signs user tokens (`POST /_demo/token`) and its JWKS
  is served by the stack itself.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
import logging
import time

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from local.resources import ACCOUNT
from parity.domain import limits

ALGORITHMS = ("RS256", "ES256")
MAX_TOKEN_CHARS = 16 * 1024  # far above any identity provider's token; larger ones are refused unread
log = logging.getLogger("local.auth")


class Unauthorized(Exception):
    """The request does not carry acceptable credentials (401); the message says why."""


def bearer_token(authorization: str | None) -> str:
    """The token of `Authorization: Bearer <token>` (API Gateway also accepts the bare token)."""
    value = (authorization or "").strip()
    scheme, _, rest = value.partition(" ")
    token = rest.strip() if scheme.lower() == "bearer" else value
    if not token:
        raise Unauthorized("A bearer token is required (Authorization: Bearer <JWT>).")
    return token


def check_segments(token: str) -> None:
    """The header and payload of a compact JWT, JSON objects within the contract's limits (PyJWT parses
    them with plain `json.loads`, which raises RecursionError on deep nesting); ValueError otherwise."""
    parts = token.split(".")
    if len(parts) != 3:
        raise ValueError("not a compact JWT")
    for part in parts[:2]:
        try:
            decoded = base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))
        except (binascii.Error, ValueError):
            raise ValueError("not base64url") from None
        if not isinstance(limits.loads(decoded), dict):
            raise ValueError("not a JSON object")


class JwtVerifier:
    def __init__(self, jwks_url: str, issuer: str | None, audiences: tuple[str, ...]) -> None:
        self._jwks = jwt.PyJWKClient(jwks_url, cache_keys=True, lifespan=300, timeout=5)
        self._issuer = issuer
        self._audiences = set(audiences)

    def claims(self, authorization: str | None) -> dict:
        """The verified claims of the request's token; raises Unauthorized."""
        token = bearer_token(authorization)
        if len(token) > MAX_TOKEN_CHARS:
            raise Unauthorized("The bearer token is too long.")
        try:
            check_segments(token)
            algorithm = jwt.get_unverified_header(token).get("alg")
        except (jwt.InvalidTokenError, ValueError):
            raise Unauthorized("The bearer token is not a JWT.") from None
        if algorithm not in ALGORITHMS:
            raise Unauthorized(f"The token must be signed with {' or '.join(ALGORITHMS)}.")
        try:
            key = self._jwks.get_signing_key_from_jwt(token)
        except jwt.PyJWKClientConnectionError as error:
            log.warning("JWKS at AUTH_JWKS_URL unreachable: %s", error)
            raise Unauthorized("The token's signing keys cannot be fetched.") from None
        except (jwt.PyJWKClientError, jwt.InvalidTokenError):
            raise Unauthorized("The token is not signed by a known key.") from None
        try:
            claims = jwt.decode(
                token,
                key,
                algorithms=[algorithm],
                issuer=self._issuer,
                options={"verify_aud": False, "require": ["exp"], "verify_iss": self._issuer is not None},
            )
        except (jwt.InvalidTokenError, jwt.PyJWKError, ValueError, TypeError) as error:
            raise Unauthorized(f"The token is not valid: {error}.") from None
        if self._audiences:
            audience = claims.get("aud")
            audiences = {audience} if isinstance(audience, str) else set(audience or ())
            if not audiences & self._audiences and claims.get("client_id") not in self._audiences:
                raise Unauthorized("The token is not issued for this API (aud).")
        return claims


# The IAM identity an admin route's function sees locally (on AWS: the SigV4 signer's).
LOCAL_OPERATOR = {
    "accessKey": "LOCALADMIN",
    "accountId": ACCOUNT,
    "callerId": "LOCALADMIN",
    "principalOrgId": None,
    "userArn": f"arn:aws:iam::{ACCOUNT}:user/parity-local-admin",
    "userId": "LOCALADMIN",
}


def check_admin(authorization: str | None, admin_token: str | None) -> dict:
    """The local stand-in for IAM: `Bearer $ADMIN_TOKEN`, compared in constant time. Without an
    ADMIN_TOKEN the admin routes are off. Returns the identity the function is given."""
    if not admin_token:
        raise Unauthorized("Admin routes are off: no ADMIN_TOKEN is configured.")
    if not hmac.compare_digest(bearer_token(authorization).encode(), admin_token.encode()):
        raise Unauthorized("The admin token is not valid.")
    return dict(LOCAL_OPERATOR)


class DemoKeys:
    """The demo configuration's identity provider: one RSA key, its JWKS, and user tokens."""

    KID = "parity-demo"

    def __init__(self, issuer: str, audience: str) -> None:
        self._key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self._issuer = issuer
        self._audience = audience

    def jwks(self) -> dict:
        jwk = json.loads(RSAAlgorithm.to_jwk(self._key.public_key()))
        return {"keys": [{**jwk, "kid": self.KID, "use": "sig", "alg": "RS256"}]}

    def token(self, sub: str, ttl: int = 3600) -> str:
        now = int(time.time())
        claims = {"sub": sub, "iss": self._issuer, "aud": self._audience, "iat": now, "exp": now + ttl}
        return jwt.encode(claims, self._key, algorithm="RS256", headers={"kid": self.KID})
