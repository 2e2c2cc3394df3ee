"""The web client guide's example (docs/clients/web/example.mjs) run with Node against the session's
stack: a Stripe Checkout made with its session parameters gives the user "pro", the example reads it with
the user's JWT and verifies `signedEntitlements` with `jose` against `/.well-known/jwks.json`.

`jose` is installed from npm by this module's set-up (`npm install` of docs/clients/web/package.json into
a temporary copy of the example), so a clean clone needs nothing but node and npm."""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import time
import uuid
from pathlib import Path

import pytest

from tests.e2e.conftest import ROOT, stripe_event
from tests.support import stripe as s
from tests.support.stripe import DAY

pytestmark = pytest.mark.e2e

EXAMPLE = ROOT / "docs" / "clients" / "web"
NETWORK_ERRORS = ("ENOTFOUND", "EAI_AGAIN", "ECONNREFUSED", "ETIMEDOUT", "ECONNRESET", "ENETUNREACH")
NOT_SIGNED = "signedEntitlements not served by this stack"


@pytest.fixture(scope="module")
def client(tmp_path_factory) -> Path:
    """A copy of the example with `jose` installed next to it (node resolves it from there)."""
    if shutil.which("node") is None or shutil.which("npm") is None:
        pytest.skip("node and npm are needed to run the web client example")
    workdir = tmp_path_factory.mktemp("web-client")
    for name in ("example.mjs", "package.json"):
        shutil.copy(EXAMPLE / name, workdir / name)
    done = subprocess.run(
        ["npm", "install", "--prefix", str(workdir), "--no-audit", "--no-fund", "--loglevel=error"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    if done.returncode != 0 and any(code in done.stderr for code in NETWORK_ERRORS):
        pytest.skip(f"npm could not reach its registry to install jose: {done.stderr.strip()[-300:]}")
    assert done.returncode == 0, done.stderr
    assert (workdir / "node_modules" / "jose" / "package.json").exists()
    return workdir


def node(client: Path, *args: str, token: str | None = None, stdin: str | None = None, expect: int = 0):
    env = {name: os.environ[name] for name in ("PATH", "HOME", "LANG") if name in os.environ}
    if token:
        env["PARITY_TOKEN"] = token
    done = subprocess.run(
        ["node", str(client / "example.mjs"), *args], input=stdin, capture_output=True, text=True, env=env, timeout=60
    )
    assert done.returncode == expect, (done.returncode, done.stdout, done.stderr)
    return json.loads(done.stdout) if expect == 0 else done.stderr


@pytest.fixture(scope="module")
def buyer(client, parity):
    """A user who bought "pro" through a Checkout session made with the example's parameters."""
    tag = uuid.uuid4().hex[:12]
    user, sub, customer = f"u_web_{tag}", f"sub_web_{tag}", f"cus_web_{tag}"
    params = node(client, "checkout-params", "price_pro_monthly", user)
    assert params["client_reference_id"] == user and params["mode"] == "subscription"
    t0, end = int(time.time()) - 300, int(time.time()) + 30 * DAY
    checkout = s.checkout_session(user_id=params["client_reference_id"], subscription_id=sub, customer=customer)
    parity.deliver(stripe_event("checkout.session.completed", checkout, t0))
    metadata_user = params["subscription_data"]["metadata"]["user_id"]
    subscription = s.subscription(sub, "active", end, customer=customer, user_id=metadata_user)
    parity.deliver(stripe_event("customer.subscription.created", subscription, t0 + 1))
    return user


def test_the_example_reads_the_entitlements_of_a_stripe_checkout(client, parity, buyer):
    result = node(client, "read", parity.base_url, buyer, token=parity.idp.token(buyer))
    assert result["active"] == ["pro"]
    answer = result["answer"]
    assert answer["userId"] == buyer and answer["entitlements"]["pro"]["store"] == "stripe"
    assert answer["cacheUntil"] > answer["requestDate"]
    if "signedEntitlements" in answer:  # the example verified it before answering
        assert result["verified"]["sub"] == buyer


def test_the_example_is_refused_another_users_entitlements(client, parity, buyer):
    error = node(client, "read", parity.base_url, buyer, token=parity.idp.token("u_someone_else"), expect=1)
    assert error.startswith("ParityError: 403"), error


def test_the_example_verifies_signed_entitlements_with_jose(client, parity, buyer):
    answer = parity.read(buyer)
    if not answer.get("signedEntitlements"):
        pytest.skip(NOT_SIGNED)
    signed = answer["signedEntitlements"]
    # GIVEN the answer's compact JWS, verified by the example against /.well-known/jwks.json
    verified = node(client, "verify", parity.base_url, buyer, stdin=signed)["verified"]
    # THEN its payload is the contract's
    assert verified["sub"] == buyer and isinstance(verified["iat"], int) and isinstance(verified["exp"], int)
    pro = verified["entitlements"]["pro"]
    assert pro["active"] is True and pro["state"] == "active" and pro["store"] == "stripe"
    assert set(pro) == {"active", "state", "expiresAt", "store", "environment"}
    cache_until = time.mktime(time.strptime(answer["cacheUntil"], "%Y-%m-%dT%H:%M:%SZ")) - time.timezone
    assert abs(verified["exp"] - cache_until) <= 1
    # AND a token for another user, or a tampered one, is refused
    node(client, "verify", parity.base_url, "u_someone_else", stdin=signed, expect=1)
    header, payload, signature = signed.split(".")
    forged = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    forged["entitlements"]["lifetime"] = {**pro}
    forged_payload = base64.urlsafe_b64encode(json.dumps(forged).encode()).decode().rstrip("=")
    node(client, "verify", parity.base_url, buyer, stdin=f"{header}.{forged_payload}.{signature}", expect=1)
