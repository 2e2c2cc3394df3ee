"""`make demo`: a subscription bought by a demo user in each store, end to end, against a running stack.

- Stripe: signed `checkout.session.completed`, `customer.subscription.created` and `invoice.paid` events
  (as Stripe sends them, basil shapes) posted to `POST /webhooks/stripe`.
- App Store: a `SUBSCRIBED` notification carrying the user's appAccountToken, signed with the demo
  chain the stack generated and trusts (`POST /_demo/apple/sign`), posted to `POST /webhooks/apple`.
- Google Play: a subscription recorded in the stack's Play Developer API imitation and the Pub/Sub push
  Google would send, OIDC bearer included (`POST /_demo/google/purchase`), posted to `POST /webhooks/google`.

For each, it waits until the stack has processed the events, gets a user token from the demo identity
provider and prints the user's entitlements.

    make dev                         # in one terminal (PORT=3100 make dev: another port)
    make demo                        # in another: all three stores
    make demo STORE=app_store        # one of stripe, app_store, play_store (comma-separated for several)

Which stack: PARITY_URL if set, else http://127.0.0.1:$PORT if PORT is set, else the `baseUrl` in the
connection file the running stack wrote (.parity/local.json, or $PARITY_LOCAL_FILE), else port 3000.

Standard library only. STRIPE_WEBHOOK_SECRET and the catalog must be the stack's: by default both are the
demo configuration's (whsec_parity_demo; price_pro_monthly, com.example.pro.monthly and pro_monthly grant
`pro`). The App Store and Google Play demos need the demo configuration's stores (APPLE_BUNDLE_ID,
GOOGLE_PACKAGE_NAME and AUTH_JWKS_URL unset); a store configured for real is skipped.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import os
import sys
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

from local.connection import connection_file_path, pid_alive

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


STORES = ("stripe", "app_store", "play_store")
ROOT = Path(__file__).resolve().parent.parent
APPLE_SAMPLE = ROOT / "events" / "app_store" / "subscribed.json"
APPLE_PRODUCT = "com.example.pro.monthly"
PLAY_PRODUCT = "pro_monthly"
WAIT_SECONDS = 20


class Refused(Exception):
    """A step of a store's demo did not go as it should; the message says what to check."""


class Skipped(Exception):
    """The stack does not run this store's demo configuration."""


def base_url(environ=os.environ) -> str:
    """PARITY_URL, else PORT, else the running stack's connection file, else the default port."""
    if environ.get("PARITY_URL"):
        return environ["PARITY_URL"].rstrip("/")
    if environ.get("PORT"):
        return f"http://127.0.0.1:{environ['PORT']}"
    path = connection_file_path(environ)
    try:
        document = json.loads(path.read_text())
        if isinstance(document, dict) and pid_alive(document.get("pid")) and document.get("baseUrl"):
            return str(document["baseUrl"]).rstrip("/")
    except (OSError, ValueError):
        pass
    return "http://127.0.0.1:3000"


def wait_processed(base: str, source: str, event_ids: list[str]) -> None:
    deadline = time.monotonic() + WAIT_SECONDS
    pending = list(event_ids)
    while pending and time.monotonic() < deadline:
        status, answer = call("GET", f"{base}/_local/events/{source}/{pending[0]}")
        if status == 200 and answer.get("processedAt"):
            print(f"  processed {pending[0]}: {answer.get('outcome')}")
            pending.pop(0)
        else:
            time.sleep(0.1)
    if pending:
        raise Refused(f"events not processed within {WAIT_SECONDS} s: {pending} (see the stack's log)")


def user_token(base: str, user_id: str) -> str:
    status, answer = call("POST", f"{base}/_demo/token", json.dumps({"sub": user_id}).encode())
    if status != 200:
        raise Refused("no demo token: the stack does not run the demo identity provider (AUTH_JWKS_URL is set)")
    return answer["token"]


def entitlements(base: str, user_id: str, token: str) -> tuple[int, dict]:
    return call("GET", f"{base}/v1/users/{user_id}/entitlements", headers={"Authorization": f"Bearer {token}"})


def demo_stripe(base: str, user_id: str, token: str) -> None:
    secret = os.environ.get("STRIPE_WEBHOOK_SECRET") or DEMO_SECRET
    print(f"Demo user {user_id} buys price_pro_monthly with a Stripe checkout:")
    events = demo_events(user_id, int(time.time()))
    for event in events:
        body, headers = signed(event, secret)
        status, answer = call("POST", f"{base}/webhooks/stripe", body, headers)
        print(f"  POST /webhooks/stripe {event['type']:<32} -> {status} {json.dumps(answer)}")
        if status != 200:
            raise Refused("the stack refused the event: is STRIPE_WEBHOOK_SECRET the stack's?")
    wait_processed(base, "stripe", [event["id"] for event in events])


def apple_sign(base: str, payload: dict) -> str:
    status, answer = call("POST", f"{base}/_demo/apple/sign", json.dumps(payload).encode())
    if status == 404:
        raise Skipped("the stack's App Store is not the demo one (APPLE_BUNDLE_ID or AUTH_JWKS_URL is set)")
    if status != 200:
        raise Refused(f"POST /_demo/apple/sign -> {status} {json.dumps(answer)}")
    return answer["jws"]


def demo_app_store(base: str, user_id: str, token: str) -> None:
    account_token = _account_token(base, user_id, token)
    print(f"Demo user {user_id} subscribes to {APPLE_PRODUCT} in the demo iOS app (appAccountToken {account_token}):")
    now = int(time.time() * 1000)
    notification = json.loads(APPLE_SAMPLE.read_text())  # the sample of events/, made current
    transaction_id = str(2_000_000_000_000_000 + now % 1_000_000_000_000)
    data = notification["data"]
    transaction = {
        **data["signedTransactionInfo"],
        "transactionId": transaction_id,
        "originalTransactionId": transaction_id,
        "webOrderLineItemId": str(int(transaction_id) + 1),
        "productId": APPLE_PRODUCT,
        "appAccountToken": account_token,
        "purchaseDate": now - 60_000,
        "originalPurchaseDate": now - 60_000,
        "expiresDate": now + 30 * DAY * 1000,
        "signedDate": now,
    }
    renewal = {
        **data["signedRenewalInfo"],
        "originalTransactionId": transaction_id,
        "appAccountToken": account_token,
        "signedDate": now,
        "recentSubscriptionStartDate": now - 60_000,
        "renewalDate": now + 30 * DAY * 1000,
    }
    data["signedTransactionInfo"] = apple_sign(base, transaction)
    data["signedRenewalInfo"] = apple_sign(base, renewal)
    notification.update(notificationUUID=str(uuid.uuid4()), signedDate=now)
    body = json.dumps({"signedPayload": apple_sign(base, notification)}).encode()
    status, answer = call("POST", f"{base}/webhooks/apple", body, {"Content-Type": "application/json"})
    print(f"  POST /webhooks/apple SUBSCRIBED/INITIAL_BUY (signed by the demo chain) -> {status} {json.dumps(answer)}")
    if status != 200:
        raise Refused("the stack refused the notification")
    wait_processed(base, "app_store", [notification["notificationUUID"]])


def demo_play_store(base: str, user_id: str, token: str) -> None:
    account_token = _account_token(base, user_id, token)
    print(f"Demo user {user_id} subscribes to {PLAY_PRODUCT} in the demo Android app (obfuscatedExternalAccountId {account_token}):")
    request = json.dumps({"obfuscatedExternalAccountId": account_token, "productId": PLAY_PRODUCT}).encode()
    status, push = call("POST", f"{base}/_demo/google/purchase", request)
    if status == 404:
        raise Skipped("the stack's Google Play is not the demo one (GOOGLE_PACKAGE_NAME or AUTH_JWKS_URL is set)")
    if status != 200:
        raise Refused(f"POST /_demo/google/purchase -> {status} {json.dumps(push)}")
    headers = {"Content-Type": "application/json", "Authorization": push["authorization"]}
    status, answer = call("POST", f"{base}/webhooks/google", push["body"].encode(), headers)
    print(f"  POST /webhooks/google SUBSCRIPTION_PURCHASED (Pub/Sub push, OIDC bearer) -> {status} {json.dumps(answer)}")
    if status not in (200, 204):
        raise Refused("the stack refused the push")
    wait_processed(base, "play_store", [push["messageId"]])


def _account_token(base: str, user_id: str, token: str) -> str:
    """The appAccountToken Parity issued the user: apps hand it to StoreKit and Play Billing."""
    status, answer = entitlements(base, user_id, token)
    if status != 200 or not answer.get("appAccountToken"):
        raise Refused(f"GET /v1/users/{user_id}/entitlements -> {status} {json.dumps(answer)}")
    return answer["appAccountToken"]


DEMOS = {"stripe": demo_stripe, "app_store": demo_app_store, "play_store": demo_play_store}


def run(base: str, store: str) -> tuple[bool, str]:
    """One store's demo for a fresh user; (passed, token) (token: for the curl lines)."""
    user_id = f"u_demo_{uuid.uuid4().hex[:8]}"
    token = user_token(base, user_id)
    DEMOS[store](base, user_id, token)
    status, answer = entitlements(base, user_id, token)
    print(f"\nGET /v1/users/{user_id}/entitlements -> {status}")
    print(json.dumps(answer, indent=2))
    pro = (answer.get("entitlements") or {}).get("pro", {})
    if status != 200 or not pro.get("active") or pro.get("store") != store:
        raise Refused(f"{user_id} has no active `pro` from {store}")
    print("\nTry it yourself:")
    print(f"  TOKEN={token}")
    print(f'  curl -s -H "Authorization: Bearer $TOKEN" {base}/v1/users/{user_id}/entitlements')
    print(f"  curl -s {base}/_local/changes\n")
    return True, token


def stores(value: str) -> list[str]:
    chosen = [s.strip() for s in value.split(",") if s.strip()]
    if chosen in ([], ["all"]):
        return list(STORES)
    unknown = [s for s in chosen if s not in STORES]
    if unknown:
        raise argparse.ArgumentTypeError(f"unknown store {', '.join(unknown)}: choose from {', '.join(STORES)} or all")
    return chosen


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make demo", description="A subscription in each store, end to end, against a running local stack.")
    parser.add_argument(
        "--store",
        type=stores,
        default=stores(os.environ.get("STORE") or "all"),
        help="stripe, app_store, play_store (comma-separated) or all (default; STORE=... with make)",
    )
    args = parser.parse_args(argv)
    base = base_url()
    try:
        call("GET", f"{base}/health")
    except OSError:
        print(
            f"No Parity stack answers at {base}: start one with `make dev` (or set PARITY_URL, or PORT).",
            file=sys.stderr,
        )
        return 1
    print(f"Parity stack at {base}\n")
    failed, skipped = [], []
    for store in args.store:
        print(f"=== {store} ===")
        try:
            run(base, store)
        except Skipped as reason:
            print(f"  skipped: {reason}\n", file=sys.stderr)
            skipped.append(store)
        except Refused as reason:
            print(f"  {store} demo failed: {reason}\n", file=sys.stderr)
            failed.append(store)
    done = [s for s in args.store if s not in failed and s not in skipped]
    print(f"demo: {', '.join(done) or 'none'} passed" + (f"; skipped {', '.join(skipped)}" if skipped else "")
          + (f"; FAILED {', '.join(failed)}" if failed else ""))
    return 1 if failed or not done else 0


if __name__ == "__main__":
    sys.exit(main())
