"""Parity benchmarks: (1) cold import time of each function, (2) AWS calls per operation.

    PYTHONPATH=layers/common:. .venv/bin/python bench/run.py [--runs 15] [--write]

(1) For each function, N fresh `python -c` processes import `functions/<name>/app.py` by path (as the
Lambda runtime does) and time the import with `time.perf_counter()` inside the process. The baseline
is `bench/baseline_handler.py`: `import boto3` and one `boto3.client("dynamodb")`. Runs are
interleaved across targets, after one discarded warm-up each (byte code and page cache warm). The
heaviest top-level imports come from one `python -X importtime` run per function.

(2) Each operation runs through the real handler under moto (`tests/support/harness.py`); a botocore
`before-call` hook on the session that creates the functions' clients counts every AWS API call by
service and operation (the harness's own reads and SQS deletes use another session and are not
counted; on AWS the event source mapping deletes, not the function).

`--write` puts the tables into docs/BENCHMARKS.md.
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
COMMAND = "make bench  # = PYTHONPATH=layers/common:. .venv/bin/python bench/run.py [--runs 15] [--write]"
DOC = ROOT / "docs" / "BENCHMARKS.md"
TARGETS = {
    "baseline (boto3 + 1 DynamoDB client)": ROOT / "bench" / "baseline_handler.py",
    "entitlements": ROOT / "functions" / "entitlements" / "app.py",
    "stripe_webhook": ROOT / "functions" / "stripe_webhook" / "app.py",
    "event_processor": ROOT / "functions" / "event_processor" / "app.py",
}
BASELINE = next(iter(TARGETS))
COLD_RATIO_TARGET = {"entitlements": 1.3}

_IMPORT = textwrap.dedent(
    """
    import importlib.util, sys, time
    sys.stderr.write("--bench-import--\\n"); sys.stderr.flush()
    start = time.perf_counter()
    spec = importlib.util.spec_from_file_location("app", {path!r})
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    print(time.perf_counter() - start)
    """
)


def cold_env() -> dict[str, str]:
    """What Lambda would set (fake names; nothing at import may reach the network)."""
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
        "ENTITLEMENT_STRATEGY": "LAST",
        "OFFLINE_GRACE_SECONDS": "86400",
        "POWERTOOLS_SERVICE_NAME": "parity",
        "POWERTOOLS_METRICS_NAMESPACE": "Parity",
        "POWERTOOLS_LOG_LEVEL": "INFO",
        "LOG_LEVEL": "INFO",
    }


def deployed_layer() -> Path:
    """The layer as SAM's default python builder would ship it: `parity` and Powertools without byte code
    (and /opt is read-only). `layers/common/Makefile` ships byte code; this shows what that saves."""
    import aws_lambda_powertools

    layer = Path(tempfile.mkdtemp(prefix="parity-bench-layer-")) / "python"
    no_cache = shutil.ignore_patterns("__pycache__", "*.pyc")
    shutil.copytree(ROOT / "layers" / "common" / "parity", layer / "parity", ignore=no_cache)
    shutil.copytree(Path(aws_lambda_powertools.__file__).parent, layer / "aws_lambda_powertools", ignore=no_cache)
    return layer


def _import_once(path: Path, importtime: bool = False, layer: Path | None = None) -> tuple[float, str]:
    args = [sys.executable, *(["-X", "importtime"] if importtime else []), "-c", _IMPORT.format(path=str(path))]
    env = cold_env()
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


def cold_starts(runs: int) -> dict[str, ColdResult]:
    for path in TARGETS.values():  # warm-up: byte code compiled, files in the page cache
        _import_once(path)
    layer = deployed_layer()
    samples: dict[str, list[float]] = {name: [] for name in TARGETS}
    deployed: dict[str, list[float]] = {name: [] for name in TARGETS}
    try:
        for _ in range(runs):
            for name, path in TARGETS.items():
                samples[name].append(_import_once(path)[0])
                deployed[name].append(_import_once(path, layer=layer)[0])
    finally:
        shutil.rmtree(layer.parent, ignore_errors=True)
    return {
        name: ColdResult(name, samples[name], heaviest_imports(_import_once(path, importtime=True)[1]), deployed[name])
        for name, path in TARGETS.items()
    }


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
    from tests.support import stripe
    from tests.support.harness import running_stack

    DAY = stripe.DAY
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

    with (
        running_stack(env={"POWERTOOLS_LOG_LEVEL": "ERROR"}) as stack,
        contextlib.redirect_stdout(io.StringIO()),
        warnings.catch_warnings(),
    ):
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
    return rows


# ------------------------------------------------------------------------------------------------ report


def _fmt_calls(calls: dict[str, dict[str, int]], service: str) -> str:
    ops = calls.get(service, {})
    return ", ".join(f"{op} {n}" for op, n in ops.items()) or "–"


def render(cold: dict[str, ColdResult] | None, rows: list[CallRow] | None, runs: int) -> str:
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
            f"{runs} fresh `python -c` processes per function, interleaved, after one warm-up each; the time is",
            "`time.perf_counter()` around loading `functions/<name>/app.py` by path (module code, settings, clients",
            "built at import). Interpreter start-up is not included, for the functions or the baseline. The target",
            "applies to the first columns (byte code cached), which is how the layer is deployed: its build",
            "(`layers/common/Makefile`) ships compiled byte code. The last two columns show what that saves: `parity`",
            "and Powertools imported from a copy without byte code, with `PYTHONDONTWRITEBYTECODE=1`, as SAM's",
            "default python builder would ship them (no `.pyc`, read-only `/opt`); boto3 keeps its byte code.",
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
            "the baseline's `boto3` cost.",
            "",
        ]
        out += ["| function | top 5 |", "| --- | --- |"]
        for name, result in cold.items():
            out.append(f"| {name} | " + "; ".join(f"`{mod}` {ms:.1f}" for mod, ms in result.top_imports) + " |")
        out.append("")
    if rows:
        out += [
            "## AWS calls per operation",
            "",
            "Each operation through the real handler under moto; a botocore `before-call` hook on the functions'",
            "session counts API calls (retries would not add to these counts; none happen under moto). State builds",
            "up from row to row (one user's subscription: created, updated, renewed, linked, refunded; a second",
            "user's disputed). The SQS send is counted; the message deletes are the event source mapping's.",
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
    parser.add_argument("--only", choices=["cold", "calls"], help="run one part only")
    args = parser.parse_args(argv)

    cold = cold_starts(args.runs) if args.only in (None, "cold") else None
    rows = count_calls() if args.only in (None, "calls") else None
    report = render(cold, rows, args.runs)
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
