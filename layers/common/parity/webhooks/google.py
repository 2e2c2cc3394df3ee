"""Google Play Real-Time Developer Notifications, delivered by a Cloud Pub/Sub push subscription.

Authentication (`PubSubPushVerifier`): the push carries `Authorization: Bearer <OIDC JWT>` that Google
signs for the subscription's service account. It is verified as google-auth's
`google.oauth2.id_token.verify_token` does (`google.auth.jwt.decode` against the certificates at
`GOOGLE_OIDC_CERTS_URL`, Google's v1 format `{"<kid>": "<PEM certificate>"}`), with `cryptography` as
the App Store's signed data is — google-auth's JWT module imports asyncio through its credentials, about
70 M instructions (0.08 of the cold-start baseline) for an RS256 check — plus the checks Pub/Sub's
documentation asks for:

1. `alg` is RS256 (Google's only one; `none`, HS256 and anything else are refused before any key is
   looked at) and `kid` names a published certificate; the RS256 signature (PKCS#1 v1.5, SHA-256)
   verifies with its public key (without a `kid`, with one of the published keys).
2. `iat` and `exp` are numbers, `iat` is not in the future and `exp` not past (`CLOCK_SKEW_SECONDS` of
   tolerance, google-auth's checks).
3. `iss` is `accounts.google.com` or `https://accounts.google.com`; `aud` is `GOOGLE_PUBSUB_AUDIENCE`.
4. `email` is `GOOGLE_PUBSUB_SERVICE_ACCOUNT` and `email_verified` is true (else 403: a genuine Google
   token, but not from the sender this endpoint trusts).

The certificates are cached and refreshed by `google_certs.CertsCache`; when none can be had the push is
answered 503 `certs_unavailable` (our outage, not the sender's fault; Pub/Sub retries).

Parsing (`parse_push`): the push envelope `{"message": {"data": <base64 JSON>, "messageId", ...},
"subscription"}` → `PubSubPush`, whose `notification` is the decoded DeveloperNotification and whose
`message_id` is the idempotency key. Parsing uses the standard library only, so code that reads stored
pushes does not import `cryptography` (the verifier imports it when it is built).

Every refusal is a `RejectedPush`: a `RejectedWebhook` carrying the HTTP status to answer with.
"""

from __future__ import annotations

import base64
import binascii
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from ..domain import limits
from . import RejectedWebhook
from .google_certs import CertsCache, CertsUnavailable, normalize_url

if TYPE_CHECKING:
    from ..settings import Settings

GOOGLE_ISSUERS = ("accounts.google.com", "https://accounts.google.com")
ALGORITHM = "RS256"
CLOCK_SKEW_SECONDS = 10  # tolerated on `iat` and `exp` (google-auth's own default is 0)
MAX_EVENT_TIME_MILLIS = 253402300799999  # the last millisecond a datetime holds (9999-12-31)
MAX_TOKEN_CHARS = 8192  # Google's tokens are ~1 KB; anything far larger is refused unread

KINDS = ("subscriptionNotification", "oneTimeProductNotification", "voidedPurchaseNotification", "testNotification")
TEST = "testNotification"


class RejectedPush(RejectedWebhook):
    """A refused Pub/Sub push; `status` is the answer Pub/Sub expects (400 body, 401 token, 403 sender,
    503 ours)."""


def _invalid(message: str) -> RejectedPush:
    return RejectedPush("invalid_token", message, 401)


def _malformed(message: str) -> RejectedPush:
    return RejectedPush("malformed_body", message, 400)


# --------------------------------------------------------------------------- the token


def bearer_token(authorization: str | None) -> str:
    """The token of `Authorization: Bearer <token>` (scheme case-insensitive); else `missing_token`."""
    if not authorization or not authorization.strip():
        raise RejectedPush("missing_token", "The Authorization header with a Bearer token is missing.", 401)
    scheme, _, token = authorization.strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise RejectedPush("missing_token", "The Authorization header does not carry a Bearer token.", 401)
    return token


class PubSubPushVerifier:
    """Verifies the OIDC token of a Pub/Sub push for one audience and one service account."""

    def __init__(
        self,
        audience: str,
        service_account: str,
        certs_url: str | None = None,
        *,
        request: Callable[..., Any] | None = None,
        certs: CertsCache | None = None,
        clock_skew: int = CLOCK_SKEW_SECONDS,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not audience or not service_account:
            raise ValueError("a Pub/Sub push verifier needs the audience and the service account email")
        self.audience = audience
        self.service_account = service_account
        self._certs = certs or CertsCache(normalize_url(certs_url), request)
        self._clock_skew = clock_skew
        self._clock = clock
        self._rsa = _Rs256()  # cryptography, imported here: built at cold start, not by readers of pushes

    @classmethod
    def from_settings(cls, settings: Settings, **kwargs: Any) -> PubSubPushVerifier:
        """Raises ConfigurationError (naming the variable) when the audience or the account is unset."""
        from ..settings import ConfigurationError

        audience, account = settings.google.pubsub_audience, settings.google.pubsub_service_account
        if not audience or not account:
            missing = [
                name
                for name, value in (("GOOGLE_PUBSUB_AUDIENCE", audience), ("GOOGLE_PUBSUB_SERVICE_ACCOUNT", account))
                if not value
            ]
            raise ConfigurationError(f"{' and '.join(missing)} {'is' if len(missing) == 1 else 'are'} not set")
        return cls(
            audience,
            account,
            settings.google.oidc_certs_url,
            **kwargs,
        )

    @property
    def certs_cache(self) -> CertsCache:
        return self._certs

    def _check_times(self, claims: dict[str, Any]) -> None:
        """`iat` and `exp` (google-auth's checks): both numbers; not issued in the future, not expired."""
        issued, expires = _seconds(claims.get("iat")), _seconds(claims.get("exp"))
        if issued is None or expires is None:
            raise _invalid("The token lacks a required claim (iat, exp).")
        now = int(self._clock())
        if now < issued - self._clock_skew:
            raise _invalid("The token is issued in the future.")
        if now > expires + self._clock_skew:
            raise _invalid("The token has expired.")

    def verify(self, authorization: str | None) -> dict[str, Any]:
        """The verified claims of the push's token; raises RejectedPush (401 / 403 / 503) otherwise."""
        token = bearer_token(authorization)
        if len(token) > MAX_TOKEN_CHARS:
            raise _invalid("The token is too long to be a Google OIDC token.")
        segments = token.split(".")
        if len(segments) != 3:
            raise _invalid("The token is not a JWT.")
        try:
            header, claims = (limits.loads(_b64decode(segment)) for segment in segments[:2])
            signature = _b64decode(segments[2])
        except (ValueError, TypeError):  # limits.MalformedJson is a ValueError
            raise _invalid("The token is not a JWT.") from None
        if not isinstance(header, dict) or not isinstance(claims, dict):
            raise _invalid("The token is not a JWT.")
        if header.get("alg") != ALGORITHM:
            raise _invalid(f"The token is not signed with {ALGORITHM}.")
        kid = header.get("kid")
        if kid is not None and not isinstance(kid, str):
            raise _invalid("The token's key id is not a string.")
        try:
            certs = self._certs.certs(kid)
        except CertsUnavailable as error:
            message = f"Google's signing certificates are unavailable: {error}"
            raise RejectedPush("certs_unavailable", message, 503) from None
        if kid is not None and kid not in certs:
            raise _invalid("The token is signed by a key Google does not publish.")
        candidates = [certs[kid]] if kid is not None else list(certs.values())
        signed = f"{segments[0]}.{segments[1]}".encode("ascii")
        if not any(self._rsa.verifies(pem, signed, signature) for pem in candidates):
            raise _invalid("The token's signature does not verify.")
        self._check_times(claims)
        if claims.get("iss") not in GOOGLE_ISSUERS:
            raise _invalid("The token is not issued by accounts.google.com.")
        if claims.get("aud") != self.audience:
            raise _invalid("The token's audience is not this endpoint's (GOOGLE_PUBSUB_AUDIENCE).")
        email = claims.get("email")
        if not isinstance(email, str) or email.lower() != self.service_account.lower():
            raise RejectedPush("forbidden_sender", "The token is not from the configured Pub/Sub service account.", 403)
        if not (claims.get("email_verified") is True or claims.get("email_verified") == "true"):
            raise RejectedPush("forbidden_sender", "The token's email is not verified.", 403)
        return dict(claims)


def _seconds(value: object) -> float | None:
    """A NumericDate claim (seconds since the epoch); None when it is not a number."""
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


class _Rs256:
    """RS256 signatures (PKCS#1 v1.5, SHA-256) checked with the public key of a PEM certificate; each
    certificate is read once."""

    def __init__(self) -> None:
        from cryptography import x509
        from cryptography.exceptions import InvalidSignature
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import padding, rsa

        self._load = x509.load_pem_x509_certificate
        self._invalid = InvalidSignature
        self._hash, self._padding, self._rsa_key = hashes.SHA256, padding.PKCS1v15, rsa.RSAPublicKey
        self._keys: dict[str, Any] = {}

    def verifies(self, pem: str, signed: bytes, signature: bytes) -> bool:
        key = self._keys.get(pem)
        if key is None:
            try:
                key = self._load(pem.encode("ascii")).public_key()
            except (ValueError, UnicodeError):
                return False  # not a certificate: it verifies nothing
            self._keys[pem] = key
        if not isinstance(key, self._rsa_key):
            return False
        try:
            key.verify(signature, signed, self._padding(), self._hash())
        except self._invalid:
            return False
        return True


# --------------------------------------------------------------------------- the envelope

_BASE64 = re.compile(r"[A-Za-z0-9+/_-]*={0,2}")


def _b64decode(text: str) -> bytes:
    """Standard or URL-safe base64, padded or not (proto3 JSON accepts both); ValueError otherwise."""
    if not _BASE64.fullmatch(text) or (re.search(r"[+/]", text) and re.search(r"[-_]", text)):
        raise ValueError("not base64")
    core = text.rstrip("=")
    if len(core) % 4 == 1:
        raise ValueError("not base64")
    return base64.b64decode(core.replace("-", "+").replace("_", "/") + "=" * (-len(core) % 4), validate=True)


@dataclass(frozen=True)
class PubSubPush:
    """One decoded push: the Pub/Sub message id (the idempotency key) and the DeveloperNotification."""

    message_id: str
    publish_time: str | None
    notification: dict

    @property
    def kind(self) -> str:
        """The DeveloperNotification's kind: one of `KINDS`."""
        return next(k for k in KINDS if self.notification.get(k) is not None)

    @property
    def detail(self) -> dict:
        """The kind's own object (`notificationType`, `purchaseToken`, ...)."""
        return self.notification[self.kind]

    @property
    def is_test(self) -> bool:
        return self.kind == TEST

    @property
    def package_name(self) -> str:
        return self.notification["packageName"]

    @property
    def event_time_millis(self) -> int:
        return int(self.notification["eventTimeMillis"])

    @property
    def event_time(self) -> datetime:
        return datetime.fromtimestamp(self.event_time_millis / 1000, tz=timezone.utc)

    @property
    def notification_type(self) -> int | None:
        """The kind's `notificationType` (subscription 1–20 and later, one-time 1–2); None for voided/test."""
        return self.detail.get("notificationType")

    @property
    def event_type(self) -> str:
        """`<kind>:<notificationType>` (`subscriptionNotification:4`), or the kind alone when it has none."""
        kind, number = self.kind, self.notification_type
        return kind if number is None else f"{kind}:{number}"

    @property
    def purchase_token(self) -> str | None:
        return None if self.is_test else self.detail["purchaseToken"]

    @property
    def routing_key(self) -> str:
        """Events of one purchase share this key (their queue message group): the purchase token."""
        return self.purchase_token or self.message_id


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _check_notification(notification: Any) -> None:
    if not isinstance(notification, dict):
        raise _malformed("message.data is not a JSON object.")
    if not isinstance(notification.get("packageName"), str) or not notification["packageName"]:
        raise _malformed("The notification has no packageName.")
    millis: Any = notification.get("eventTimeMillis")
    if not (_is_int(millis) or (isinstance(millis, str) and millis.isascii() and millis.isdigit())):
        raise _malformed("The notification has no eventTimeMillis.")
    if not 0 <= int(millis) <= MAX_EVENT_TIME_MILLIS:
        raise _malformed("The notification's eventTimeMillis is out of range.")
    kinds = [k for k in KINDS if notification.get(k) is not None]
    if len(kinds) != 1:
        raise _malformed(f"The notification must carry exactly one of {', '.join(KINDS)}.")
    detail = notification[kinds[0]]
    if not isinstance(detail, dict):
        raise _malformed(f"{kinds[0]} is not an object.")
    if kinds[0] == TEST:
        return
    token = detail.get("purchaseToken")
    if not isinstance(token, str) or not token:
        raise _malformed(f"{kinds[0]} has no purchaseToken.")
    if not limits.is_key_id(token):
        raise _malformed(f"The purchaseToken is not 1–{limits.MAX_KEY_ID_CHARS} printable characters.")
    if kinds[0] != "voidedPurchaseNotification" and not _is_int(detail.get("notificationType")):
        raise _malformed(f"{kinds[0]} has no numeric notificationType.")


def parse_push(body: bytes, package_name: str | Sequence[str] | None = None) -> PubSubPush:
    """The push envelope → PubSubPush; `malformed_body` (400), or `wrong_package` (400) when
    `package_name` (one, or the configured ones) is given and the notification is for another app."""
    try:
        envelope = limits.loads(body)
    except limits.MalformedJson as error:
        raise _malformed(str(error)) from None
    message = envelope.get("message") if isinstance(envelope, dict) else None
    if not isinstance(message, dict):
        raise _malformed("The body is not a Pub/Sub push (no message).")
    message_id = message.get("messageId") or message.get("message_id")
    if not isinstance(message_id, str) or not message_id:
        raise _malformed("The Pub/Sub message has no messageId.")
    if not limits.is_key_id(message_id):
        raise _malformed(f"The Pub/Sub messageId is not 1–{limits.MAX_KEY_ID_CHARS} printable characters.")
    data = message.get("data")
    if not isinstance(data, str) or not data:
        raise _malformed("The Pub/Sub message has no data.")
    try:
        notification = limits.loads(_b64decode(data))
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise _malformed("message.data is not base64-encoded JSON.") from None
    _check_notification(notification)
    packages = (package_name,) if isinstance(package_name, str) else package_name
    if packages is not None and notification["packageName"] not in packages:
        raise RejectedPush("wrong_package", "The notification is for a package GOOGLE_PACKAGE_NAME does not list.", 400)
    publish_time = message.get("publishTime") or message.get("publish_time")
    return PubSubPush(message_id, publish_time if isinstance(publish_time, str) else None, notification)
