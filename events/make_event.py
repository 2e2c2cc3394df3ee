"""Turn a sample in events/ into the Lambda event a function receives, signed now where the store signs.

    python events/make_event.py                # what it can make (this message)

    # Stripe (webhook function URL; the queue record the processor reads)
    STRIPE_WEBHOOK_SECRET=whsec_... python events/make_event.py stripe events/stripe/invoice.paid.json > /tmp/e.json
    sam local invoke StripeWebhookFunction -e /tmp/e.json
    python events/make_event.py sqs events/stripe/invoice.paid.json > /tmp/q.json
    sam local invoke EventProcessorFunction -e /tmp/q.json

    # App Store: a signed notification body, signed with a certificate chain generated for this run
    python events/make_event.py apple events/app_store/subscribed.json --root-out /tmp/root.pem > /tmp/a.json
    sam local invoke AppleWebhookFunction -e /tmp/a.json     # needs APPLE_ROOT_CERTS=/tmp/root.pem (below)

    # Google Play: a Pub/Sub push envelope with an OIDC bearer minted with a key generated for this run
    python events/make_event.py google events/play_store/subscription_purchased.json --certs-out /tmp/certs.json > /tmp/g.json
    sam local invoke GoogleWebhookFunction -e /tmp/g.json    # needs GOOGLE_OIDC_CERTS_URL serving /tmp/certs.json

    # App routes and admin routes (HTTP API payload 2.0): ready-made samples, or made with your ids
    sam local invoke ReceiptsFunction -e events/receipts_post.json
    python events/make_event.py receipts --user u_42 --body '{"store": "stripe", "checkoutSessionId": "cs_test_1"}'
    python events/make_event.py admin GET /v1/admin/users/u_42

Signatures are computed at the moment of use (Stripe's expire after 300 s, Apple's chain is generated per
run), never stored. App Store and Google Play events are signed with keys these commands generate, so a
function verifies them only when configured to trust those keys: `sam local invoke --env-vars` with
APPLE_ROOT_CERTS (the root written by --root-out, a path inside the container), APPLE_BUNDLE_ID
com.example.parity and APPLE_ENVIRONMENT Sandbox; or GOOGLE_OIDC_CERTS_URL (a URL serving the file written by
--certs-out), GOOGLE_PUBSUB_AUDIENCE and GOOGLE_PUBSUB_SERVICE_ACCOUNT as printed to stderr. A real
deployment trusts Apple's root and Google's keys only: these events are refused there, as they should be.
The App Store and Google Play commands need the dev venv (`make .venv/.installed`; PyJWT, cryptography).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "layers" / "common"))
sys.path.insert(0, str(ROOT))

from parity.services.ingest import queue_message  # noqa: E402
from parity.webhooks.stripe import compute_signature  # noqa: E402
from tests.support.lambda_events import function_url_event, request_context  # noqa: E402

REGION = "us-east-1"
ACCOUNT = "123456789012"
DAY_MS = 86_400_000
APP_ROUTES = {"receipts": ("POST", "/v1/users/{userId}/receipts"), "entitlements": ("GET", "/v1/users/{userId}/entitlements")}
OPERATOR_ARN = f"arn:aws:iam::{ACCOUNT}:user/operator"


def webhook_event(body: str, secret: str) -> dict:
    """Stripe's POST to the webhook's function URL, with a `Stripe-Signature` computed now."""
    timestamp = int(time.time())
    signature = compute_signature(secret, timestamp, body.encode())
    return function_url_event(body.encode(), {"stripe-signature": f"t={timestamp},v1={signature}"})


def sqs_event(body: str) -> dict:
    """The processor's SQS batch: one record holding the queue message the Stripe webhook would send."""
    event = json.loads(body)
    message = queue_message("stripe", event["id"], body.encode())
    return {
        "Records": [
            {
                "messageId": f"msg-{event['id']}",
                "receiptHandle": "handle",
                "body": message,
                "attributes": {
                    "ApproximateReceiveCount": "1",
                    "MessageGroupId": event["id"],
                    "MessageDeduplicationId": f"stripe:{event['id']}",
                    "SequenceNumber": "1",
                    "SentTimestamp": str(int(time.time() * 1000)),
                },
                "messageAttributes": {},
                "md5OfBody": "",
                "eventSource": "aws:sqs",
                "eventSourceARN": f"arn:aws:sqs:{REGION}:{ACCOUNT}:parity-store-events.fifo",
                "awsRegion": REGION,
            }
        ]
    }


def apple_notification(sample: dict, chain=None) -> dict:
    """A decoded notification sample made current (ids, dates) and signed as Apple signs: the
    transaction and renewal info inside, then the whole payload, ES256 with x5c = the chain."""
    from tests.support import apple

    chain = chain or apple.default_chain()
    now = apple.now_ms()
    payload = json.loads(json.dumps(sample))
    payload["notificationUUID"] = str(uuid.uuid4())
    payload["signedDate"] = now
    data = payload.setdefault("data", {})
    transaction = data.get("signedTransactionInfo")
    if isinstance(transaction, dict):
        transaction.setdefault("purchaseDate", now - 60_000)
        transaction.setdefault("originalPurchaseDate", transaction["purchaseDate"])
        transaction.setdefault("expiresDate", now + 30 * DAY_MS)
        transaction.setdefault("signedDate", now)
        data["signedTransactionInfo"] = apple.sign(transaction, chain)
    renewal = data.get("signedRenewalInfo")
    if isinstance(renewal, dict):
        renewal.setdefault("signedDate", now)
        renewal.setdefault("recentSubscriptionStartDate", now - 60_000)
        renewal.setdefault("renewalDate", now + 30 * DAY_MS)
        data["signedRenewalInfo"] = apple.sign(renewal, chain)
    body = json.dumps({"signedPayload": apple.sign(payload, chain)})
    return function_url_event(body.encode())


def google_push(notification: dict, authorization: str | None = None, key=None) -> dict:
    """Pub/Sub's push to the Google webhook's function URL: the envelope around the notification (made
    current), with `Authorization: Bearer <OIDC token>` minted for the test audience and service account."""
    from tests.support import google

    notification = {**notification, "eventTimeMillis": str(google.now_ms())}
    body = google.push_body(notification, message_id=str(int(time.time() * 1000)))
    authorization = authorization or google.bearer(google.mint_token(key))
    return function_url_event(body, {"authorization": authorization})


def http_api_event(method: str, route: str, params: dict, body: str | None = None, authorizer: dict | None = None) -> dict:
    path = route
    for name, value in params.items():
        path = path.replace("{" + name + "}", value)
    domain = "api.execute-api.us-east-1.amazonaws.com"
    event = {
        "version": "2.0",
        "routeKey": f"{method} {route}",
        "rawPath": path,
        "rawQueryString": "",
        "headers": {"accept": "application/json", "host": domain},
        "pathParameters": dict(params),
        "requestContext": request_context(method, path, domain, f"{method} {route}", authorizer=authorizer),
        "isBase64Encoded": False,
    }
    if body is not None:
        event["headers"]["content-type"] = "application/json"
        event["body"] = body
    return event


def app_event(method: str, route: str, user: str, body: str | None = None) -> dict:
    """An app route request that the API Gateway JWT authorizer let through with `sub` = the user."""
    claims = {"sub": user, "iss": "https://auth.example.com/", "aud": "parity-app"}
    event = http_api_event(method, route, {"userId": user}, body, {"jwt": {"claims": claims, "scopes": None}})
    event["headers"]["authorization"] = "Bearer <verified by the API Gateway JWT authorizer>"
    return event


def admin_event(method: str, path: str, body: str | None = None) -> dict:
    """An admin route request that the IAM authorizer let through as an operator."""
    from urllib.parse import unquote

    routes = {
        ("PUT", "purchases", "owner"): "/v1/admin/purchases/{purchaseId}/owner",
        ("POST", "users", "merge"): "/v1/admin/users/{userId}/merge",
        ("GET", "users", None): "/v1/admin/users/{userId}",
    }
    parts = path.strip("/").split("/")
    if len(parts) < 4 or parts[:2] != ["v1", "admin"]:
        raise SystemExit(f"not an admin route: {path} (see README, admin routes)")
    route = routes.get((method.upper(), parts[2], parts[4] if len(parts) > 4 else None))
    if route is None:
        raise SystemExit(f"no admin route {method} {path}; known: {', '.join(sorted(set(routes.values())))}")
    name = "purchaseId" if parts[2] == "purchases" else "userId"
    iam = {"accessKey": "AKIAEXAMPLE", "accountId": ACCOUNT, "callerId": "AIDAEXAMPLE", "userArn": OPERATOR_ARN, "userId": "AIDAEXAMPLE"}
    event = http_api_event(method.upper(), route, {name: unquote(parts[3])}, body, {"iam": iam})
    event["rawPath"] = event["requestContext"]["http"]["path"] = path
    return event


def _compact(path: str) -> str:
    return json.dumps(json.loads(Path(path).read_text()), separators=(",", ":"))


def parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python events/make_event.py",
        description="Make a Lambda event for `sam local invoke -e` from a sample in events/ (printed on stdout).",
        epilog="Samples: events/stripe/*.json, events/app_store/*.json, events/play_store/*.json; ready-made "
        "HTTP API events: events/entitlements_get.json, events/receipts_post.json, events/admin_*.json. "
        "More in the module docstring (events/make_event.py).",
    )
    commands = parser.add_subparsers(dest="kind", metavar="KIND")
    stripe = commands.add_parser(
        "stripe", aliases=["webhook"], help="Stripe webhook POST, signed now with $STRIPE_WEBHOOK_SECRET (StripeWebhookFunction)"
    )
    stripe.add_argument("sample", help="a Stripe event, e.g. events/stripe/invoice.paid.json")
    sqs = commands.add_parser("sqs", help="the queue record the processor reads for a Stripe event (EventProcessorFunction)")
    sqs.add_argument("sample", help="a Stripe event, e.g. events/stripe/invoice.paid.json")
    apple = commands.add_parser(
        "apple", help="App Store Server Notification, signed with a chain generated now (AppleWebhookFunction)"
    )
    apple.add_argument("sample", nargs="?", default=str(ROOT / "events" / "app_store" / "subscribed.json"))
    apple.add_argument("--root-out", metavar="FILE", help="write the chain's root (PEM) here, for APPLE_ROOT_CERTS")
    google = commands.add_parser(
        "google", help="Pub/Sub push of a Play notification, with an OIDC bearer minted now (GoogleWebhookFunction)"
    )
    google.add_argument("sample", nargs="?", default=str(ROOT / "events" / "play_store" / "subscription_purchased.json"))
    google.add_argument("--certs-out", metavar="FILE", help="write the signing key's certs (Google's v1 format) here")
    google.add_argument("--authorization", help="use this Authorization header value instead of minting a token")
    receipts = commands.add_parser("receipts", help="POST /v1/users/{userId}/receipts behind the JWT authorizer (ReceiptsFunction)")
    receipts.add_argument("--user", default="u_1")
    receipts.add_argument("--body", default='{"store": "app_store", "transactionId": "2000000123456789"}')
    entitlements = commands.add_parser(
        "entitlements", help="GET /v1/users/{userId}/entitlements behind the JWT authorizer (EntitlementsFunction)"
    )
    entitlements.add_argument("--user", default="u_1")
    admin = commands.add_parser("admin", help="an admin route behind the IAM authorizer (AdminFunction)")
    admin.add_argument("method", choices=["GET", "PUT", "POST"])
    admin.add_argument("path", help="e.g. /v1/admin/users/u_1 or /v1/admin/purchases/app_store:2000000123456789/owner")
    admin.add_argument("--body", help='JSON body, e.g. \'{"userId": "u_1"}\'')
    return parser


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if args.kind is None:
        parser().print_help(sys.stderr)
        return 2
    if args.kind in ("stripe", "webhook"):
        secret = os.environ.get("STRIPE_WEBHOOK_SECRET") or sys.exit("set STRIPE_WEBHOOK_SECRET (the stack's whsec_...)")
        event = webhook_event(_compact(args.sample), secret)
    elif args.kind == "sqs":
        event = sqs_event(_compact(args.sample))
    elif args.kind == "apple":
        from tests.support import apple

        chain = apple.make_chain()
        event = apple_notification(json.loads(Path(args.sample).read_text()), chain)
        if args.root_out:
            Path(args.root_out).write_bytes(chain.root_pem())
        print(
            f"signed with a chain generated now: the function verifies it only with APPLE_ROOT_CERTS="
            f"{args.root_out or '<its root: use --root-out FILE>'}, APPLE_BUNDLE_ID={apple.BUNDLE_ID}, "
            "APPLE_ENVIRONMENT=Sandbox",
            file=sys.stderr,
        )
    elif args.kind == "google":
        from tests.support import google

        key = google.signing_key(f"make-event-{uuid.uuid4().hex[:8]}")
        event = google_push(json.loads(Path(args.sample).read_text()), args.authorization, key)
        if args.certs_out:
            Path(args.certs_out).write_text(json.dumps(google.certs_document(key)))
        if not args.authorization:
            print(
                f"OIDC bearer minted with a key generated now: the function verifies it only with "
                f"GOOGLE_OIDC_CERTS_URL=<a URL serving {args.certs_out or 'its certs: use --certs-out FILE'}>, "
                f"GOOGLE_PUBSUB_AUDIENCE={google.AUDIENCE}, GOOGLE_PUBSUB_SERVICE_ACCOUNT={google.SERVICE_ACCOUNT}, "
                f"GOOGLE_PACKAGE_NAME={google.PACKAGE}",
                file=sys.stderr,
            )
    elif args.kind == "receipts":
        method, route = APP_ROUTES["receipts"]
        event = app_event(method, route, args.user, json.dumps(json.loads(args.body)))
    elif args.kind == "entitlements":
        method, route = APP_ROUTES["entitlements"]
        event = app_event(method, route, args.user)
    else:
        event = admin_event(args.method, args.path, json.dumps(json.loads(args.body)) if args.body else None)
    print(json.dumps(event, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
