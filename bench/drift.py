"""Drift scan at scale: purchases reconciled per second per worker, DynamoDB requests and store calls
per purchase, with a store that answers at once (an in-memory Stripe), against moto in-process (moto's
own time taken out) and on the in-memory fakes; then the projection for 1 M, 10 M and 100 M purchases.

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
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script (bench/drift.py): the repository root holds `bench`
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import quiet_stack

DAY = 86400


class InstantStripe:
    """The Stripe API reads the worker makes, answered from memory (zero latency), counted."""

    def __init__(self) -> None:
        self.subscriptions: dict[str, dict] = {}
        self.calls = 0

    def subscription(self, subscription_id: str) -> dict:
        self.calls += 1
        return self.subscriptions[subscription_id]


@dataclass
class Elapsed:
    seconds: float = 0.0


@dataclass
class Nights:
    offset: timedelta = timedelta()


@contextlib.contextmanager
def moto_timer() -> Iterator[Elapsed]:
    """Time spent inside moto (the emulated AWS), summed, to tell Parity's own time apart."""
    from moto.core import botocore_stubber

    spent = Elapsed()
    real_call = botocore_stubber.BotocoreStubber.__call__

    def timed_call(self, *a, **k):
        started = time.perf_counter()
        try:
            return real_call(self, *a, **k)
        finally:
            spent.seconds += time.perf_counter() - started

    botocore_stubber.BotocoreStubber.__call__ = timed_call
    try:
        yield spent
    finally:
        botocore_stubber.BotocoreStubber.__call__ = real_call


@contextlib.contextmanager
def passing_nights() -> Iterator[Nights]:
    """Parity's clock, moved on by the yielded `offset` (the nights pass)."""
    from parity import bootstrap

    nights = Nights()
    real_now = bootstrap.SystemClock.now
    bootstrap.SystemClock.now = lambda self: real_now(self) + nights.offset
    try:
        yield nights
    finally:
        bootstrap.SystemClock.now = real_now


@dataclass
class DriftBench:
    """The stack with the in-memory store wired into the reconcile worker and the seeding processor."""

    stack: Any
    purchases: int
    moto: Elapsed
    nights: Nights
    store: InstantStripe = field(default_factory=InstantStripe)
    t0: int = field(default_factory=lambda: int(time.time()))

    def __post_init__(self) -> None:
        self.worker = self.stack.function("reconcile")
        self.worker.reconciler._stripe = self.store
        self.worker.reconciler._processor._stripe = self.store
        self.stack.processor.service._stripe = self.store  # the processor that seeds the purchases
        self.scan_fn = self.stack.function("drift_scan")
        self.sqs = self.stack.session.client("sqs")
        self.url, self.arn = self.stack.env["RECONCILE_QUEUE_URL"], self.stack.resources.arns["ReconcileQueue"]


def seed(bench: DriftBench, label: str, renew: bool) -> None:
    """N subscriptions, each its own user: renewing in 30 days (due by the weekly recheck), or ending
    tomorrow while the store renewed them and the webhook was lost."""
    from tests.support import stripe

    prefix, now = f"sub_{label.split()[0]}", bench.t0 + bench.nights.offset.days * DAY
    end = now + (DAY if renew else 30 * DAY)
    for n in range(bench.purchases):
        sub, user = f"{prefix}_{n}", f"u_{prefix}_{n}"
        body = stripe.subscription(sub, "active", end, user_id=user)
        bench.store.subscriptions[sub] = body
        event = stripe.event("customer.subscription.created", body, created=now)
        message = {"source": "stripe", "eventId": event["id"], "body": stripe.encode(event)}
        bench.stack.processor.service.process_message(message)
        if renew:
            bench.store.subscriptions[sub] = stripe.subscription(sub, "active", end + 30 * DAY, user_id=user)


def scan(bench: DriftBench) -> tuple[dict, float, dict]:
    """One run of the scan function: its answer, its seconds, and the AWS calls it made."""
    from tests.support.lambda_events import LambdaContext

    bench.stack.counter.reset()
    started = time.perf_counter()
    result = bench.scan_fn.lambda_handler({}, LambdaContext("parity-drift-scan"))
    seconds = time.perf_counter() - started
    assert result["selected"] == bench.purchases, result
    return result, seconds, bench.stack.counter.snapshot()


def queued_batches(bench: DriftBench) -> list[list[dict]]:
    """The reconcile queue's messages, taken off it in batches of 10 (as the event source mapping does)."""
    batches = []
    while messages := bench.sqs.receive_message(QueueUrl=bench.url, MaxNumberOfMessages=10, AttributeNames=["All"]).get("Messages", []):
        checks = [m for m in messages if json.loads(m["Body"]).get("kind") == "purchase"]  # not the catch-ups
        if checks:
            batches.append(checks)
        entries = [{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(messages)]
        bench.sqs.delete_message_batch(QueueUrl=bench.url, Entries=entries)
    return batches


def check(bench: DriftBench, batches: list[list[dict]]) -> tuple[float, dict[str, int]]:
    """The worker's handler on every batch: its seconds (moto's included) and its DynamoDB calls."""
    from tests.support.lambda_events import LambdaContext, sqs_event

    bench.store.calls = 0
    bench.stack.counter.reset()
    seconds, bench.moto.seconds = 0.0, 0.0
    for messages in batches:
        event = sqs_event(messages, bench.arn)
        started = time.perf_counter()
        answer = bench.worker.lambda_handler(event, LambdaContext("parity-reconcile"))
        seconds += time.perf_counter() - started
        assert not answer["batchItemFailures"], answer
    return seconds, bench.stack.counter.snapshot().get("dynamodb", {})


def run_case(bench: DriftBench, label: str, renew: bool) -> dict:
    """GIVEN the purchases seeded, WHEN the scan runs once they are due, THEN the worker checks each
    one; only its own time is measured (not the queue's)."""
    seed(bench, label, renew)
    bench.nights.offset += timedelta(days=2 if renew else 8)
    result, scan_s, scan_calls = scan(bench)
    worker_s, calls = check(bench, queued_batches(bench))
    report = bench.stack.item("REPORTS", result["reportId"])
    n = bench.purchases
    own_s = worker_s - bench.moto.seconds
    return {
        "case": label,
        "purchases": n,
        "per_second": n / own_s,
        "ms_per_purchase": 1000 * own_s / n,
        "moto_ms_per_purchase": 1000 * bench.moto.seconds / n,
        "dynamodb_per_purchase": sum(calls.values()) / n,
        "dynamodb_ops": {op: round(count / n, 2) for op, count in sorted(calls.items())},
        "store_calls_per_purchase": bench.store.calls / n,
        "scan_ms_per_1000": 1000 * scan_s / n * 1000,
        "scan_requests": sum(scan_calls.get("dynamodb", {}).values()) + sum(scan_calls.get("sqs", {}).values()),
        "report": {k: int(v) for k, v in report.get("counts", {}).items()},
    }


def print_table(rows: list[dict], purchases: int) -> None:
    """The cases as a Markdown table, then the scan's requests and when and where it ran."""
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
    print(f"\nscan requests (Query pages + SendMessageBatch) for {purchases}: {[r['scan_requests'] for r in rows]}")
    now = datetime.now(timezone.utc)
    print(f"run {now:%Y-%m-%d %H:%M} UTC, Python {sys.version.split()[0]}, {os.cpu_count()} cores")


def fakes_throughput(purchases: int, renew: bool) -> dict:
    """The reconcile worker's service on the in-memory fakes (MemoryStore, FakeStripeApi: zero latency, no
    moto): checks per second of process CPU, batches of ten as SQS delivers them (prefetch, checks,
    report), after the scan selected them."""
    from parity.services.drift_scan import DriftScan
    from tests.support import stripe
    from tests.support.fakes import FakeStripeApi
    from tests.support.services import World

    world = World(stripe_api=FakeStripeApi())
    now = int(world.clock.now().timestamp())
    end = now + (DAY if renew else 30 * DAY)
    for n in range(purchases):
        sub = f"sub_fake_{n}"
        body = stripe.subscription(sub, "active", end, user_id=f"u_fake_{n}")
        world.stripe_api.subscriptions[sub] = body
        world.deliver(stripe.event("customer.subscription.created", body, created=now))
    world.drain()
    if renew:  # Stripe renewed them; the webhooks were lost
        for n in range(purchases):
            world.stripe_api.subscriptions[f"sub_fake_{n}"] = stripe.subscription(f"sub_fake_{n}", "active", end + 30 * DAY, user_id=f"u_fake_{n}")
    world.clock.advance(days=2 if renew else 8)
    started = DriftScan(world.store, world.reconcile_queue, world.clock).run()
    messages = [m for m in world.reconcile_queue.take() if m["kind"] == "purchase"]
    reconciler = world.reconciler()
    cpu = time.process_time()
    for start in range(0, len(messages), 10):
        batch = messages[start : start + 10]
        reconciler.prefetch(batch)
        reconciler.report(started["reportId"], [reconciler.handle(m) for m in batch])
    seconds = time.process_time() - cpu
    counts = world.store.report(started["reportId"])["counts"]
    return {"checks": len(messages), "per_second": len(messages) / seconds, "ms": 1000 * seconds / len(messages), "counts": counts}


# -- the projection: what a night costs at 1 M, 10 M and 100 M purchases (assumptions, stated)

DUE_SHARE = 0.175  # of all purchases due a night: 1/7 rechecked weekly + periods ending (monthly), as before
PLAY_SHARE = 1 / 3  # of purchases on Play, whose checks spend DriftPlayChecksPerDay
PLAY_PER_DAY = 200_000
DRIFTED = 0.01  # of checks that find drift (repaired: PutItem + Query + TransactWriteItems + UpdateItem)
STORE_MS, DDB_MS, SQS_MS = 200, 7, 20  # a store's answer; a DynamoDB request; an SQS SendMessageBatch
SHARDS, PAGE = 32, 500
RRU, WRU = 0.125e-6, 0.625e-6  # DynamoDB on-demand, us-east-1, $ per read / write request unit
LAMBDA_GB_S, LAMBDA_REQUEST, SQS_REQUEST = 0.0000166667, 0.2e-6, 0.4e-6
MEMORY_GB = 0.5


def projection(agree_requests: float, repair_requests: float, cpu_ms: float) -> list[str]:
    """The projection table's lines, from the measured requests per check and Parity's CPU per check."""
    lines = [
        "| purchases | due a night | checked (Play capped) | Play deferred | DynamoDB requests | scan: selecting (32 shards in parallel) "
        "| checks at ReconcileConcurrency 5 | at 50 | at 200 | DynamoDB $ | Lambda $ | SQS $ | total $ a night |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for purchases in (1_000_000, 10_000_000, 100_000_000):
        due = purchases * DUE_SHARE
        play_due = due * PLAY_SHARE
        checked = due - play_due + min(play_due, PLAY_PER_DAY)
        requests = checked * ((1 - DRIFTED) * agree_requests + DRIFTED * repair_requests)
        # an agreeing check: 1/10 of a consistent BatchGetItem of ~2 KB items (1 RRU each), a conditional
        # UpdateItem of the purchase (2 WRU) and its GSI2 entry moved (2 WRU); a repair ~20 WRU, 5 RRU
        ddb = checked * ((1 - DRIFTED) * (1 * RRU + 4 * WRU) + DRIFTED * (5 * RRU + 20 * WRU))
        ddb += due / PAGE * 7 * RRU  # the scan's keys-only Query pages (~50 KB, eventually consistent)
        select_s = (due / SHARDS) * (SQS_MS / 10 + DDB_MS / PAGE) / 1000
        check_s = (STORE_MS + agree_requests * DDB_MS + cpu_ms) / 1000
        lam = checked * check_s * MEMORY_GB * LAMBDA_GB_S + checked / 10 * LAMBDA_REQUEST
        sqs = (checked / 10) * 3 * SQS_REQUEST  # send, receive and delete, ten messages a request
        lines.append(
            f"| {purchases / 1e6:g} M | {due / 1e6:.3g} M | {checked / 1e6:.3g} M | {max(0, play_due - PLAY_PER_DAY) / 1e6:.3g} M "
            f"| {requests / 1e6:.3g} M | {_duration(select_s)} | "
            + " | ".join(_duration(checked * check_s / c) for c in (5, 50, 200))
            + f" | {ddb:,.2f} | {lam:,.2f} | {sqs:,.2f} | {ddb + lam + sqs:,.2f} |"
        )
    return lines


def _duration(seconds: float) -> str:
    return f"{seconds / 3600:.1f} h" if seconds >= 5400 else f"{seconds / 60:.0f} min" if seconds >= 90 else f"{seconds:.0f} s"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--purchases", type=int, default=400, help="purchases per case (default 400)")
    args = parser.parse_args(argv)
    os.environ["POWERTOOLS_LOG_LEVEL"] = "ERROR"

    with contextlib.redirect_stdout(io.StringIO()):  # first: the moto stack below leaves state behind
        fakes = [fakes_throughput(args.purchases, renew) for renew in (False, True)]
    with (
        moto_timer() as moto,
        passing_nights() as nights,
        quiet_stack(env={"STRIPE_API_KEY": "sk_bench"}) as stack,
    ):
        bench = DriftBench(stack, args.purchases, moto, nights)
        rows = [
            run_case(bench, "no drift (the store agrees)", renew=False),
            run_case(bench, "drift repaired (renewal missed)", renew=True),
        ]
    print_table(rows, args.purchases)
    print("\n| case (in-memory fakes, zero-latency store) | checks | checks / s per worker (CPU) | CPU ms per check | report counts |")
    print("| --- | ---: | ---: | ---: | --- |")
    for label, row in zip(("no drift (the store agrees)", "drift repaired (renewal missed)"), fakes, strict=True):
        counts = json.dumps({k: int(v) for k, v in row["counts"].items()}, sort_keys=True)
        print(f"| {label} | {row['checks']} | {row['per_second']:,.0f} | {row['ms']:.2f} | {counts} |")
    agree, repair = rows[0]["dynamodb_per_purchase"], rows[1]["dynamodb_per_purchase"]
    print(f"\nProjection (requests per check measured above: {agree:.2f} agreeing, {repair:.2f} repairing; CPU {rows[0]['ms_per_purchase']:.1f} ms):\n")
    print("\n".join(projection(agree, repair, rows[0]["ms_per_purchase"])))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
