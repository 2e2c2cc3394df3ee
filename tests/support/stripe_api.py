"""A tiny local imitation of the Stripe API reads Parity makes (for `STRIPE_API_BASE`).

Serves `GET /v1/subscriptions/{id}`, `GET /v1/invoices/{id}`, `GET /v1/invoice_payments` (filtered
by `payment[payment_intent]`), `GET /v1/refunds` (charges expanded with `expand[]=data.charge`) and
`GET /v1/disputes` (filtered by `created[gte]`, newest first, paged by `limit` and `starting_after`), `GET /v1/checkout/sessions/{id}` (with `expand` of `subscription`, taken
from `subscriptions`, and `line_items`, taken from `checkout_line_items`, as Stripe expands them) and
`GET /v1/checkout/sessions/{id}/line_items` from dicts the test fills, answers unknown ids with Stripe's
404 error shape, and records every request (path, query, Authorization, Stripe-Version).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from urllib.parse import parse_qs, urlsplit

from tests.support.http_stub import serve


@dataclass
class StripeApiState:
    subscriptions: dict[str, dict] = field(default_factory=dict)
    invoices: dict[str, dict] = field(default_factory=dict)
    invoice_payments: list[dict] = field(default_factory=list)
    checkout_line_items: dict[str, list[dict]] = field(default_factory=dict)
    checkout_sessions: dict[str, dict] = field(default_factory=dict)
    refunds: list[dict] = field(default_factory=list)  # each with its charge object under "charge"
    disputes: list[dict] = field(default_factory=list)
    requests: list[dict] = field(default_factory=list)
    base_url: str = ""
    fail_with: int | None = None  # answer every request with this status (an outage)

    def paths(self) -> list[str]:
        return [r["path"] for r in self.requests]


def _not_found(kind: str, ident: str) -> tuple[int, dict]:
    return 404, {
        "error": {
            "code": "resource_missing",
            "message": f"No such {kind}: '{ident}'",
            "param": "id",
            "type": "invalid_request_error",
        }
    }


def _expanded(query: dict[str, list[str]]) -> set[str]:
    """The `expand` params however encoded: `expand[0]=a` (stripe-python), `expand[]=a`, `expand=a`."""
    return {value for key, values in query.items() if key == "expand" or key.startswith("expand[") for value in values}


def _line_items(state: StripeApiState, session_id: str) -> dict:
    return {
        "object": "list",
        "data": state.checkout_line_items.get(session_id, []),
        "has_more": False,
        "url": f"/v1/checkout/sessions/{session_id}/line_items",
    }


def _checkout_session(state: StripeApiState, session_id: str, expand: set[str]) -> tuple[int, dict]:
    found = state.checkout_sessions.get(session_id)
    if found is None:
        return _not_found("checkout.session", session_id)
    session = {key: value for key, value in found.items() if key != "line_items"}  # listed only when expanded
    subscription = session.get("subscription")
    if "subscription" in expand and isinstance(subscription, str) and subscription in state.subscriptions:
        session["subscription"] = state.subscriptions[subscription]
    if "line_items" in expand:
        session["line_items"] = _line_items(state, session_id)
    return 200, session


def _listed(items: list[dict], query: dict[str, list[str]], path: str, expand: set[str]) -> dict:
    """A Stripe list: `created[gte]`, newest first, `limit` per page after `starting_after`; an expanded
    `data.charge` stays the object, otherwise it is its id."""
    since = int((query.get("created[gte]") or ["0"])[0])
    found = sorted((i for i in items if i["created"] >= since), key=lambda i: (i["created"], i["id"]), reverse=True)
    after = (query.get("starting_after") or [None])[0]
    if after is not None:
        found = found[[i["id"] for i in found].index(after) + 1 :]
    limit = int((query.get("limit") or ["10"])[0])
    page = [
        {**i, "charge": i["charge"]["id"]} if isinstance(i.get("charge"), dict) and "data.charge" not in expand else i
        for i in found[:limit]
    ]
    return {"object": "list", "data": page, "has_more": len(found) > limit, "url": path}


def _handler(state: StripeApiState) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args) -> None:  # keep test output clean
            pass

        def do_GET(self) -> None:  # noqa: N802 - http.server's naming
            url = urlsplit(self.path)
            query = parse_qs(url.query)
            state.requests.append(
                {
                    "path": url.path,
                    "query": query,
                    "authorization": self.headers.get("Authorization"),
                    "stripe_version": self.headers.get("Stripe-Version"),
                }
            )
            parts = url.path.strip("/").split("/")
            status, body = 404, {"error": {"type": "invalid_request_error", "message": "Unrecognized request URL"}}
            if state.fail_with:
                status, body = state.fail_with, {"error": {"type": "api_error", "message": "Stripe is down"}}
            elif len(parts) == 3 and parts[:2] == ["v1", "subscriptions"]:
                found = state.subscriptions.get(parts[2])
                status, body = (200, found) if found else _not_found("subscription", parts[2])
            elif len(parts) == 3 and parts[:2] == ["v1", "invoices"]:
                found = state.invoices.get(parts[2])
                status, body = (200, found) if found else _not_found("invoice", parts[2])
            elif len(parts) == 5 and parts[:3] == ["v1", "checkout", "sessions"] and parts[4] == "line_items":
                found = state.checkout_line_items.get(parts[3])
                status, body = (
                    (200, {"object": "list", "data": found, "has_more": False, "url": self.path})
                    if found is not None
                    else _not_found("checkout session", parts[3])
                )
            elif len(parts) == 4 and parts[:3] == ["v1", "checkout", "sessions"]:
                status, body = _checkout_session(state, parts[3], _expanded(query))
            elif parts in (["v1", "refunds"], ["v1", "disputes"]):
                items = state.refunds if parts[1] == "refunds" else state.disputes
                status, body = 200, _listed(items, query, url.path, _expanded(query))
            elif parts == ["v1", "invoice_payments"]:
                intent = (query.get("payment[payment_intent]") or [None])[0]
                data = [p for p in state.invoice_payments if (p.get("payment") or {}).get("payment_intent") == intent]
                status, body = 200, {"object": "list", "data": data, "has_more": False, "url": "/v1/invoice_payments"}
            payload = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.send_header("Request-Id", f"req_test_{len(state.requests)}")
            self.end_headers()
            self.wfile.write(payload)

    return Handler


@contextmanager
def stripe_api_server() -> Iterator[StripeApiState]:
    state = StripeApiState()
    with serve(_handler(state), "stripe-api-stub") as base_url:
        state.base_url = base_url
        yield state
