"""Change events POSTed to the app's backend (WEBHOOK_URL): a local stack of its own, pointed at a tiny
backend in this process that fails its first request and accepts the next ones."""

from __future__ import annotations

import json
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tests.e2e.conftest import local_stack, stripe_event, wait_until
from tests.support import stripe as s
from tests.support.stripe import DAY

pytestmark = pytest.mark.e2e

AUTHORIZATION = "Bearer backend-e2e-secret"
EVENTBRIDGE_KEYS = ["version", "id", "detail-type", "source", "account", "time", "region", "resources", "detail"]


class Backend:
    """The app's backend: records every request; answers 503 to the first `failures`, then 200."""

    def __init__(self, failures: int = 1) -> None:
        self.requests: list[dict] = []
        self._lock = threading.Lock()
        backend = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with backend._lock:
                    status = 503 if len(backend.requests) < failures else 200
                    backend.requests.append(
                        {"at": time.monotonic(), "headers": dict(self.headers), "body": body, "status": status}
                    )
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/parity/events"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def received(self) -> list[dict]:
        with self._lock:
            return list(self.requests)

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture(scope="module")
def backend():
    server = Backend(failures=1)
    yield server
    server.close()


@pytest.fixture(scope="module")
def parity(tmp_path_factory, idp, backend):
    workdir = tmp_path_factory.mktemp("webhook-stack")
    with local_stack(workdir, idp, WEBHOOK_URL=backend.url, WEBHOOK_AUTHORIZATION=AUTHORIZATION) as stack:
        yield stack


def test_a_change_reaches_the_backend_as_the_eventbridge_event_with_its_header_retried_after_a_failure(
    parity, backend, ids, t0
):
    # GIVEN a backend whose first answer is a 503
    # WHEN a Stripe checkout gives a user "pro"
    end = int(time.time()) + 30 * DAY
    checkout = s.checkout_session(user_id=ids.user, subscription_id=ids.sub, customer=ids.customer)
    parity.deliver(stripe_event("checkout.session.completed", checkout, t0))
    subscription = s.subscription(ids.sub, "active", end, customer=ids.customer, user_id=None)
    parity.deliver(stripe_event("customer.subscription.created", subscription, t0 + 1))
    assert parity.read(ids.user)["entitlements"]["pro"]["active"] is True

    # THEN the backend receives the entitlement.changed event: refused once, sent again, accepted
    def for_user() -> list[dict]:
        return [r for r in backend.received() if json.loads(r["body"])["detail"].get("userId") == ids.user]

    requests = wait_until(lambda: [r for r in for_user() if r["status"] == 200] and for_user(), timeout=30)
    assert [r["status"] for r in requests] == [503, 200], [r["status"] for r in requests]
    first, retried = (json.loads(r["body"]) for r in requests)
    assert first == retried, "a retry sends the same event (same id)"
    assert retried["id"] and requests[1]["at"] - requests[0]["at"] >= 0.5, "retried after a backoff"

    for request in requests:
        headers = {name.lower(): value for name, value in request["headers"].items()}
        assert headers["authorization"] == AUTHORIZATION
        assert headers["content-type"].startswith("application/json")

    # exactly the EventBridge event JSON, one event per request
    event = retried
    assert list(event) == EVENTBRIDGE_KEYS
    assert event["version"] == "0" and event["source"] == "parity" and event["detail-type"] == "entitlement.changed"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", event["time"]), event["time"]
    assert event["region"] == "us-east-1" and event["resources"] == []
    detail = event["detail"]
    assert detail["userId"] == ids.user and detail["entitlement"] == "pro" and detail["changeId"]
    assert detail["old"] is None and detail["new"]["active"] is True and detail["new"]["state"] == "active"
    # the same event the change bus carried
    on_bus = [e for e in parity.request("GET", "/_local/changes").json["changes"] if e["id"] == event["id"]]
    assert len(on_bus) == 1 and on_bus[0]["detail"] == detail


def test_a_backend_answering_200_gets_each_later_change_once(parity, backend, ids, t0):
    end = int(time.time()) + 30 * DAY
    subscription = s.subscription(ids.sub, "active", end, customer=ids.customer, user_id=ids.user)
    parity.deliver(stripe_event("customer.subscription.created", subscription, t0))
    canceled = s.subscription(ids.sub, "canceled", end, customer=ids.customer, user_id=ids.user, ended_at=t0 + 2)
    parity.deliver(stripe_event("customer.subscription.deleted", canceled, t0 + 2))

    def changes() -> list[dict]:
        bodies = [json.loads(r["body"]) for r in backend.received()]
        return [b for b in bodies if b["detail"].get("userId") == ids.user and b["detail-type"] == "entitlement.changed"]

    events = wait_until(lambda: len(changes()) >= 2 and changes(), timeout=30)
    time.sleep(1.5)  # nothing more arrives: each event was delivered once
    events = changes()
    assert [e["detail"]["new"]["active"] for e in events] == [True, False]
    assert len({e["id"] for e in events}) == 2 and len({e["detail"]["changeId"] for e in events}) == 2
