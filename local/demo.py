"""`make demo`: a Stripe subscription bought by a demo user, end to end, against a running stack.

Posts signed `checkout.session.completed`, `customer.subscription.created` and `invoice.paid` events
(as Stripe would, basil shapes) to `POST /webhooks/stripe`, waits until the stack has processed them,
gets a user token from the demo identity provider and prints the user's entitlements.

    make dev                    # in one terminal
    make demo                   # in another; PARITY_URL (default http://127.0.0.1:3000)

Standard library only. STRIPE_WEBHOOK_SECRET and the catalog must be the stack's: by default both
are the demo configuration's (whsec_parity_demo; price_pro_monthly grants `pro`).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import sys
import time
import urllib.error
import urllib.request
import uuid

DEMO_SECRET = "whsec_parity_demo"
DAY = 86400


def call(method: str, url: str, body: bytes | None = None, headers: dict | None = None) -> tuple[int, dict]:
    request = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"{}")


def stripe_event(event_type: str, obj: dict, created: int) -> dict:
    return {
        "id": f"evt_demo_{uuid.uuid4().hex[:16]}",
        "object": "event",
        "api_version": "2025-03-31.basil",
        "type": event_type,
        "created": created,
        "livemode": False,
        "data": {"object": obj},
    }


def signed(event: dict, secret: str) -> tuple[bytes, dict]:
    body = json.dumps(event, separators=(",", ":")).encode()
    t = int(time.time())
    digest = hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    return body, {"Stripe-Signature": f"t={t},v1={digest}", "Content-Type": "application/json"}


def demo_events(user_id: str, now: int) -> list[dict]:
    tag = uuid.uuid4().hex[:10]
    sub, customer, invoice = f"sub_demo_{tag}", f"cus_demo_{tag}", f"in_demo_{tag}"
    period_end = now + 30 * DAY
    subscription = {
        "id": sub,
        "object": "subscription",
        "status": "active",
        "customer": customer,
        "livemode": False,
        "cancel_at_period_end": False,
        "cancel_at": None,
        "ended_at": None,
        "metadata": {"user_id": user_id},
        "items": {
            "object": "list",
            "data": [
                {
                    "id": f"si_{tag}",
                    "object": "subscription_item",
                    "current_period_start": now,
                    "current_period_end": period_end,
                    "price": {"id": "price_pro_monthly", "object": "price", "product": "prod_pro"},
                }
            ],
        },
    }
    checkout = {
        "id": f"cs_test_demo_{tag}",
        "object": "checkout.session",
        "mode": "subscription",
        "client_reference_id": user_id,
        "customer": customer,
        "subscription": sub,
        "payment_status": "paid",
        "status": "complete",
        "livemode": False,
        "metadata": {},
    }
    paid = {
        "id": invoice,
        "object": "invoice",
        "status": "paid",
        "customer": customer,
        "livemode": False,
        "parent": {"type": "subscription_details", "subscription_details": {"subscription": sub, "metadata": {}}},
        "lines": {"object": "list", "data": [{"id": f"il_{tag}", "period": {"start": now, "end": period_end}}]},
    }
    return [
        stripe_event("checkout.session.completed", checkout, now - 2),
        stripe_event("customer.subscription.created", subscription, now - 1),
        stripe_event("invoice.paid", paid, now),
    ]


def main() -> int:
    base = os.environ.get("PARITY_URL", "http://127.0.0.1:3000").rstrip("/")
    secret = os.environ.get("STRIPE_WEBHOOK_SECRET") or DEMO_SECRET
    try:
        call("GET", f"{base}/health")
    except OSError:
        print(f"No Parity stack answers at {base}: start one with `make dev` (or set PARITY_URL).", file=sys.stderr)
        return 1

    user_id = f"u_demo_{uuid.uuid4().hex[:8]}"
    print(f"Demo user {user_id} buys price_pro_monthly with a Stripe checkout:")
    events = demo_events(user_id, int(time.time()))
    for event in events:
        body, headers = signed(event, secret)
        status, answer = call("POST", f"{base}/webhooks/stripe", body, headers)
        print(f"  POST /webhooks/stripe {event['type']:<32} -> {status} {json.dumps(answer)}")
        if status != 200:
            print("The stack refused the event: is STRIPE_WEBHOOK_SECRET the stack's?", file=sys.stderr)
            return 1

    deadline = time.monotonic() + 20
    pending = [event["id"] for event in events]
    while pending and time.monotonic() < deadline:
        status, answer = call("GET", f"{base}/_local/events/stripe/{pending[0]}")
        if status == 200 and answer.get("processedAt"):
            print(f"  processed {pending[0]}: {answer.get('outcome')}")
            pending.pop(0)
        else:
            time.sleep(0.1)
    if pending:
        print(f"Events not processed within 20 s: {pending} (see the stack's log).", file=sys.stderr)
        return 1

    status, answer = call("POST", f"{base}/_demo/token", json.dumps({"sub": user_id}).encode())
    if status != 200:
        print(
            "No demo token: the stack does not run the demo identity provider (AUTH_JWKS_URL is set).", file=sys.stderr
        )
        return 1
    token = answer["token"]
    status, entitlements = call(
        "GET", f"{base}/v1/users/{user_id}/entitlements", headers={"Authorization": f"Bearer {token}"}
    )
    print(f"\nGET /v1/users/{user_id}/entitlements -> {status}")
    print(json.dumps(entitlements, indent=2))
    print("\nTry it yourself:")
    print(f"  TOKEN={token}")
    print(f'  curl -s -H "Authorization: Bearer $TOKEN" {base}/v1/users/{user_id}/entitlements')
    print(f"  curl -s {base}/_local/changes")
    active = (entitlements.get("entitlements") or {}).get("pro", {}).get("active")
    return 0 if status == 200 and active else 1


if __name__ == "__main__":
    sys.exit(main())
