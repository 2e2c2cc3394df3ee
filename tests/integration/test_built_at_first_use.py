"""What only some requests need is built at its first use, once per container (`parity.lazy`), and a bad
configuration is reported as before: at cold start when it always was, as `not_configured` where App
Store data used to be refused.

- receipts: the App Store verifier (`cryptography.x509`, the trusted roots) at the first App Store
  receipt, Stripe's SDK at the first Stripe receipt, the SQS client when a receipt must be retried;
- reconcile and the event processor: the redelivery queue's client at the first failed record; the
  reconcile worker's App Store verifier and change publisher at the first check or repair needing them;
- admin: the DLQ clients, the reconcile queue, the publisher and the signing key at the first route
  using them.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from parity.lazy import is_built
from parity.settings import ConfigurationError
from tests.support import apple as fx
from tests.support import stripe as s
from tests.support.harness import load_function, running_stack
from tests.support.signing import write_key
from tests.support.stripe_api import stripe_api_server

ROOT = Path(__file__).resolve().parents[2]
DAY = fx.DAY_MS
SANDBOX = {"APPLE_BUNDLE_ID": fx.BUNDLE_ID, "APPLE_ENVIRONMENT": "Sandbox"}

# Imports `functions/<name>/app.py` as Lambda does, then tells what it loaded and built.
_COLD = """
import json, runpy, sys
from parity.lazy import is_built
app = runpy.run_path("functions/{name}/app.py")
print(json.dumps({{
    "x509": "cryptography.x509" in sys.modules,
    "stripe": "stripe" in sys.modules,
    "built": {{key: is_built(value) for key, value in {parts}}},
}}))
"""


def cold_start(name: str, parts: str, tmp_path: Path, **extra: str) -> dict:
    env = {
        "PATH": "/usr/bin:/bin",
        "PYTHONPATH": f"{ROOT / 'layers' / 'common'}:{ROOT}",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_CONFIG_FILE": "/dev/null",
        "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
        "TABLE_NAME": "parity-test",
        "EVENTS_QUEUE_URL": "https://sqs.us-east-1.amazonaws.com/123456789012/parity-store-events.fifo",
        "RECONCILE_QUEUE_URL": "https://sqs.us-east-1.amazonaws.com/123456789012/parity-reconcile",
        "EVENT_BUS_NAME": "parity-changes",
        "CATALOG_FILE": str(ROOT / "layers" / "common" / "catalog.json"),
        "STRIPE_WEBHOOK_SECRET": "whsec_test",
        "STRIPE_API_KEY": "sk_test_first_use",
        "APPLE_BUNDLE_ID": fx.BUNDLE_ID,
        "APPLE_ENVIRONMENT": "Sandbox",
        "APPLE_ROOT_CERTS": str(fx.default_chain().write_root(tmp_path, pem=False)),
        "ENTITLEMENT_SIGNING_KEY_FILE": str(write_key(tmp_path)),
        "POWERTOOLS_TRACE_DISABLED": "true",
        **extra,
    }
    code = _COLD.format(name=name, parts=parts)
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


# -- (a) not built at import -----------------------------------------------------------------------------


def test_the_receipts_function_starts_without_x509_stripe_or_the_retry_queue(tmp_path):
    service = "app['receipts']"
    parts = f'{{"verifier": {service}._verifier, "queue": {service}._queue, "stripe": {service}._stripe}}.items()'

    started = cold_start("receipts", parts, tmp_path)

    assert started == {"x509": False, "stripe": False, "built": {"verifier": False, "queue": False, "stripe": False}}


def test_the_queue_consumers_start_without_their_retry_queue_or_x509(tmp_path):
    for name, parts in [
        ("reconcile", '{"retry_queue": app["redelivery"]._queue, "app_store_verifier": app["reconciler"]._app_store}.items()'),
        ("event_processor", '{"retry_queue": app["redelivery"]._queue, "stripe": app["service"]._stripe}.items()'),
    ]:
        started = cold_start(name, parts, tmp_path)
        assert not started["x509"] and not started["stripe"], name
        assert not started["built"]["retry_queue"], name


def test_the_admin_function_starts_without_its_queues_publisher_or_signing_key(tmp_path):
    ops = "app['operations']"
    parts = (
        f'{{"dlqs": {ops}._dlqs, "reconcile_queue": {ops}._reconcile, "publisher": app["publisher"], '
        f'"signer": app["signer"]}}.items()'
    )
    started = cold_start(
        "admin",
        parts,
        tmp_path,
        EVENTS_DLQ_URL="https://sqs.us-east-1.amazonaws.com/123456789012/parity-store-events-dlq.fifo",
    )

    assert set(started["built"].values()) == {False}


# -- (b) built at the first use, then reused ----------------------------------------------------------------


def subscription(signer, original: str) -> dict:
    now = fx.now_ms()
    return signer.transaction(originalTransactionId=original, transactionId=original, expiresDate=now + 30 * DAY, signedDate=now)


def test_the_app_store_verifier_is_built_at_the_first_app_store_receipt_and_kept(tmp_path):
    signer = fx.AppleSigner(environment="Sandbox")
    env = {"APPLE_BUNDLE_ID": signer.bundle_id, "APPLE_ENVIRONMENT": "Sandbox", "APPLE_ROOT_CERTS": str(signer.chain.write_root(tmp_path))}
    with running_stack(catalog_dir=tmp_path, env=env) as stack:
        service = stack.function("receipts").receipts
        assert not is_built(service._verifier)

        first = stack.submit_receipt("u_lazy1", {"store": "app_store", "signedTransaction": signer.sign(subscription(signer, "4100000000000001"))})
        verifier = service._verifier.built()
        second = stack.submit_receipt("u_lazy2", {"store": "app_store", "signedTransaction": signer.sign(subscription(signer, "4100000000000002"))})

        assert (first.status, second.status) == (200, 200)
        assert service._verifier.built() is verifier
        assert verifier.chain_validations == 1  # the one chain validated once: the same verifier served both
        assert not is_built(service._queue)  # nothing had to be retried


def test_stripe_sdk_is_built_at_the_first_stripe_receipt_and_the_queue_when_one_must_wait(tmp_path):
    with stripe_api_server() as api, running_stack(catalog_dir=tmp_path, env={"STRIPE_API_KEY": "sk_test_lazy", "STRIPE_API_BASE": api.base_url}) as stack:
        service = stack.function("receipts").receipts
        assert not is_built(service._stripe) and not is_built(service._queue)
        sub = "sub_lazy1"
        api.subscriptions[sub] = s.subscription(sub, "active", int(time.time()) + 30 * s.DAY, customer="cus_lazy1", user_id=None)
        session = s.checkout_session(user_id="u_lazy", subscription_id=sub, customer="cus_lazy1")
        api.checkout_sessions[session["id"]] = session

        assert stack.submit_receipt("u_lazy", {"store": "stripe", "checkoutSessionId": session["id"]}).status == 200
        client = service._stripe.built()
        assert not is_built(service._queue)

        api.fail_with = 503  # Stripe down: the receipt waits on the queue, whose client is made now
        assert stack.submit_receipt("u_lazy", {"store": "stripe", "checkoutSessionId": session["id"]}).status == 202
        assert is_built(service._queue) and stack.queue_depth() == 1
        assert service._stripe.built() is client


def test_admin_routes_build_what_they_use_at_their_first_call(tmp_path):
    with running_stack(catalog_dir=tmp_path) as stack:
        admin = stack.function("admin")
        assert not is_built(admin.signer) and not is_built(admin.publisher)

        assert stack.admin("GET", "/v1/admin/users/{userId}", userId="u_nobody").status in (200, 404)
        assert not is_built(admin.signer) and not is_built(admin.publisher)

        granted = stack.admin(
            "POST", "/v1/admin/users/{userId}/grants", {"entitlement": "pro", "expiresAt": "2099-01-01T00:00:00Z", "reason": "test"}, userId="u_granted"
        )
        assert granted.status == 201 and is_built(admin.publisher) and not is_built(admin.signer)

        answer = stack.admin("GET", "/v1/admin/users/{userId}/entitlements", userId="u_granted")
        assert answer.status == 200 and "signedEntitlements" in answer.body and is_built(admin.signer)


# -- (c) configuration errors, as before ---------------------------------------------------------------------


def test_a_root_file_that_is_no_certificate_refuses_app_store_receipts_from_the_cold_start(tmp_path):
    root = tmp_path / "root.pem"
    root.write_bytes(b"not a certificate")
    with running_stack(catalog_dir=tmp_path, env={**SANDBOX, "APPLE_ROOT_CERTS": str(root)}) as stack:
        service = stack.function("receipts").receipts
        assert service._verifier is None and "APPLE_ROOT_CERTS" in service._apple_unavailable

        response = stack.submit_receipt("u_nocfg", {"store": "app_store", "signedTransaction": "a.b.c"})

    assert (response.status, response.body["error"]["code"]) == (503, "not_configured")


def test_a_root_file_that_only_looks_like_a_certificate_refuses_app_store_receipts_at_the_first(tmp_path, caplog):
    root = tmp_path / "root.pem"
    root.write_bytes(b"-----BEGIN CERTIFICATE-----\nxx\n-----END CERTIFICATE-----\n")
    with running_stack(catalog_dir=tmp_path, env={**SANDBOX, "APPLE_ROOT_CERTS": str(root)}) as stack:
        stack.function("receipts")
        assert not refusals(caplog)  # the roots are parsed at the first App Store item
        answers = [stack.submit_receipt("u_badroot", {"store": "app_store", "signedTransaction": "a.b.c"}) for _ in range(2)]

    for response in answers:
        assert (response.status, response.body["error"]["code"]) == (503, "not_configured")
        assert "configured" in response.body["error"]["message"]
    assert len(refusals(caplog)) == 2  # the reason is logged, as at a cold start (and the build tried again)


def refusals(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if "App Store data will be refused" in r.getMessage()]


@pytest.mark.parametrize(
    ("name", "env", "match"),
    [
        ("receipts", {**SANDBOX, "APPLE_KEY_ID": "KEY1234567"}, "App Store Server API credentials incomplete"),
        ("reconcile", {**SANDBOX, "APPLE_KEY_ID": "KEY1234567"}, "App Store Server API credentials incomplete"),
        ("admin", {"ENTITLEMENT_SIGNING_KEY_FILE": ""}, "ENTITLEMENT_SIGNING_KEY_FILE"),
        ("receipts", {"EVENTS_QUEUE_URL": ""}, "EVENTS_QUEUE_URL"),
        ("reconcile", {"EVENT_BUS_NAME": ""}, "EVENT_BUS_NAME"),
    ],
)
def test_a_bad_configuration_still_fails_the_cold_start(tmp_path, name, env, match):
    with running_stack(catalog_dir=tmp_path, env=env), pytest.raises(ConfigurationError, match=match):
        load_function(name)
