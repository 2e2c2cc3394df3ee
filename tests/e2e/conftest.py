"""End-to-end tier: the local stack (`python -m local`) as a subprocess, driven over HTTP only.

One stack serves the whole session, configured as a deployment would be (no demo defaults): a
catalog file, the Stripe test secret, an App Store app (Sandbox) whose trusted root is one generated
at test time (`tests.support.apple`), a Google Play app whose Pub/Sub push tokens are checked against
a local certs endpoint (`tests.support.google`) and whose purchases are read from a local Play
Developer API with its token endpoint (`tests.support.play_api`, the service-account key file written
to the session's tmp), and an identity provider of our own (an RSA key whose JWKS a tiny in-thread
HTTP server publishes). The Google fakes run in this process, so tests script what Google says and
read back what Parity asked. Every test works on its own user, subscription and payment
ids, so tests never see each other's state. Local-only routes tell when an event was processed
(`/_local/events/...`) and what changes were published (`/_local/changes`). A module that needs
another configuration starts its own stack with `local_stack`.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

from tests.support import apple
from tests.support import google as push
from tests.support import stripe as fixtures
from tests.support.play_api import PlayApiState, generate_key, play_api_server

ROOT = Path(__file__).resolve().parents[2]
ISSUER = "https://auth.e2e.parity.test/"
AUDIENCE = "parity-e2e-app"
OFFLINE_GRACE_SECONDS = 3600
APPLE_MONTHLY = "com.example.pro.monthly"
PLAY_PACKAGE = push.PACKAGE
PLAY_MONTHLY = "pro_monthly"
PLAY_YEARLY = "pro_yearly"
PLAY_LIFETIME = "pro_lifetime"
PLAY_COINS = "coins_100"
APPLE_COINS = "com.example.coins.100"
APPLE_LIFETIME = "com.example.lifetime"
CATALOG = {
    "products": {
        "price_pro_monthly": ["pro"],
        "prod_pro": ["pro"],
        "price_lifetime": ["pro", "lifetime"],
        APPLE_MONTHLY: ["pro"],
        PLAY_MONTHLY: ["pro"],
        PLAY_YEARLY: ["pro"],
        PLAY_LIFETIME: ["pro", "lifetime"],
        APPLE_COINS: ["coins"],  # mapped, as a mistake would: a consumable grants nothing anyway
        PLAY_COINS: ["coins"],
        APPLE_LIFETIME: ["lifetime"],
    },
    "consumables": [PLAY_COINS],  # Google Play has no product type: the catalog names its consumables
}
STARTUP_TIMEOUT = 60
PROCESSING_TIMEOUT = 15
ADMIN_TOKEN = "e2e-admin-token"  # the stacks' ADMIN_TOKEN (admin routes: `Authorization: Bearer <it>`)


def wait_until(predicate: Callable[[], Any], timeout: float = PROCESSING_TIMEOUT, interval: float = 0.05) -> Any:
    """Polls until `predicate()` is truthy and returns that value; fails with the last value seen."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"not true within {timeout} s; last value: {value!r}")
        time.sleep(interval)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


# ------------------------------------------------------------------------------ identity provider


class IdentityProvider:
    """The app's auth server: signs user tokens, publishes its JWKS over HTTP."""

    KID = "e2e-key-1"
    EC_KID = "e2e-ec-key-1"

    def __init__(self) -> None:
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.ec_key = ec.generate_private_key(ec.SECP256R1())
        keys = [
            {**json.loads(RSAAlgorithm.to_jwk(self.key.public_key())), "kid": self.KID, "use": "sig", "alg": "RS256"},
            {
                **json.loads(ECAlgorithm.to_jwk(self.ec_key.public_key())),
                "kid": self.EC_KID,
                "use": "sig",
                "alg": "ES256",
            },
        ]
        document = json.dumps({"keys": keys}).encode()

        class Jwks(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self.send_response(200)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(document)))
                self.end_headers()
                self.wfile.write(document)

            def log_message(self, *args) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Jwks)
        self.jwks_url = f"http://127.0.0.1:{self._server.server_address[1]}/.well-known/jwks.json"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def token(self, sub: str, key=None, algorithm: str = "RS256", kid: str | None = KID, **claims) -> str:
        now = int(time.time())
        body = {"sub": sub, "iss": ISSUER, "aud": AUDIENCE, "iat": now, "exp": now + 600, **claims}
        body = {name: value for name, value in body.items() if value is not None}
        headers = {"kid": kid} if kid else {}
        return jwt.encode(body, key if key is not None else self.key, algorithm=algorithm, headers=headers)

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


# ----------------------------------------------------------------------------------- HTTP client


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    raw: bytes

    @property
    def json(self) -> Any:
        return json.loads(self.raw)

    def assert_error(self, status: int, code: str | None = None) -> dict:
        """The contract's error shape: {"error": {"code": "<snake_case>", "message": "<sentence>"}}."""
        assert self.status == status, (self.status, self.raw[:500])
        document = self.json
        assert set(document) == {"error"} and set(document["error"]) == {"code", "message"}, document
        assert document["error"]["code"].replace("_", "").isalpha() and document["error"]["code"].islower(), document
        assert isinstance(document["error"]["message"], str) and document["error"]["message"], document
        if code is not None:
            assert document["error"]["code"] == code, document
        return document["error"]


class Parity:
    """The running stack, seen from outside."""

    def __init__(self, base_url: str, idp: IdentityProvider, log_path: Path | None = None) -> None:
        self.base_url = base_url
        self.idp = idp
        self.log_path = log_path  # the stack process's captured stdout and stderr

    def log_text(self) -> str:
        """Everything the stack process has written so far (stdout and stderr, one file)."""
        return self.log_path.read_text(errors="replace") if self.log_path else ""

    def request(self, method: str, path: str, body: bytes | None = None, headers: dict | None = None) -> Reply:
        request = urllib.request.Request(self.base_url + path, data=body, method=method, headers=headers or {})
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return Reply(response.status, {k.lower(): v for k, v in response.headers.items()}, response.read())
        except urllib.error.HTTPError as error:
            return Reply(error.code, {k.lower(): v for k, v in error.headers.items()}, error.read())

    # -- Stripe

    def post_stripe(
        self,
        event: dict | None = None,
        *,
        body: bytes | None = None,
        secret: str = fixtures.SECRET,
        timestamp: int | None = None,
        signature: str | None = None,
    ) -> Reply:
        body = fixtures.encode(event) if body is None else body
        header = signature if signature is not None else fixtures.sign(body, secret, timestamp)
        return self.request(
            "POST", "/webhooks/stripe", body, {"Stripe-Signature": header, "Content-Type": "application/json"}
        )

    def stored_event(self, event_id: str, source: str = "stripe") -> Reply:
        return self.request("GET", f"/_local/events/{source}/{event_id}")

    def wait_processed(self, event_id: str, source: str = "stripe") -> dict:
        def processed():
            reply = self.stored_event(event_id, source)
            return reply.json if reply.status == 200 and reply.json.get("processedAt") else None

        return wait_until(processed)

    def deliver(self, event: dict) -> dict:
        """Posts a signed event, expects 200, waits until the processor is done with it; its outcome."""
        reply = self.post_stripe(event)
        assert reply.status == 200, (reply.status, reply.raw)
        return self.wait_processed(event["id"])

    # -- App Store

    def post_apple(self, body: bytes) -> Reply:
        """What Apple POSTs: `{"signedPayload": "<JWS>"}` (or any raw body)."""
        return self.request("POST", "/webhooks/apple", body, {"Content-Type": "application/json"})

    def deliver_apple(self, notification: dict, signer: apple.AppleSigner) -> dict:
        """Signs a decoded notification, posts it, expects 200, waits until processed; its outcome."""
        reply = self.post_apple(json.dumps({"signedPayload": signer.sign(notification)}).encode())
        assert reply.status == 200, (reply.status, reply.raw)
        return self.wait_processed(notification["notificationUUID"], "app_store")

    # -- Google Play

    def post_google(self, body: bytes, authorization: str | None = "mint") -> Reply:
        """What Pub/Sub POSTs: the push envelope, with a freshly minted OIDC token unless told otherwise
        (None: no Authorization header at all)."""
        authorization = push.bearer(push.mint_token()) if authorization == "mint" else authorization
        headers = {"Content-Type": "application/json", **({"Authorization": authorization} if authorization else {})}
        return self.request("POST", "/webhooks/google", body, headers)

    def deliver_google(self, notification: dict, message_id: str | None = None) -> dict:
        """Pushes a DeveloperNotification (a new Pub/Sub messageId unless given), expects 200, waits
        until the processor is done with it; its outcome."""
        message_id = message_id or push.new_message_id()
        reply = self.post_google(push.push_body(notification, message_id=message_id))
        assert reply.status == 200, (reply.status, reply.raw)
        return self.wait_processed(message_id, "play_store")

    def submit_receipt(self, user_id: str, body: bytes | dict, token: str | None = "own") -> Reply:
        token = self.idp.token(user_id) if token == "own" else token
        raw = json.dumps(body).encode() if isinstance(body, dict) else body
        headers = {"Content-Type": "application/json", **({"Authorization": f"Bearer {token}"} if token else {})}
        return self.request("POST", f"/v1/users/{user_id}/receipts", raw, headers)

    def bus_events(self, detail_type: str, user_id: str | None = None) -> list[dict]:
        """The details of the change-bus events of one detail type (`user.flagged_for_review`,
        `billing.double_billing_detected`, ...), for one user when given, oldest first."""
        events = self.request("GET", "/_local/changes").json["changes"]
        return [
            e["detail"]
            for e in events
            if e["detail-type"] == detail_type and (user_id is None or e["detail"].get("userId") == user_id)
        ]

    def changes(self, user_id: str) -> list[dict]:
        """The published entitlement.changed details for this user, oldest first."""
        events = self.request("GET", "/_local/changes").json["changes"]
        return [
            e["detail"]
            for e in events
            if e["detail-type"] == "entitlement.changed" and e["detail"]["userId"] == user_id
        ]

    # -- app routes

    def entitlements(self, user_id: str, token: str | None = "own", path_user: str | None = None) -> Reply:
        token = self.idp.token(user_id) if token == "own" else token
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return self.request("GET", f"/v1/users/{path_user or user_id}/entitlements", headers=headers)

    def read(self, user_id: str) -> dict:
        reply = self.entitlements(user_id)
        assert reply.status == 200, (reply.status, reply.raw)
        return reply.json

    # -- admin routes

    def admin(self, method: str, path: str, body: dict | bytes | None = None, token: str | None = ADMIN_TOKEN) -> Reply:
        """An admin route call, with `Authorization: Bearer <token>` (None: no Authorization header)."""
        raw = json.dumps(body).encode() if isinstance(body, dict) else body
        headers = {
            **({"Content-Type": "application/json"} if raw is not None else {}),
            **({"Authorization": f"Bearer {token}"} if token else {}),
        }
        return self.request(method, path, raw, headers)

    def assign_owner(self, purchase_id: str, user_id: str) -> Reply:
        return self.admin("PUT", f"/v1/admin/purchases/{purchase_id}/owner", {"userId": user_id})

    def merge(self, user_id: str, from_user_id: str) -> Reply:
        return self.admin("POST", f"/v1/admin/users/{user_id}/merge", {"fromUserId": from_user_id})

    def admin_report(self, user_id: str) -> dict:
        reply = self.admin("GET", f"/v1/admin/users/{user_id}")
        assert reply.status == 200, (reply.status, reply.raw)
        return reply.json


# ---------------------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="session")
def idp():
    provider = IdentityProvider()
    yield provider
    provider.close()


@pytest.fixture(scope="session")
def apple_signer() -> apple.AppleSigner:
    """Apple as the stack trusts it: a generated chain (its root is APPLE_ROOT_CERTS), Sandbox."""
    return apple.AppleSigner(environment="Sandbox")


@pytest.fixture(scope="session")
def google_certs() -> Iterator[push.CertsServerState]:
    """Google's OIDC certs endpoint, publishing the key `push.mint_token()` signs Pub/Sub tokens with."""
    with push.certs_server() as state:
        yield state


@pytest.fixture(scope="session")
def play_api() -> Iterator[PlayApiState]:
    """The Play Developer API and Google's token endpoint, as the stack's service account sees them."""
    with play_api_server(generate_key()) as state:
        yield state


WEB_ORIGIN = "https://app.example.com"  # the session stack's CORS_ALLOW_ORIGINS (with http://localhost:5173)

RETRY_SCHEDULE = {
    "RETRY_ERROR_BASE_SECONDS": "1",
    "RETRY_ERROR_MAX_SECONDS": "8",
    "RETRY_OUTAGE_BASE_SECONDS": "1",
    "RETRY_OUTAGE_MAX_SECONDS": "16",
}


def stack_environment(workdir: Path, idp: IdentityProvider, port: int, **settings: str) -> dict[str, str]:
    """The environment `python -m local` runs with in these tests: a deployment's configuration (the
    catalog written to `workdir`), the stack's state in `workdir/state`, plus `settings`."""
    catalog = workdir / "catalog.json"
    catalog.write_text(json.dumps(CATALOG))
    # A clean environment: nothing from the test process (or the shell) leaks into the stack's settings.
    env = {
        name: os.environ[name]
        for name in ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "SYSTEMROOT")
        if name in os.environ
    }
    env.update(
        PORT=str(port),
        PYTHONPATH=os.pathsep.join([str(ROOT / "layers" / "common"), str(ROOT)]),
        STRIPE_WEBHOOK_SECRET=fixtures.SECRET,
        CATALOG_FILE=str(catalog),
        AUTH_JWKS_URL=idp.jwks_url,
        AUTH_ISSUER=ISSUER,
        AUTH_AUDIENCE=f"some-other-app,{AUDIENCE}",
        OFFLINE_GRACE_SECONDS=str(OFFLINE_GRACE_SECONDS),
        ADMIN_TOKEN=ADMIN_TOKEN,
        # The stack's table and queues are kept here across its restarts, never in the checkout's
        # .parity/state: no test sees another's (or a developer's) state.
        PARITY_STATE_DIR=str(workdir / "state"),
        # Failed records come back on the processor's own backoff; compressed here (1, 2, 4, 8 s), as
        # on AWS it takes 15 s to a minute (an hour during a store outage).
        **{**RETRY_SCHEDULE, **settings},
    )
    return env


@contextmanager
def local_stack(workdir: Path, idp: IdentityProvider, **settings: str) -> Iterator[Parity]:
    """`python -m local` on a free port, configured as a deployment would be: the catalog, the Stripe
    test secret, the identity provider, plus `settings`. SIGTERM at the end must stop it cleanly (exit 0)
    with no failure in its log."""
    port = free_port()
    env = stack_environment(workdir, idp, port, **settings)
    log_path = workdir / "stack.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "local"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT
        )
    base_url = f"http://127.0.0.1:{port}"

    def log_tail() -> str:
        return "\n".join(log_path.read_text(errors="replace").splitlines()[-60:])

    def healthy() -> bool:
        if process.poll() is not None:
            raise AssertionError(f"the stack exited with {process.returncode} while starting:\n{log_tail()}")
        try:
            with urllib.request.urlopen(base_url + "/health", timeout=2) as response:
                return response.status == 200 and json.loads(response.read()) == {"status": "ok"}
        except OSError:
            return False

    started = time.monotonic()
    try:
        wait_until(healthy, timeout=STARTUP_TIMEOUT, interval=0.05)
    except BaseException:
        process.kill()
        raise
    print(f"\nlocal stack healthy after {time.monotonic() - started:.2f} s (log: {log_path})")
    try:
        yield Parity(base_url, idp, log_path)
    except BaseException:
        process.kill()
        process.wait()
        raise

    process.send_signal(signal.SIGTERM)
    try:
        code = process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        raise AssertionError(f"the stack did not stop within 20 s of SIGTERM:\n{log_tail()}") from None
    assert code == 0, f"the stack exited with {code} on SIGTERM:\n{log_tail()}"
    crashes = [
        line for line in log_path.read_text(errors="replace").splitlines() if "Traceback" in line or "crashed" in line
    ]
    assert not crashes, f"the stack logged failures:\n{log_tail()}"


@pytest.fixture(scope="session")
def parity(tmp_path_factory, idp, apple_signer, google_certs, play_api) -> Iterator[Parity]:
    """The session's stack: an App Store app and a Google Play app besides Stripe (no STRIPE_API_KEY)."""
    workdir = tmp_path_factory.mktemp("stack")
    with local_stack(
        workdir,
        idp,
        APPLE_BUNDLE_ID=apple_signer.bundle_id,
        APPLE_ENVIRONMENT="Sandbox",
        APPLE_ROOT_CERTS=str(apple_signer.chain.write_root(workdir)),
        GOOGLE_PACKAGE_NAME=PLAY_PACKAGE,
        GOOGLE_PUBSUB_AUDIENCE=push.AUDIENCE,
        GOOGLE_PUBSUB_SERVICE_ACCOUNT=push.SERVICE_ACCOUNT,
        GOOGLE_OIDC_CERTS_URL=google_certs.url,
        GOOGLE_API_BASE=play_api.base_url,
        GOOGLE_SERVICE_ACCOUNT_FILE=str(play_api.write_service_account(workdir / "play-service-account.json")),
        CORS_ALLOW_ORIGINS=f"{WEB_ORIGIN},http://localhost:5173",
    ) as stack:
        yield stack


@pytest.fixture
def ids() -> SimpleNamespace:
    """Fresh Stripe and Parity ids for one test."""
    tag = uuid.uuid4().hex[:12]
    return SimpleNamespace(
        user=f"u_{tag}",
        sub=f"sub_{tag}",
        customer=f"cus_{tag}",
        invoice=f"in_{tag}",
        invoice2=f"in2_{tag}",
        payment_intent=f"pi_{tag}",
        charge=f"ch_{tag}",
        dispute=f"dp_{tag}",
    )


@pytest.fixture
def t0() -> int:
    """A Stripe event time a few minutes ago; tests add seconds to it to order events."""
    return int(time.time()) - 300


def stripe_event(event_type: str, obj: dict, created: int) -> dict:
    """A Stripe event with an id unique to this run."""
    return fixtures.event(event_type, obj, created=created, event_id=f"evt_{uuid.uuid4().hex[:20]}")
