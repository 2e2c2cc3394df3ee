"""A local imitation of the App Store Server API calls Parity makes (for `APPLE_API_BASE`).

It checks the bearer token for real, with PyJWT (independent of the client under test): ES256 signed
by the configured key, header `kid` and `typ: JWT`, claims `iss`, `aud` "appstoreconnect-v1", `bid`,
`iat` not in the future and `exp` not past and at most 60 minutes after `iat`. Anything else → 401
with an empty body, as Apple answers.

Serves Get All Subscription Statuses, Get Transaction Info and Get Transaction History v2 (pages of
`page_size`, opaque revisions, `hasMore`) from what the test puts in; unknown ids → 404 with Apple's
error shape. `script(...)` queues answers given before any route (throttling, outages); `delay` holds
every answer back (timeouts). Every request is recorded with the verdict on its token.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import jwt

from tests.support import apple
from tests.support.http_stub import StubHandler, serve

AUDIENCE = "appstoreconnect-v1"
TRANSACTION_NOT_FOUND = {"errorCode": 4040010, "errorMessage": "Transaction id not found."}
INVALID_REVISION = {"errorCode": 4000005, "errorMessage": "Invalid revision."}


@dataclass
class AppStoreApiState:
    public_key: Any
    key_id: str
    issuer_id: str
    bundle_id: str = apple.BUNDLE_ID
    other_bundle_ids: tuple[str, ...] = ()  # further apps of the same team the key may ask about
    environment: str = "Production"
    app_apple_id: int | None = apple.APP_APPLE_ID
    statuses: dict[str, list[dict]] = field(default_factory=dict)  # transaction id → subscription groups
    transactions: dict[str, str] = field(default_factory=dict)  # transaction id → signedTransactionInfo
    history: dict[str, list[str]] = field(default_factory=dict)  # transaction id → signed transactions
    page_size: int = 20
    delay: float = 0.0
    scripted: list[tuple[int, dict, dict | bytes | None]] = field(default_factory=list)
    requests: list[dict] = field(default_factory=list)
    base_url: str = ""

    def script(
        self, status: int, body: dict | bytes | None = None, headers: dict | None = None, times: int = 1
    ) -> None:
        """Answer the next `times` authenticated requests with `status` (before any route)."""
        self.scripted.extend([(status, headers or {}, body)] * times)

    def add_subscription(
        self,
        transaction_id: str,
        signed_transaction: str,
        signed_renewal_info: str | None,
        status: int = 1,
        group: str = "21000000",
    ) -> None:
        item = {"status": status, "originalTransactionId": transaction_id, "signedTransactionInfo": signed_transaction}
        if signed_renewal_info is not None:
            item["signedRenewalInfo"] = signed_renewal_info
        self.statuses.setdefault(transaction_id, []).append(
            {"subscriptionGroupIdentifier": group, "lastTransactions": [item]}
        )

    def paths(self) -> list[str]:
        return [r["path"] for r in self.requests]

    def check_token(self, authorization: str | None) -> dict:
        """The verified claims of the bearer token; raises ValueError saying what is wrong."""
        if not authorization or not authorization.startswith("Bearer "):
            raise ValueError("no bearer token")
        token = authorization[len("Bearer ") :]
        header = jwt.get_unverified_header(token)
        if header.get("alg") != "ES256" or header.get("kid") != self.key_id or header.get("typ") != "JWT":
            raise ValueError(f"header {header}")
        claims = jwt.decode(
            token,
            self.public_key,
            algorithms=["ES256"],
            audience=AUDIENCE,
            issuer=self.issuer_id,
            options={"require": ["iss", "iat", "exp", "aud", "bid"]},
        )  # raises on a bad signature, a wrong aud or iss, an expired token
        if claims["bid"] not in (self.bundle_id, *self.other_bundle_ids):
            raise ValueError("bid")
        if claims["iat"] > time.time() + 60 or claims["exp"] - claims["iat"] > 3600:
            raise ValueError("iat/exp")
        return {"header": header, "claims": claims, "token": token}


def _handler(state: AppStoreApiState) -> type[BaseHTTPRequestHandler]:
    class Handler(StubHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's naming
            url = urlsplit(self.path)
            record: dict[str, Any] = {"path": url.path, "query": parse_qs(url.query)}
            state.requests.append(record)
            if state.delay:
                time.sleep(state.delay)
            try:
                record.update(state.check_token(self.headers.get("Authorization")))
            except (ValueError, jwt.PyJWTError) as error:
                record["auth_error"] = str(error)
                return self._send(401, None)
            if state.scripted:
                status, headers, body = state.scripted.pop(0)
                return self._send(status, body, headers)
            self._send(*self._route(url.path.strip("/").split("/"), record["query"]))

        def _route(self, parts: list[str], query: dict) -> tuple[int, dict]:
            ident = unquote(parts[-1]) if len(parts) == 4 else ""
            if parts[:3] == ["inApps", "v1", "subscriptions"] and ident in state.statuses:
                return 200, self._envelope(data=state.statuses[ident])
            if parts[:3] == ["inApps", "v1", "transactions"] and ident in state.transactions:
                return 200, {"signedTransactionInfo": state.transactions[ident]}
            if parts[:3] == ["inApps", "v2", "history"] and ident in state.history:
                revision = (query.get("revision") or ["rev-0"])[0]
                if not revision.startswith("rev-") or not revision[4:].isdigit():
                    return 400, INVALID_REVISION
                start = int(revision[4:])
                signed = state.history[ident]
                end = start + state.page_size
                return 200, self._envelope(
                    revision=f"rev-{end}", hasMore=end < len(signed), signedTransactions=signed[start:end]
                )
            return 404, TRANSACTION_NOT_FOUND

        def _envelope(self, **fields: Any) -> dict:
            return {
                "environment": state.environment,
                "bundleId": state.bundle_id,
                "appAppleId": state.app_apple_id,
                **fields,
            }


    return Handler


@contextmanager
def app_store_api_server(public_key: Any, key_id: str, issuer_id: str, **kwargs: Any) -> Iterator[AppStoreApiState]:
    state = AppStoreApiState(public_key=public_key, key_id=key_id, issuer_id=issuer_id, **kwargs)
    with serve(_handler(state), "app-store-api-stub") as base_url:
        state.base_url = base_url
        yield state
