"""A local imitation of the Google Play Developer API calls Parity makes (for `GOOGLE_API_BASE`) and of
Google's OAuth 2.0 token endpoint (the `token_uri` of the service-account JSON the tests write).

Token endpoint (`POST /token`): the JWT-bearer grant a service account uses. The assertion is checked
for real, with PyJWT (independent of google-auth, which signs it): RS256 with the service account's
public key, header `kid` = the key id, `iss` = the client email, `aud` = Google's token endpoint
(google-auth always names https://oauth2.googleapis.com/token there, whatever `token_uri` says, and
Google accepts only that), `scope` = androidpublisher, `iat` not in the future, `exp` at most an hour after `iat`. Anything else → 400
`invalid_grant`, as Google answers. A good assertion earns an opaque access token (`expires_in`
seconds, one hour by default).

API (`/androidpublisher/v3/applications/{package}/purchases/...`, under any path prefix): only an
`Authorization: Bearer <access token this fake issued, unexpired, not revoked>` passes, else 401 with
Google's error shape. Serves subscriptionsv2.get, subscriptions.acknowledge, products.get,
products.acknowledge (acknowledging flips `acknowledgementState`) and voidedpurchases.list (the
`startTime`/`endTime` window on `voidedTimeMillis`, `type` 0 without subscriptions, pages of
`maxResults` or `page_size` with opaque `tokenPagination.nextPageToken`). Unknown purchases → 404.

`script(...)` / `script_token(...)` queue answers given before any route (throttling, outages, refusals);
`delay` holds every API answer back (timeouts). Every request is recorded: `requests` (API, with the
verdict on its bearer token) and `token_requests` (with the verified assertion or what was wrong).
"""

from __future__ import annotations

import itertools
import json
import secrets
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.support.http_stub import StubHandler, serve

PACKAGE = "com.example.parity"
SCOPE = "https://www.googleapis.com/auth/androidpublisher"
CLIENT_EMAIL = "parity-play@parity-test.iam.gserviceaccount.com"
TOKEN_PATH = "/token"
API_ROOT = "androidpublisher/v3/applications"
JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
ASSERTION_AUDIENCE = "https://oauth2.googleapis.com/token"

_order_numbers = itertools.count(1000)


def generate_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def google_error(status: int, message: str, reason: str | None = None, state: str | None = None) -> dict:
    """Google's JSON error body (`error.errors[].reason`, `error.status`)."""
    error: dict[str, Any] = {"code": status, "message": message}
    if reason:
        error["errors"] = [{"message": message, "domain": "androidpublisher", "reason": reason}]
    if state:
        error["status"] = state
    return {"error": error}


NOT_FOUND = google_error(404, "The purchase token was not found.", "purchaseTokenNotFound", "NOT_FOUND")
UNAUTHENTICATED = google_error(401, "Request had invalid authentication credentials.", "authError", "UNAUTHENTICATED")


@dataclass
class PlayApiState:
    private_key: rsa.RSAPrivateKey  # the service account's key (the fake checks with its public half)
    client_email: str = CLIENT_EMAIL
    key_id: str = field(default_factory=lambda: secrets.token_hex(20))
    token_lifetime: int = 3600
    # what Google knows: (package, token) → SubscriptionPurchaseV2; (package, product, token) → ProductPurchase
    subscriptions: dict[tuple[str, str], dict] = field(default_factory=dict)
    products: dict[tuple[str, str, str], dict] = field(default_factory=dict)
    voided: dict[str, list[tuple[dict, bool]]] = field(default_factory=dict)  # package → (item, is subscription)
    page_size: int = 1000
    delay: float = 0.0
    scripted: list[tuple[int, dict, dict | bytes | None]] = field(default_factory=list)
    token_scripted: list[tuple[int, dict, dict | bytes | None]] = field(default_factory=list)
    access_tokens: dict[str, float] = field(default_factory=dict)  # issued token → expiry (epoch seconds)
    requests: list[dict] = field(default_factory=list)
    token_requests: list[dict] = field(default_factory=list)
    base_url: str = ""

    @property
    def token_uri(self) -> str:
        return self.base_url + TOKEN_PATH

    # ------------------------------------------------------------------- set up

    def service_account_info(self, private_key: rsa.RSAPrivateKey | None = None, **overrides: Any) -> dict:
        """A service-account key file's JSON, as the Cloud console downloads it, with `token_uri` here."""
        pem = (private_key or self.private_key).private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        return {
            "type": "service_account",
            "project_id": "parity-test",
            "private_key_id": self.key_id,
            "private_key": pem.decode(),
            "client_email": self.client_email,
            "client_id": "113574893650118726231",
            "auth_uri": "https://accounts.google.com/o/oauth2/auth",
            "token_uri": self.token_uri,
            "auth_provider_x509_cert_url": "https://www.googleapis.com/oauth2/v1/certs",
            "client_x509_cert_url": "https://www.googleapis.com/robot/v1/metadata/x509/parity-play",
            "universe_domain": "googleapis.com",
            **overrides,
        }

    def write_service_account(self, path: Path, private_key: rsa.RSAPrivateKey | None = None, **overrides) -> Path:
        path.write_text(json.dumps(self.service_account_info(private_key, **overrides), indent=2))
        return path

    def add_subscription(self, token: str, package: str = PACKAGE, product_id: str = "pro_monthly", **fields) -> dict:
        """A SubscriptionPurchaseV2 (active, pending acknowledgement unless `fields` say otherwise)."""
        now = time.time()
        purchase = {
            "kind": "androidpublisher#subscriptionPurchaseV2",
            "regionCode": "US",
            "startTime": _rfc3339(now - 3600),
            "subscriptionState": "SUBSCRIPTION_STATE_ACTIVE",
            "latestOrderId": f"GPA.3301-{next(_order_numbers)}-0000-00000",
            "acknowledgementState": "ACKNOWLEDGEMENT_STATE_PENDING",
            "lineItems": [
                {
                    "productId": product_id,
                    "expiryTime": _rfc3339(now + 30 * 86400),
                    "autoRenewingPlan": {"autoRenewEnabled": True},
                    "offerDetails": {"basePlanId": "monthly"},
                }
            ],
            **fields,
        }
        self.subscriptions[(package, token)] = purchase
        return purchase

    def add_product(self, token: str, product_id: str = "lifetime", package: str = PACKAGE, **fields) -> dict:
        """A ProductPurchase (purchased, acknowledgementState 0 unless `fields` say otherwise)."""
        purchase = {
            "kind": "androidpublisher#productPurchase",
            "purchaseTimeMillis": str(int(time.time() * 1000) - 60_000),
            "purchaseState": 0,
            "consumptionState": 0,
            "orderId": f"GPA.3302-{next(_order_numbers)}-0000-00000",
            "purchaseType": 0,
            "acknowledgementState": 0,
            "regionCode": "US",
            **fields,
        }
        self.products[(package, product_id, token)] = purchase
        return purchase

    def add_voided(
        self, token: str, voided_millis: int, subscription: bool = True, package: str = PACKAGE, **fields
    ) -> dict:
        item = {
            "kind": "androidpublisher#voidedPurchase",
            "purchaseToken": token,
            "purchaseTimeMillis": str(voided_millis - 86_400_000),
            "voidedTimeMillis": str(voided_millis),
            "orderId": f"GPA.3303-{next(_order_numbers)}-0000-00000",
            "voidedSource": 0,
            "voidedReason": 1,
            **fields,
        }
        self.voided.setdefault(package, []).append((item, subscription))
        return item

    def script(
        self, status: int, body: dict | bytes | None = None, headers: dict | None = None, times: int = 1
    ) -> None:
        """Answer the next `times` authenticated API requests with `status` (before any route)."""
        self.scripted.extend([(status, headers or {}, body)] * times)

    def script_token(
        self, status: int, body: dict | bytes | None = None, headers: dict | None = None, times: int = 1
    ) -> None:
        """Answer the next `times` token requests with `status` (before checking the assertion)."""
        self.token_scripted.extend([(status, headers or {}, body)] * times)

    def revoke_tokens(self) -> None:
        self.access_tokens.clear()

    # ------------------------------------------------------------------- reading back

    def calls(self) -> list[tuple[str, str]]:
        return [(r["method"], r["path"]) for r in self.requests]

    def check_assertion(self, assertion: str) -> dict:
        """The verified claims of a JWT-bearer assertion; raises ValueError saying what is wrong."""
        header = jwt.get_unverified_header(assertion)
        if header.get("alg") != "RS256" or header.get("kid") != self.key_id:
            raise ValueError(f"header {header}")
        claims = jwt.decode(
            assertion,
            self.private_key.public_key(),
            algorithms=["RS256"],
            audience=ASSERTION_AUDIENCE,
            issuer=self.client_email,
            options={"require": ["iss", "aud", "iat", "exp", "scope"]},
        )  # raises on a bad signature, a wrong aud or iss, an expired assertion
        if claims["scope"].split() != [SCOPE]:
            raise ValueError(f"scope {claims['scope']!r}")
        if claims["iat"] > time.time() + 60 or claims["exp"] - claims["iat"] > 3600:
            raise ValueError("iat/exp")
        return {"header": header, "claims": claims}

    def check_bearer(self, authorization: str | None) -> str:
        if not authorization or not authorization.startswith("Bearer "):
            raise ValueError("no bearer token")
        token = authorization[len("Bearer ") :]
        if self.access_tokens.get(token, 0) <= time.time():
            raise ValueError("unknown, revoked or expired access token")
        return token


def _rfc3339(epoch: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(epoch)) + f".{int(epoch * 1000) % 1000:03d}Z"


def _handler(state: PlayApiState) -> type[BaseHTTPRequestHandler]:
    class Handler(StubHandler):
        content_type = "application/json; charset=UTF-8"
        protocol_version = "HTTP/1.1"  # keep-alive, as Google's front ends
        wbufsize = -1  # headers and body leave in one write (flushed per request): no Nagle/delayed-ACK stalls
        timeout = 30  # an idle kept-alive connection's thread ends eventually

        def do_GET(self) -> None:  # noqa: N802 - http.server's naming
            self._api("GET")

        def do_POST(self) -> None:  # noqa: N802
            if urlsplit(self.path).path == TOKEN_PATH:
                return self._token()
            self._api("POST")

        # --------------------------------------------------------------- token endpoint

        def _token(self) -> None:
            form = parse_qs(self._body().decode())
            record: dict[str, Any] = {"grant_type": (form.get("grant_type") or [None])[0]}
            state.token_requests.append(record)
            if state.token_scripted:
                status, headers, body = state.token_scripted.pop(0)
                return self._send(status, body, headers)
            try:
                if record["grant_type"] != JWT_BEARER:
                    raise ValueError(f"grant_type {record['grant_type']!r}")
                record.update(state.check_assertion((form.get("assertion") or [""])[0]))
            except (ValueError, KeyError, jwt.PyJWTError) as error:
                record["error"] = str(error)
                return self._send(400, {"error": "invalid_grant", "error_description": "Invalid JWT Signature."})
            token = "ya29.fake-" + secrets.token_urlsafe(24)
            state.access_tokens[token] = time.time() + state.token_lifetime
            record["access_token"] = token
            self._send(200, {"access_token": token, "expires_in": state.token_lifetime, "token_type": "Bearer"})

        # --------------------------------------------------------------- API

        def _api(self, method: str) -> None:
            url = urlsplit(self.path)
            raw = self._body()
            record: dict[str, Any] = {
                "method": method,
                "path": url.path,
                "query": parse_qs(url.query),
                "body": json.loads(raw) if raw else None,
                "authorization": self.headers.get("Authorization"),
            }
            state.requests.append(record)
            if state.delay:
                time.sleep(state.delay)
            try:
                record["access_token"] = state.check_bearer(record["authorization"])
            except ValueError as error:
                record["auth_error"] = str(error)
                return self._send(
                    401, UNAUTHENTICATED, {"WWW-Authenticate": 'Bearer realm="https://accounts.google.com/"'}
                )
            if state.scripted:
                status, headers, body = state.scripted.pop(0)
                return self._send(status, body, headers)
            self._send(*self._route(method, url.path, record["query"]))

        def _route(self, method: str, path: str, query: dict) -> tuple[int, dict | None]:
            if API_ROOT not in path:
                return 404, NOT_FOUND
            parts = [unquote(p) for p in path.split(API_ROOT, 1)[1].strip("/").split("/")]
            # {package}/purchases/{collection}/...
            if len(parts) < 3 or parts[1] != "purchases":
                return 404, NOT_FOUND
            package, collection, rest = parts[0], parts[2], parts[3:]
            action = None
            if rest and ":" in rest[-1]:
                rest[-1], action = rest[-1].rsplit(":", 1)
            if method == "GET" and collection == "subscriptionsv2" and len(rest) == 2 and rest[0] == "tokens":
                found = state.subscriptions.get((package, rest[1]))
                return (200, found) if found else (404, NOT_FOUND)
            if method == "POST" and collection == "subscriptions" and len(rest) == 3 and action == "acknowledge":
                found = state.subscriptions.get((package, rest[2]))
                if not found or not any(item.get("productId") == rest[0] for item in found.get("lineItems", ())):
                    return 404, NOT_FOUND
                found["acknowledgementState"] = "ACKNOWLEDGEMENT_STATE_ACKNOWLEDGED"
                return 200, None  # Google answers an empty body
            if collection == "products" and len(rest) == 3 and rest[1] == "tokens":
                found = state.products.get((package, rest[0], rest[2]))
                if not found:
                    return 404, NOT_FOUND
                if method == "GET" and action is None:
                    return 200, found
                if method == "POST" and action == "acknowledge":
                    found["acknowledgementState"] = 1
                    return 200, None
            if method == "GET" and collection == "voidedpurchases" and not rest:
                return self._voided(package, query)
            return 404, NOT_FOUND

        def _voided(self, package: str, query: dict) -> tuple[int, dict]:
            def number(name: str, default: int) -> int:
                return int((query.get(name) or [default])[0])

            now = int(time.time() * 1000)
            start, end = number("startTime", now - 30 * 86_400_000), number("endTime", now)
            with_subscriptions = number("type", 0) == 1
            size = min(number("maxResults", state.page_size), state.page_size)
            items = [
                item
                for item, is_subscription in state.voided.get(package, ())
                if start <= int(item["voidedTimeMillis"]) <= end and (with_subscriptions or not is_subscription)
            ]
            page = (query.get("token") or ["page-0"])[0]
            if not page.startswith("page-") or not page[5:].isdigit():
                return 400, google_error(400, "Invalid pagination token.", "invalid", "INVALID_ARGUMENT")
            first = int(page[5:])
            answer: dict[str, Any] = {
                "pageInfo": {"totalResults": len(items), "resultPerPage": size, "startIndex": first},
                "voidedPurchases": items[first : first + size],
            }
            if first + size < len(items):
                answer["tokenPagination"] = {"nextPageToken": f"page-{first + size}"}
            return 200, answer

        # --------------------------------------------------------------- plumbing

        def _body(self) -> bytes:
            length = int(self.headers.get("Content-Length") or 0)
            return self.rfile.read(length) if length else b""


    return Handler


@contextmanager
def play_api_server(private_key: rsa.RSAPrivateKey, **kwargs: Any) -> Iterator[PlayApiState]:
    """Serve the imitation on 127.0.0.1; `private_key` is the service account's (generated by the test)."""
    state = PlayApiState(private_key=private_key, **kwargs)
    with serve(_handler(state), "play-api-stub") as base_url:
        state.base_url = base_url
        yield state


class Loopback:
    """An `httplib2.Http` stand-in that hands each request to this fake's request handler in-process:
    the same bytes on the wire (request line, headers, body; status line, headers, body), no socket and
    no server thread. For runs that make thousands of calls (the fault-injection harness): the Play
    client's own code, google-auth's and googleapiclient's all still run; only the TCP hop is gone.

    Installed as the `request` of the `httplib2.Http` under the client's `AuthorizedHttp` (which the
    token refreshes use too): `authorized.http.request = Loopback(state).request`.
    """

    def __init__(self, state: PlayApiState) -> None:
        self._handler = _handler(state)

    def request(self, uri, method="GET", body=None, headers=None, redirections=5, connection_type=None):
        import io

        import httplib2

        url = urlsplit(uri)
        target = url.path + (f"?{url.query}" if url.query else "")
        payload = body.encode() if isinstance(body, str) else (body or b"")
        lines = [f"{method} {target} HTTP/1.1", f"Host: {url.netloc}"]
        lines += [f"{name}: {value}" for name, value in (headers or {}).items() if name.lower() != "content-length"]
        lines.append(f"Content-Length: {len(payload)}")
        handler = self._handler.__new__(self._handler)
        handler.rfile = io.BytesIO(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + payload)
        handler.wfile = io.BytesIO()
        handler.client_address, handler.server, handler.close_connection = ("127.0.0.1", 0), None, True
        handler.handle_one_request()
        head, _, content = handler.wfile.getvalue().partition(b"\r\n\r\n")
        status_line, *header_lines = head.decode("latin-1").split("\r\n")
        fields = dict(line.split(": ", 1) for line in header_lines)
        response = httplib2.Response({**{k.lower(): v for k, v in fields.items()}, "status": status_line.split()[1]})
        response.reason = status_line.split(" ", 2)[2] if status_line.count(" ") >= 2 else ""
        return response, content
