"""Parity benchmarks: (1) cold import time of each function, (2) App Store signed-data verification
throughput, (3) AWS calls per operation.

    PYTHONPATH=layers/common:. .venv/bin/python bench/run.py [--runs 15] [--seconds 2] [--write]
        [--only cold|verify|calls] [--compare-python /path/to/python-with-app-store-server-library]

(1) Every `functions/*/app.py` (discovered) is imported by path in N fresh `python -c` processes (as the
Lambda runtime does) and the import is timed with `time.perf_counter()` inside the process. The
baseline is `bench/baseline_handler.py`: `import boto3` and one `boto3.client("dynamodb")`. Runs are
interleaved across targets, after one discarded warm-up each (byte code and page cache warm). The
environment is the template's, App Store included (APPLE_BUNDLE_ID, APPLE_ENVIRONMENT=Sandbox and a
generated root in APPLE_ROOT_CERTS): functions that build the App Store verifier at import measure
that configured path, and the warm-up run checks that a verifier was built. The heaviest top-level
imports come from one `python -X importtime` run per function.

(2) `SignedDataVerifier` on generated Apple-shaped chains: notifications (three JWS each) verified per
second with the chain cache off and on, and the chain validations it did (the cache must make a known
chain cost no validation). With `--compare-python`, also the import time of Apple's
`app-store-server-library` verifier in that interpreter, next to ours.

(3) Each operation runs through the real handler under moto (`tests/support/harness.py`); a botocore
`before-call` hook on the session that creates the functions' clients counts every AWS API call by
service and operation (the harness's own reads and SQS deletes use another session and are not
counted; on AWS the event source mapping deletes, not the function).

`--write` puts the tables into docs/BENCHMARKS.md, above `<!-- notes -->` (the notes are kept).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
for entry in (ROOT, ROOT / "layers" / "common"):
    if str(entry) not in sys.path:
        sys.path.insert(0, str(entry))

BENCH_DATE = "2026-11-22"
COMMAND = "make bench  # = PYTHONPATH=layers/common:. .venv/bin/python bench/run.py [--runs 15] [--seconds 2] [--write]"
DOC = ROOT / "docs" / "BENCHMARKS.md"
BASELINE = "baseline (boto3 + 1 DynamoDB client)"
FUNCTIONS = ROOT / "functions"
TARGETS = {
    BASELINE: ROOT / "bench" / "baseline_handler.py",
    **{app.parent.name: app for app in sorted(FUNCTIONS.glob("*/app.py"))},
}
COLD_RATIO_TARGET = {"entitlements": 1.3}
# Functions that build the App Store verifier at import (the run fails if they did not: wrong env).
VERIFIER_AT_IMPORT = {"apple_webhook", "receipts"}
# Layer packages the functions import, shipped without byte code in the "layer without byte code" runs.
LAYER_PACKAGES = ("aws_lambda_powertools", "cryptography")

_IMPORT = textwrap.dedent(
    """
    import importlib.util, sys, time
    sys.stderr.write("--bench-import--\\n"); sys.stderr.flush()
    start = time.perf_counter()
    spec = importlib.util.spec_from_file_location("app", {path!r})
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    print(time.perf_counter() - start)
    if {check_verifier!r}:  # after the timing: was the App Store verifier built (configured path)?
        import gc
        from parity.webhooks.apple import SignedDataVerifier
        if not any(isinstance(o, SignedDataVerifier) for o in gc.get_objects()):
            sys.exit("no SignedDataVerifier was built at import: the App Store path is not configured")
    """
)


def cold_env(apple_root: Path | None = None) -> dict[str, str]:
    """What Lambda would set (fake names; nothing at import may reach the network)."""
    from tests.support import apple as fx

    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "PYTHONPATH": os.pathsep.join([str(ROOT / "layers" / "common"), str(ROOT)]),
        "LANG": "C.UTF-8",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "bench",
        "AWS_SECRET_ACCESS_KEY": "bench",
        "AWS_SESSION_TOKEN": "bench",
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        "TABLE_NAME": "parity-bench",
        "EVENTS_QUEUE_URL": "https://sqs.us-east-1.amazonaws.com/123456789012/parity-bench-store-events.fifo",
        "EVENT_BUS_NAME": "parity-bench-changes",
        "CATALOG_FILE": str(ROOT / "layers" / "common" / "catalog.json"),
        "STRIPE_WEBHOOK_SECRET": "whsec_bench",
        # App Store, as the template's Globals set it (Sandbox needs no APPLE_APP_APPLE_ID). On AWS the
        # layer's bundled Apple Root CA G3 (DER) is the anchor; here a generated root, also DER.
        "APPLE_BUNDLE_ID": fx.BUNDLE_ID,
        "APPLE_ENVIRONMENT": "Sandbox",
        **({"APPLE_ROOT_CERTS": str(apple_root)} if apple_root else {}),
        "ENTITLEMENT_STRATEGY": "LAST",
        "OFFLINE_GRACE_SECONDS": "86400",
        "POWERTOOLS_SERVICE_NAME": "parity",
        "POWERTOOLS_METRICS_NAMESPACE": "Parity",
        "POWERTOOLS_LOG_LEVEL": "INFO",
        "LOG_LEVEL": "INFO",
    }


def deployed_layer() -> Path:
    """The layer as SAM's default python builder would ship it: `parity`, Powertools and cryptography
    without byte code (and /opt is read-only). `layers/common/Makefile` ships byte code; this shows what
    that saves."""
    import importlib

    layer = Path(tempfile.mkdtemp(prefix="parity-bench-layer-")) / "python"
    no_cache = shutil.ignore_patterns("__pycache__", "*.pyc")
    shutil.copytree(ROOT / "layers" / "common" / "parity", layer / "parity", ignore=no_cache)
    for package in LAYER_PACKAGES:
        source = Path(importlib.import_module(package).__file__).parent
        shutil.copytree(source, layer / package, ignore=no_cache)
    return layer


def _import_once(
    path: Path,
    apple_root: Path,
    importtime: bool = False,
    layer: Path | None = None,
    check_verifier: bool = False,
) -> tuple[float, str]:
    code = _IMPORT.format(path=str(path), check_verifier=check_verifier)
    args = [sys.executable, *(["-X", "importtime"] if importtime else []), "-c", code]
    env = cold_env(apple_root)
    if layer is not None:  # compiled on every import, as on Lambda
        env.update(PYTHONPATH=os.pathsep.join([str(layer), str(ROOT)]), PYTHONDONTWRITEBYTECODE="1")
    done = subprocess.run(args, env=env, cwd=ROOT, capture_output=True, text=True, timeout=120, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"importing {path} failed:\n{done.stderr[-3000:]}")
    return float(done.stdout.strip().splitlines()[-1]), done.stderr


def heaviest_imports(stderr: str, top: int = 5) -> list[tuple[str, float]]:
    """Top-level (not nested) imports made by the handler module, by cumulative time (ms)."""
    lines = stderr.split("--bench-import--", 1)[-1].splitlines()
    found = []
    for line in lines:
        if not line.startswith("import time:"):
            continue
        _, cumulative, name = (part.strip() for part in line[len("import time:") :].split("|"))
        raw_name = line.rsplit("|", 1)[1]
        if raw_name.startswith("  ") or not cumulative.isdigit():  # nested import, or the header
            continue
        found.append((name, int(cumulative) / 1000))
    return sorted(found, key=lambda item: -item[1])[:top]


@dataclass
class ColdResult:
    name: str
    samples: list[float]
    top_imports: list[tuple[str, float]]
    deployed_samples: list[float]

    @property
    def median_ms(self) -> float:
        return statistics.median(self.samples) * 1000

    @property
    def deployed_median_ms(self) -> float:
        return statistics.median(self.deployed_samples) * 1000

    @property
    def p90_ms(self) -> float:
        return statistics.quantiles(self.samples, n=10, method="inclusive")[8] * 1000


def write_apple_root(directory: Path) -> Path:
    """The generated test root (tests.support.apple) as a DER file, for APPLE_ROOT_CERTS."""
    from tests.support import apple as fx

    return fx.default_chain().write_root(directory, pem=False)


def cold_starts(runs: int) -> dict[str, ColdResult]:
    scratch = Path(tempfile.mkdtemp(prefix="parity-bench-"))
    layer = None
    try:
        root = write_apple_root(scratch)
        for name, path in TARGETS.items():  # warm-up: byte code compiled, files in the page cache
            _import_once(path, root, check_verifier=name in VERIFIER_AT_IMPORT)
        layer = deployed_layer()
        samples: dict[str, list[float]] = {name: [] for name in TARGETS}
        deployed: dict[str, list[float]] = {name: [] for name in TARGETS}
        for _ in range(runs):
            for name, path in TARGETS.items():
                samples[name].append(_import_once(path, root)[0])
                deployed[name].append(_import_once(path, root, layer=layer)[0])
        return {
            name: ColdResult(
                name, samples[name], heaviest_imports(_import_once(path, root, importtime=True)[1]), deployed[name]
            )
            for name, path in TARGETS.items()
        }
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
        if layer is not None:
            shutil.rmtree(layer.parent, ignore_errors=True)


# ------------------------------------------------------------------------------------------------ verify

CACHE_MODES = (("off", 0), ("on (default, 32 chains)", None))
APPLE_LIBRARY_IMPORT = "from appstoreserverlibrary.signed_data_verifier import SignedDataVerifier"
OUR_VERIFIER_IMPORT = "from parity.webhooks.apple import SignedDataVerifier"


@dataclass
class VerifyResult:
    mode: str
    rates: list[float]  # notifications per second, one per round
    notifications: int
    chain_validations: int

    @property
    def rate(self) -> float:
        return statistics.median(self.rates)


def verifier_throughput(seconds: float, rounds: int = 3) -> list[VerifyResult]:
    """Notification bodies verified per second by one verifier per cache mode (one warm container).

    Each body is `{"signedPayload": <JWS>}` with a signed transaction and renewal info inside: three JWS,
    three signature checks and three chain look-ups. 50 distinct notifications, all signed by one leaf
    (as Apple signs with a handful of leaves at a time). Rounds alternate between modes.
    """
    from parity.webhooks.apple import CHAIN_CACHE_SIZE, SignedDataVerifier
    from tests.support import apple as fx

    signer = fx.AppleSigner()  # Production: the app Apple id is checked too
    bodies = [
        signer.notification_body(transaction=signer.transaction(), renewal_info=signer.renewal_info())
        for _ in range(50)
    ]
    verifiers = {
        mode: SignedDataVerifier(
            [signer.chain.root],
            fx.BUNDLE_ID,
            "Production",
            fx.APP_APPLE_ID,
            cache_size=CHAIN_CACHE_SIZE if size is None else size,
        )
        for mode, size in CACHE_MODES
    }
    results = {mode: VerifyResult(mode, [], 0, 0) for mode, _ in CACHE_MODES}
    for _ in range(rounds):
        for mode, verifier in verifiers.items():
            count, started = 0, time.perf_counter()
            while time.perf_counter() - started < seconds / rounds:
                verifier.verify_and_decode_notification_body(bodies[count % len(bodies)])
                count += 1
            results[mode].rates.append(count / (time.perf_counter() - started))
            results[mode].notifications += count
    for mode, verifier in verifiers.items():
        results[mode].chain_validations = verifier.chain_validations
    return list(results.values())


def import_ms(python: str, statement: str, runs: int) -> float:
    """Median time of `statement` in fresh processes of `python` (after one warm-up run)."""
    code = f"import time; s = time.perf_counter(); {statement}; print((time.perf_counter() - s) * 1000)"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "layers" / "common"), str(ROOT)])}
    samples = [
        float(subprocess.run([python, "-c", code], env=env, check=True, capture_output=True, text=True).stdout)
        for _ in range(runs + 1)
    ]
    return statistics.median(samples[1:])


def compare_imports(other_python: str, runs: int) -> list[tuple[str, float]]:
    return [
        (f"`{OUR_VERIFIER_IMPORT}` (this interpreter)", import_ms(sys.executable, OUR_VERIFIER_IMPORT, runs)),
        (f"`{APPLE_LIBRARY_IMPORT}` (`--compare-python`)", import_ms(other_python, APPLE_LIBRARY_IMPORT, runs)),
    ]


# ------------------------------------------------------------------------------------------------ calls


@dataclass
class CallRow:
    operation: str
    calls: dict[str, dict[str, int]]
    target: str
    met: bool | None
    note: str = ""

    def dynamodb_total(self) -> int:
        return sum(self.calls.get("dynamodb", {}).values())


def _dynamodb_writes(calls: dict[str, dict[str, int]]) -> int:
    write_ops = {"PutItem", "UpdateItem", "DeleteItem", "TransactWriteItems", "BatchWriteItem"}
    return sum(n for op, n in calls.get("dynamodb", {}).items() if op in write_ops)


def count_calls() -> list[CallRow]:
    os.environ["POWERTOOLS_LOG_LEVEL"] = "ERROR"  # before parity.observability creates its Logger
    from parity.services.ingest import queue_message
    from tests.support import apple as fx
    from tests.support import stripe
    from tests.support.harness import TEST_CATALOG, running_stack

    DAY = stripe.DAY
    APPLE_PRODUCT = "com.example.pro.monthly"  # tests.support.apple's subscription
    rows: list[CallRow] = []

    def paid_invoice(invoice_id: str, sub_id: str, period_end: int) -> dict:
        invoice = stripe.invoice(invoice_id, sub_id, period_end)
        invoice["amount_paid"] = 999
        for line in invoice["lines"]["data"]:
            line["pricing"] = {
                "type": "price_details",
                "price_details": {"price": "price_pro_monthly", "product": "prod_pro"},
            }
        return invoice

    scratch = Path(tempfile.mkdtemp(prefix="parity-bench-calls-"))
    apple_env = {
        "APPLE_BUNDLE_ID": fx.BUNDLE_ID,
        "APPLE_ENVIRONMENT": "Sandbox",
        "APPLE_ROOT_CERTS": str(write_apple_root(scratch)),
    }
    catalog = {"products": {**TEST_CATALOG["products"], APPLE_PRODUCT: ["pro"]}}
    with (
        contextlib.ExitStack() as cleanup,
        running_stack(catalog=catalog, env={"POWERTOOLS_LOG_LEVEL": "ERROR", **apple_env}) as stack,
        contextlib.redirect_stdout(io.StringIO()),
        warnings.catch_warnings(),
    ):
        cleanup.callback(shutil.rmtree, scratch, ignore_errors=True)
        warnings.filterwarnings("ignore", "No application metrics to publish", UserWarning)
        t0 = int(time.time()) - 3600
        end1, end2 = t0 + 30 * DAY, t0 + 60 * DAY

        def measure(action):
            stack.counter.reset()
            action()
            return stack.counter.snapshot()

        def webhook_row(label, event, **post):
            calls = measure(lambda: stack.post_stripe(event, **post))
            writes, sends = _dynamodb_writes(calls), calls.get("sqs", {}).get("SendMessage", 0)
            rows.append(
                CallRow(
                    f"Stripe webhook: {label}", calls, "≤ 1 DynamoDB write, ≤ 1 SQS send", writes <= 1 and sends <= 1
                )
            )

        def process_row(
            label, event=None, raw: str | None = None, group: str | None = None, note: str = "", queued=False
        ):
            if event is not None:
                stack.deliver(event)
            elif not queued:  # already on the queue otherwise
                stack.send_raw(raw, group=group, dedup_id=f"bench-{len(rows)}")
            result, outcomes = {}, []
            service = stack.processor.service
            real = service.process_message
            service.process_message = lambda *a, **k: outcomes.append(real(*a, **k)) or outcomes[-1]
            try:
                calls = measure(lambda: result.update(drained=stack.drain()))
            finally:
                del service.process_message
            drained = result["drained"]
            assert len(drained.succeeded) == 1 and not drained.failed, (label, drained)
            outcome = outcomes[-1].status
            total = sum(calls.get("dynamodb", {}).values())
            rows.append(CallRow(f"Process {label} → {outcome}", calls, "≤ 3 DynamoDB requests", total <= 3, note))

        def setup(*events):
            stack.deliver(*events)
            assert not stack.drain().failed

        user, sub = "u_bench", "sub_bench"
        created = stripe.event(
            "customer.subscription.created", stripe.subscription(sub, "active", end1, user_id=user), created=t0
        )

        # -- webhook
        webhook_row("new event", created)
        webhook_row("duplicate, not yet processed", created)
        process_row("customer.subscription.created (new user, new purchase)", queued=True)
        webhook_row("duplicate, already processed", created)
        webhook_row(
            "rejected (bad signature)",
            stripe.event("customer.subscription.created", stripe.subscription("sub_x")),
            secret="whsec_wrong",
        )

        # -- reads
        calls = measure(lambda: stack.read(user))
        rows.append(
            CallRow(
                "Entitlements read: existing user",
                calls,
                "exactly 1 DynamoDB request",
                calls == {"dynamodb": {"Query": 1}},
            )
        )
        calls = measure(lambda: stack.read("u_bench_new"))
        total = sum(calls.get("dynamodb", {}).values())
        rows.append(
            CallRow(
                "Entitlements read: first read of a new user (issues the appAccountToken)",
                calls,
                "1 Query + the one-time token write",
                total <= 2,
            )
        )

        # -- processing, one event at a time, on the state built so far
        process_row(
            "customer.subscription.updated (cancel at period end)",
            stripe.event(
                "customer.subscription.updated",
                stripe.subscription(sub, "active", end1, user_id=user, cancel_at_period_end=True),
                created=t0 + 10,
            ),
        )
        process_row(
            "invoice.paid (renewal)", stripe.event("invoice.paid", paid_invoice("in_bench", sub, end2), created=t0 + 20)
        )
        process_row(
            "invoice_payment.paid (links the payment)",
            stripe.event(
                "invoice_payment.paid", stripe.invoice_payment("in_bench", "pi_bench", "ch_bench"), created=t0 + 21
            ),
        )
        process_row(
            "charge.refunded (full refund)",
            stripe.event("charge.refunded", stripe.charge("ch_bench", "pi_bench"), created=t0 + 30),
        )

        sub2, user2 = "sub_bench2", "u_bench2"
        setup(
            stripe.event(
                "customer.subscription.created", stripe.subscription(sub2, "active", end1, user_id=user2), created=t0
            ),
            stripe.event("invoice.paid", paid_invoice("in_bench2", sub2, end1), created=t0 + 1),
            stripe.event(
                "invoice_payment.paid", stripe.invoice_payment("in_bench2", "pi_bench2", "ch_bench2"), created=t0 + 2
            ),
        )
        process_row(
            "charge.dispute.created",
            stripe.event(
                "charge.dispute.created", stripe.dispute("dp_bench", "ch_bench2", "pi_bench2"), created=t0 + 40
            ),
        )
        process_row(
            "customer.updated (links the customer)",
            stripe.event("customer.updated", stripe.customer("cus_bench", user_id=user2), created=t0 + 41),
        )
        process_row(
            "checkout.session.completed (subscription mode)",
            stripe.event(
                "checkout.session.completed",
                stripe.checkout_session(user_id=user2, subscription_id=sub2),
                created=t0 + 42,
            ),
        )
        process_row(
            "customer.subscription.created without a user id (owner from the customer link)",
            stripe.event(
                "customer.subscription.created",
                stripe.subscription("sub_bench_linked", "active", end1, customer="cus_bench", user_id=None),
                created=t0 + 43,
            ),
        )
        process_row(
            "stale customer.subscription.updated (older than stored)",
            stripe.event(
                "customer.subscription.updated",
                stripe.subscription(sub2, "past_due", end1, user_id=user2),
                created=t0 - 100,
            ),
        )
        process_row(
            "an event type Parity ignores (payment_intent.succeeded)",
            stripe.event("payment_intent.succeeded", {"id": "pi_other", "object": "payment_intent"}),
        )

        # duplicates: the same message processed again (an SQS redelivery after the first run applied it)
        renewal = stripe.event(
            "customer.subscription.updated", stripe.subscription(sub2, "active", end2, user_id=user2), created=t0 + 50
        )
        setup(renewal)
        process_row(
            "duplicate: customer.subscription.updated redelivered",
            raw=queue_message("stripe", renewal["id"], stripe.encode(renewal)),
            group=sub2,
            note="re-publishes the changes recorded by the first run",
        )
        paid = stripe.event("invoice.paid", paid_invoice("in_bench3", sub2, t0 + 90 * DAY), created=t0 + 60)
        setup(paid)
        process_row(
            "duplicate: invoice.paid redelivered",
            raw=queue_message("stripe", paid["id"], stripe.encode(paid)),
            group=sub2,
            note="re-publishes the changes recorded by the first run",
        )
        # -- App Store: the webhook, processing, the receipts endpoint (same stack, state kept)
        for name in ("apple_webhook", "receipts"):  # imported (cold start) before any counting
            stack.function(name)
        signer = fx.AppleSigner(environment="Sandbox")
        webhook_target = "Stripe's: ≤ 1 DynamoDB write, ≤ 1 SQS send"

        def apple_row(label, body, status=200):
            answer = {}
            calls = measure(lambda: answer.update(response=stack.post_apple(body)))
            assert answer["response"].status == status, (label, answer["response"])
            writes, sends = _dynamodb_writes(calls), calls.get("sqs", {}).get("SendMessage", 0)
            rows.append(CallRow(f"App Store webhook: {label}", calls, webhook_target, writes <= 1 and sends <= 1))

        def receipt_row(label, user_id, body, status, note=""):
            answer = {}
            calls = measure(lambda: answer.update(response=stack.submit_receipt(user_id, body)))
            assert answer["response"].status == status, (label, answer["response"])
            rows.append(CallRow(f"Receipts (app_store): {label} → {status}", calls, "– (none set)", None, note))

        def subscribed(original: str, token: str | None, notification_signer=signer) -> bytes:
            now = fx.now_ms()
            return notification_signer.notification_body(
                "SUBSCRIBED",
                "INITIAL_BUY",
                transaction=signer.transaction(
                    originalTransactionId=original, transactionId=original, appAccountToken=token, signedDate=now
                ),
                renewal_info=signer.renewal_info(originalTransactionId=original, appAccountToken=token, signedDate=now),
                signedDate=now,
            )

        apple_user = "u_bench_apple"
        token = stack.read(apple_user).body["appAccountToken"]  # the app's first read issued it
        body = subscribed("3000000000000001", token)
        apple_row("new notification (SUBSCRIBED: 3 JWS verified)", body)
        apple_row("duplicate, not yet processed", body)
        process_row("App Store SUBSCRIBED (INITIAL_BUY) with a known appAccountToken", queued=True)
        apple_row("duplicate, already processed", body)
        apple_row("TEST notification (acknowledged, not stored)", signer.notification_body("TEST", None))
        forger = signer.with_(chain=fx.make_chain())
        apple_row("rejected (chain from another root)", subscribed("3000000000000002", None, forger), status=400)

        receipt_user = "u_bench_receipt"
        receipt_token = stack.read(receipt_user).body["appAccountToken"]  # the app reads before it sells
        now = fx.now_ms()
        transaction = signer.signed_transaction(
            originalTransactionId="4000000000000001",
            transactionId="4000000000000001",
            appAccountToken=receipt_token,
            signedDate=now,
        )
        body = {"store": "app_store", "signedTransaction": transaction}
        receipt_row(
            "signedTransaction of a new purchase (no API credentials)",
            receipt_user,
            body,
            200,
            "PutItem: receipt appended to the event log; GetItem, Query, TransactWriteItems: applied; "
            "Query: entitlements read back",
        )
        receipt_row(
            "the same signedTransaction again",
            receipt_user,
            body,
            200,
            "PutItem: a claim event of its own; GetItem: the purchase, unchanged; UpdateItem: marked "
            "processed, nothing published; Query: entitlements read back",
        )
        forged = forger.signed_transaction(originalTransactionId="4000000000000002", signedDate=now)
        receipt_row(
            "forged signedTransaction (chain from another root)",
            receipt_user,
            {"store": "app_store", "signedTransaction": forged},
            400,
        )
    return rows


# ------------------------------------------------------------------------------------------------ report


def _fmt_calls(calls: dict[str, dict[str, int]], service: str) -> str:
    ops = calls.get(service, {})
    return ", ".join(f"{op} {n}" for op, n in ops.items()) or "–"


def render(
    cold: dict[str, ColdResult] | None,
    rows: list[CallRow] | None,
    runs: int,
    verify: list[VerifyResult] | None = None,
    seconds: float = 0.0,
    compared: list[tuple[str, float]] | None = None,
) -> str:
    out = [
        "# Benchmarks",
        "",
        f"Date: {BENCH_DATE}. Machine: {os.cpu_count()} cores, {platform.machine()}, {platform.system()} "
        f"{platform.release()}, Python {platform.python_version()} ({sys.executable.replace(str(ROOT) + '/', '')}).",
        "",
        "Reproduce:",
        "",
        "```sh",
        COMMAND,
        "```",
        "",
    ]
    if cold:
        base = cold[BASELINE].median_ms
        out += [
            "## Cold start: importing the handler module in a fresh process",
            "",
            f"{runs} fresh `python -c` processes per function (every `functions/*/app.py`), interleaved, after one",
            "warm-up each; the time is `time.perf_counter()` around loading `functions/<name>/app.py` by path",
            "(module code, settings, clients built at import). Interpreter start-up is not included, for the",
            "functions or the baseline. The environment is the template's, with the App Store configured",
            "(`APPLE_BUNDLE_ID`, `APPLE_ENVIRONMENT=Sandbox`, `APPLE_ROOT_CERTS` = a generated root, DER): `apple_webhook`",
            "and `receipts` build the verifier (trust anchors loaded) at import, and the warm-up checks they did.",
            "The target applies to the first columns (byte code cached), which is how the layer is deployed: its",
            "build (`layers/common/Makefile`) ships compiled byte code. The last two columns show what that saves:",
            "`parity`, Powertools and cryptography imported from a copy without byte code, with",
            "`PYTHONDONTWRITEBYTECODE=1`, as SAM's default python builder would ship them (no `.pyc`, read-only",
            "`/opt`); boto3 keeps its byte code.",
            "",
            "| function | median (ms) | p90 (ms) | × baseline (median) | target | met "
            "| median, layer without byte code (ms) | × baseline |",
            "| --- | ---: | ---: | ---: | --- | --- | ---: | ---: |",
        ]
        deployed_base = cold[BASELINE].deployed_median_ms
        for name, result in cold.items():
            ratio = result.median_ms / base
            limit = COLD_RATIO_TARGET.get(name)
            target = f"≤ {limit}× baseline" if limit else "–"
            met = ("yes" if ratio <= limit else "**no**") if limit else "–"
            out.append(
                f"| {name} | {result.median_ms:.1f} | {result.p90_ms:.1f} | {ratio:.2f} | {target} | {met} "
                f"| {result.deployed_median_ms:.1f} | {result.deployed_median_ms / deployed_base:.2f} |"
            )
        out += [
            "",
            "Heaviest top-level imports (`python -X importtime`, cumulative ms, one run; importtime inflates",
            "absolute times). `parity.adapters.dynamodb` is where the functions first import boto3, so it holds",
            "the baseline's `boto3` cost; `parity.webhooks.apple` holds `cryptography`'s.",
            "",
        ]
        out += ["| function | top 5 |", "| --- | --- |"]
        for name, result in cold.items():
            out.append(f"| {name} | " + "; ".join(f"`{mod}` {ms:.1f}" for mod, ms in result.top_imports) + " |")
        out.append("")
    if verify:
        out += [
            "## App Store: signed-data verification throughput",
            "",
            "`parity.webhooks.apple.SignedDataVerifier` on a generated chain shaped like Apple's (P-384 root and",
            "intermediate, P-256 leaf, Apple's marker OIDs), one thread. A notification is the webhook body",
            '`{"signedPayload": <JWS>}` carrying a signed transaction and a signed renewal info: three JWS, so three',
            "ES256 signature checks and three chain look-ups. 50 distinct notifications from one leaf, one verifier",
            f"per mode for the whole run (a warm container), {seconds:g} s per mode in 3 alternating rounds, median",
            "rate. Cache off: every JWS validates its chain (three certificates parsed, two certificate signatures,",
            "roles, OIDs); on: validated chains are kept by the SHA-256 of their three certificates.",
            "",
            "| chain cache | notifications/s | JWS/s | µs per JWS | JWS verified | chain validations |",
            "| --- | ---: | ---: | ---: | ---: | ---: |",
        ]
        for result in verify:
            jws = 3 * result.notifications
            out.append(
                f"| {result.mode} | {result.rate:,.0f} | {3 * result.rate:,.0f} | {1e6 / (3 * result.rate):,.0f} "
                f"| {jws:,} | {result.chain_validations:,} |"
            )
        if compared:
            out += ["", f"Verifier import, fresh process (median of {runs}):", "", "| import | ms |", "| --- | ---: |"]
            out += [f"| {label} | {ms:.1f} |" for label, ms in compared]
        out.append("")
    if rows:
        out += [
            "## AWS calls per operation",
            "",
            "Each operation through the real handler under moto; a botocore `before-call` hook on the functions'",
            "session counts API calls (retries would not add to these counts; none happen under moto). State builds",
            "up from row to row (one user's subscription: created, updated, renewed, linked, refunded; a second",
            "user's disputed). The SQS send is counted; the message deletes are the event source mapping's. The App",
            "Store rows use the Sandbox configuration and generated chain of the cold-start runs; their users read",
            "their entitlements first (not counted), which issues the appAccountToken the app passes to StoreKit.",
            "The App Store webhook is held to the Stripe webhook's target; the receipts endpoint has none.",
            "",
            "| operation | DynamoDB requests | DynamoDB by operation | SQS sends | EventBridge PutEvents "
            "| target | met |",
            "| --- | ---: | --- | ---: | ---: | --- | --- |",
        ]
        for row in rows:
            sends = row.calls.get("sqs", {}).get("SendMessage", 0)
            puts = row.calls.get("events", {}).get("PutEvents", 0)
            met = "–" if row.met is None else ("yes" if row.met else "**no**")
            note = f" ({row.note})" if row.note else ""
            out.append(
                f"| {row.operation}{note} | {row.dynamodb_total()} | {_fmt_calls(row.calls, 'dynamodb')} "
                f"| {sends} | {puts} | {row.target} | {met} |"
            )
        out.append("")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15, help="fresh processes per function (default 15)")
    parser.add_argument("--write", action="store_true", help="write the tables into docs/BENCHMARKS.md")
    parser.add_argument("--seconds", type=float, default=2.0, help="verification time per cache mode (default 2)")
    parser.add_argument("--only", choices=["cold", "verify", "calls"], help="run one part only")
    parser.add_argument(
        "--compare-python", help="an interpreter with app-store-server-library: compare its verifier's import time"
    )
    args = parser.parse_args(argv)

    cold = cold_starts(args.runs) if args.only in (None, "cold") else None
    verify = verifier_throughput(args.seconds) if args.only in (None, "verify") else None
    compared = compare_imports(args.compare_python, args.runs) if args.compare_python and verify else None
    rows = count_calls() if args.only in (None, "calls") else None
    report = render(cold, rows, args.runs, verify, args.seconds, compared)
    print(report)
    if args.write:
        notes = (
            DOC.read_text().split("<!-- notes -->", 1)[1]
            if DOC.exists() and "<!-- notes -->" in DOC.read_text()
            else ""
        )
        DOC.parent.mkdir(parents=True, exist_ok=True)
        DOC.write_text(report + "\n<!-- notes -->" + (notes or "\n"))
        print(f"\nwritten to {DOC.relative_to(ROOT)}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
