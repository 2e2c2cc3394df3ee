"""Drift scan at scale: purchases reconciled per second per worker, DynamoDB requests and store calls
per purchase, with a store that answers at once (an in-memory Stripe), against moto in-process.

    PYTHONPATH=layers/common:. .venv/bin/python bench/drift.py [--purchases 400]

Prints a table (results go into docs/BENCHMARKS.md by hand, with this command). What it measures is
Parity's own work per purchase; a real store adds its latency to every check (see the projection in
docs/BENCHMARKS.md).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import sys
import time
import warnings
from datetime import datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "layers" / "common"), str(ROOT)]


class InstantStripe:
    """The Stripe API reads the worker makes, answered from memory (zero latency), counted."""

    def __init__(self) -> None:
        self.subscriptions: dict[str, dict] = {}
        self.calls = 0

    def subscription(self, subscription_id: str) -> dict:
        self.calls += 1
        return self.subscriptions[subscription_id]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--purchases", type=int, default=400, help="purchases per case (default 400)")
    args = parser.parse_args(argv)
    os.environ["POWERTOOLS_LOG_LEVEL"] = "ERROR"

    from moto.core import botocore_stubber

    from parity import bootstrap
    from tests.support import stripe
    from tests.support.harness import running_stack
    from tests.support.lambda_events import LambdaContext, sqs_event

    emulator = {"seconds": 0.0}  # time spent inside moto (the emulated AWS), to tell Parity's own apart
    real_call = botocore_stubber.BotocoreStubber.__call__

    def timed_call(self, *a, **k):
        started = time.perf_counter()
        try:
            return real_call(self, *a, **k)
        finally:
            emulator["seconds"] += time.perf_counter() - started

    botocore_stubber.BotocoreStubber.__call__ = timed_call

    rows = []
    offset = timedelta()
    real_now = bootstrap.SystemClock.now
    bootstrap.SystemClock.now = lambda self: real_now(self) + offset  # the nights pass
    with (
        running_stack(env={"STRIPE_API_KEY": "sk_bench"}) as stack,
        contextlib.redirect_stdout(io.StringIO()),
        warnings.catch_warnings(),
    ):
        warnings.filterwarnings("ignore", "No application metrics to publish", UserWarning)
        store = InstantStripe()
        worker = stack.function("reconcile")
        worker.reconciler._stripe = store
        worker.reconciler._processor._stripe = store
        stack.processor.service._stripe = store  # the processor that seeds the purchases
        scan_fn = stack.function("drift_scan")
        sqs = stack.session.client("sqs")
        url, arn = stack.env["RECONCILE_QUEUE_URL"], stack.resources.arns["ReconcileQueue"]
        t0 = int(time.time())

        def run_case(label: str, renew: bool) -> None:
            nonlocal offset
            # GIVEN N subscriptions, each its own user: renewing in 30 days (due by the weekly recheck),
            # or ending tomorrow while the store renewed them and the webhook was lost
            prefix, now = f"sub_{label.split()[0]}", t0 + offset.days * 86400
            end = now + (86400 if renew else 30 * 86400)
            for n in range(args.purchases):
                sub, user = f"{prefix}_{n}", f"u_{prefix}_{n}"
                body = stripe.subscription(sub, "active", end, user_id=user)
                store.subscriptions[sub] = body
                event = stripe.event("customer.subscription.created", body, created=now)
                stack.processor.service.process_message({"source": "stripe", "eventId": event["id"], "body": stripe.encode(event)})
                if renew:
                    store.subscriptions[sub] = stripe.subscription(sub, "active", end + 30 * 86400, user_id=user)
            # WHEN the scan runs once they are due
            offset += timedelta(days=2 if renew else 8)
            stack.counter.reset()
            started = time.perf_counter()
            result = scan_fn.lambda_handler({}, LambdaContext("parity-drift-scan"))
            scan_s = time.perf_counter() - started
            scan_calls = stack.counter.snapshot()
            assert result["selected"] == args.purchases, result
            # THEN the worker checks each one; only its own time is measured (not the queue's)
            batches = []
            while True:
                messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
                if not messages:
                    break
                batches.append(messages)
                sqs.delete_message_batch(
                    QueueUrl=url, Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(messages)]
                )
            store.calls = 0
            stack.counter.reset()
            worker_s, emulator["seconds"] = 0.0, 0.0
            for messages in batches:
                event = sqs_event(messages, arn)
                started = time.perf_counter()
                answer = worker.lambda_handler(event, LambdaContext("parity-reconcile"))
                worker_s += time.perf_counter() - started
                assert not answer["batchItemFailures"], answer
            calls = stack.counter.snapshot().get("dynamodb", {})
            report = stack.item("REPORTS", result["reportId"])
            n = args.purchases
            own_s = worker_s - emulator["seconds"]
            rows.append(
                {
                    "case": label,
                    "purchases": n,
                    "per_second": n / own_s,
                    "ms_per_purchase": 1000 * own_s / n,
                    "moto_ms_per_purchase": 1000 * emulator["seconds"] / n,
                    "dynamodb_per_purchase": sum(calls.values()) / n,
                    "dynamodb_ops": {op: round(count / n, 2) for op, count in sorted(calls.items())},
                    "store_calls_per_purchase": store.calls / n,
                    "scan_ms_per_1000": 1000 * scan_s / n * 1000,
                    "scan_requests": sum(scan_calls.get("dynamodb", {}).values()) + sum(scan_calls.get("sqs", {}).values()),
                    "report": {k: int(v) for k, v in report.get("counts", {}).items()},
                }
            )

        run_case("no drift (the store agrees)", renew=False)
        run_case("drift repaired (renewal missed)", renew=True)
    bootstrap.SystemClock.now = real_now

    print(
        "| case | purchases | checked / s per worker (Parity's CPU) | Parity ms per purchase | moto ms per purchase "
        "| DynamoDB requests per purchase | store calls per purchase | scan: ms per 1,000 selected | report counts |"
    )
    print("| --- | ---: | ---: | ---: | ---: | --- | ---: | ---: | --- |")
    for row in rows:
        ops = ", ".join(f"{op} {count:g}" for op, count in row["dynamodb_ops"].items())
        print(
            f"| {row['case']} | {row['purchases']} | {row['per_second']:.0f} | {row['ms_per_purchase']:.1f} "
            f"| {row['moto_ms_per_purchase']:.0f} "
            f"| {row['dynamodb_per_purchase']:.2f} ({ops}) | {row['store_calls_per_purchase']:.2f} "
            f"| {row['scan_ms_per_1000']:.0f} | {json.dumps(row['report'], sort_keys=True)} |"
        )
    print(f"\nscan requests (Query pages + SendMessageBatch) for {args.purchases}: {[r['scan_requests'] for r in rows]}")
    print(f"run {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC, Python {sys.version.split()[0]}, {os.cpu_count()} cores")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
