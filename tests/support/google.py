"""Google Play / Pub/Sub push test fixtures, generated at test time (nothing pasted in).

- `signing_key(name)`: an RSA-2048 key and a self-signed certificate, with a Google-style 40-hex `kid`.
- `certs_server(...)`: a local HTTP server answering Google's v1 certs format (`{"<kid>": "<PEM>"}`)
  with Google's `Cache-Control`, counting requests; `StaticCertsRequest`: the same answer in memory (a
  google-auth style transport `request`) for the unit tier, where sockets are refused.
- `mint_token(...)`: a Pub/Sub push OIDC token as Google mints it (RS256, `kid` and `typ` header; `iss`,
  `aud`, `azp`, `sub`, `email`, `email_verified`, `iat`, `exp`), signed with PyJWT (independent of the
  verifier under test); `unsigned_token` / `hs256_token` build the forgeries by hand.
- `push_body(notification)`: a Pub/Sub push envelope around a DeveloperNotification built by
  `subscription_notification`, `one_time_product_notification`, `voided_purchase_notification` or
  `test_notification`.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import itertools
import json
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from functools import lru_cache
from http.server import BaseHTTPRequestHandler
from typing import Any

import jwt
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from tests.support.http_stub import serve

PACKAGE = "com.example.parity"
AUDIENCE = "https://parity.example.com/webhooks/google"
SERVICE_ACCOUNT = "rtdn-push@parity-test.iam.gserviceaccount.com"
ISSUER = "https://accounts.google.com"
SUBSCRIPTION = "projects/parity-test/subscriptions/play-rtdn-push"
CERTS_PATH = "/oauth2/v1/certs"
GOOGLE_CACHE_CONTROL = "public, max-age=21600, must-revalidate, no-transform"
SUBJECT = "113574893650118726231"  # the service account's numeric id, as Google puts it in `sub`/`azp`

_message_ids = itertools.count(14_000_000_000_000_001)
_tokens = itertools.count(1)


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _json_b64url(value: Mapping) -> str:
    return b64url(json.dumps(value, separators=(",", ":")).encode())


# --------------------------------------------------------------------------- keys and certificates


@dataclass(frozen=True)
class SigningKey:
    kid: str
    private_key: rsa.RSAPrivateKey
    certificate_pem: str


def signing_key(name: str = "google-1") -> SigningKey:
    """An RSA-2048 key with a self-signed certificate, like one of Google's OAuth2 signing keys (one
    per name for the whole session: generating keys is the slow part)."""
    return _signing_key(name)


@lru_cache(maxsize=None)
def _signing_key(name: str) -> SigningKey:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"{name}.securetoken.system.gserviceaccount.test")])
    now = datetime.now(timezone.utc)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=14))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    pem = certificate.public_bytes(serialization.Encoding.PEM).decode()
    return SigningKey(hashlib.sha1(name.encode()).hexdigest(), key, pem)


def certs_document(*keys: SigningKey) -> dict[str, str]:
    """Google's v1 certs format: `{"<kid>": "<PEM certificate>"}`."""
    return {key.kid: key.certificate_pem for key in (keys or (signing_key(),))}


# --------------------------------------------------------------------------- the certs endpoint


@dataclass
class CertsServerState:
    document: dict[str, str]
    path: str = CERTS_PATH
    cache_control: str | None = GOOGLE_CACHE_CONTROL
    status: int = 200
    requests: list[str] = field(default_factory=list)
    base_url: str = ""

    @property
    def url(self) -> str:
        return self.base_url + self.path

    @property
    def count(self) -> int:
        return len(self.requests)


def _certs_handler(state: CertsServerState) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args) -> None:  # keep test output clean
            pass

        def do_GET(self) -> None:  # noqa: N802 - http.server's naming
            state.requests.append(self.path)
            if self.path != state.path:  # exact: a URL with an extra slash is another resource
                return self._send(404, b'{"error": "not found"}')
            self._send(state.status, json.dumps(state.document).encode())

        def _send(self, status: int, payload: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=UTF-8")
            if state.cache_control is not None and status == 200:
                self.send_header("Cache-Control", state.cache_control)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

    return Handler


@contextmanager
def certs_server(*keys: SigningKey, **kwargs: Any) -> Iterator[CertsServerState]:
    """Google's certs endpoint on 127.0.0.1, serving `keys` (default: `signing_key()`) at `path`."""
    state = CertsServerState(document=certs_document(*keys), **kwargs)
    with serve(_certs_handler(state), "google-certs-stub") as base_url:
        state.base_url = base_url
        yield state


@dataclass
class StaticResponse:
    status: int
    data: bytes
    headers: dict[str, str]


@dataclass
class StaticCertsRequest:
    """A google-auth style transport `request` answering the certs document from memory."""

    document: dict[str, str] = field(default_factory=certs_document)
    headers: dict[str, str] = field(default_factory=lambda: {"Cache-Control": GOOGLE_CACHE_CONTROL})
    status: int = 200
    fail: bool = False
    calls: list[str] = field(default_factory=list)

    def __call__(self, url: str, method: str = "GET", **kwargs: Any) -> StaticResponse:
        self.calls.append(url)
        if self.fail:
            raise ConnectionError("certs endpoint unreachable")
        return StaticResponse(self.status, json.dumps(self.document).encode(), dict(self.headers))


# --------------------------------------------------------------------------- OIDC tokens


def claims(
    *,
    audience: str | None = AUDIENCE,
    email: str | None = SERVICE_ACCOUNT,
    email_verified: Any = True,
    issuer: str | None = ISSUER,
    issued_at: int | None = None,
    lifetime: int = 3600,
    **extra: Any,
) -> dict[str, Any]:
    """A Pub/Sub push token's claims; a None value leaves the claim out."""
    iat = int(time.time()) if issued_at is None else issued_at
    values = {
        "aud": audience,
        "azp": SUBJECT,
        "email": email,
        "email_verified": email_verified,
        "exp": iat + lifetime,
        "iat": iat,
        "iss": issuer,
        "sub": SUBJECT,
        **extra,
    }
    return {name: value for name, value in values.items() if value is not None}


def mint_token(
    key: SigningKey | None = None, *, kid: str | None = "", headers: Mapping | None = None, **claim_args: Any
) -> str:
    """An RS256 token signed by `key` (default `signing_key()`); `kid=None` leaves the kid out."""
    key = key or signing_key()
    header = {"typ": "JWT", **(headers or {})}
    if kid is not None:
        header["kid"] = kid or key.kid
    return jwt.encode(claims(**claim_args), key.private_key, algorithm="RS256", headers=header)


def unsigned_token(kid: str | None = None, **claim_args) -> str:
    """`alg: none` with an empty signature (PyJWT rightly refuses to verify these)."""
    header = {"alg": "none", "typ": "JWT", "kid": kid or signing_key().kid}
    return f"{_json_b64url(header)}.{_json_b64url(claims(**claim_args))}."


def hs256_token(secret: bytes | None = None, kid: str | None = None, **claim_args) -> str:
    """HS256, keyed by default with the public certificate's PEM (the algorithm-confusion forgery)."""
    key = signing_key()
    header = {"alg": "HS256", "typ": "JWT", "kid": kid or key.kid}
    signing_input = f"{_json_b64url(header)}.{_json_b64url(claims(**claim_args))}"
    mac = hmac.new(secret or key.certificate_pem.encode(), signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64url(mac)}"


def relabelled_token(token: str, **header: Any) -> str:
    """`token` with its header fields replaced (e.g. `alg="ES256"` over an RS256 signature)."""
    encoded_header, payload, signature = token.split(".")
    fields = json.loads(base64.urlsafe_b64decode(encoded_header + "=" * (-len(encoded_header) % 4)))
    return f"{_json_b64url({**fields, **header})}.{payload}.{signature}"


def bearer(token: str) -> str:
    return f"Bearer {token}"


# --------------------------------------------------------------------------- DeveloperNotifications


def purchase_token() -> str:
    """An opaque token shaped like Play's (long, dotted, URL-safe)."""
    n = next(_tokens)
    return f"ofgjkbnmlpaeicdh{n:04d}.AO-J1Oz" + b64url(hashlib.sha256(str(n).encode()).digest() * 4)


def now_ms() -> int:
    return int(time.time() * 1000)


def developer_notification(
    kind: str, detail: Mapping, *, package: str = PACKAGE, event_time_ms: int | None = None
) -> dict:
    return {
        "version": "1.0",
        "packageName": package,
        "eventTimeMillis": str(now_ms() if event_time_ms is None else event_time_ms),
        kind: dict(detail),
    }


def subscription_notification(token: str, notification_type: int = 4, **kwargs: Any) -> dict:
    """`subscriptionNotification` (4 = SUBSCRIPTION_PURCHASED); the deprecated subscriptionId still sent."""
    detail = {"version": "1.0", "notificationType": notification_type, "purchaseToken": token}
    detail["subscriptionId"] = "pro_monthly"
    return developer_notification("subscriptionNotification", detail, **kwargs)


def one_time_product_notification(token: str, notification_type: int = 1, sku: str = "coins_100", **kwargs) -> dict:
    """`oneTimeProductNotification` (1 = ONE_TIME_PRODUCT_PURCHASED, 2 = ONE_TIME_PRODUCT_CANCELED)."""
    detail = {"version": "1.0", "notificationType": notification_type, "purchaseToken": token, "sku": sku}
    return developer_notification("oneTimeProductNotification", detail, **kwargs)


def voided_purchase_notification(
    token: str, order_id: str = "GPA.3345-1234-5678-90123", product_type: int = 1, refund_type: int = 1, **kwargs
) -> dict:
    """`voidedPurchaseNotification` (productType 1 subscription / 2 one-time; refundType 1 full / 2 partial)."""
    detail = {"purchaseToken": token, "orderId": order_id, "productType": product_type, "refundType": refund_type}
    return developer_notification("voidedPurchaseNotification", detail, **kwargs)


def test_notification(**kwargs: Any) -> dict:
    return developer_notification("testNotification", {"version": "1.0"}, **kwargs)


test_notification.__test__ = False  # a fixture builder, not a pytest test


def new_message_id() -> str:
    return str(next(_message_ids))


def push_body(
    notification: Mapping | bytes | str,
    *,
    message_id: str | None = None,
    publish_time: str | None = None,
    attributes: Mapping[str, str] | None = None,
    subscription: str = SUBSCRIPTION,
    urlsafe: bool = False,
) -> bytes:
    """The body Pub/Sub POSTs: `message.data` is the base64 of the notification's JSON (or of the
    given bytes/str, to build malformed data); `messageId`/`publishTime` in both spellings, as sent."""
    if isinstance(notification, Mapping):
        raw = json.dumps(notification, separators=(",", ":")).encode()
    else:
        raw = notification.encode() if isinstance(notification, str) else notification
    data = (base64.urlsafe_b64encode if urlsafe else base64.b64encode)(raw).decode()
    ident = message_id or new_message_id()
    published = publish_time or datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    message = {
        "attributes": dict(attributes or {}),
        "data": data,
        "messageId": ident,
        "message_id": ident,
        "publishTime": published,
        "publish_time": published,
    }
    return json.dumps({"message": message, "subscription": subscription}).encode()
