"""AWS calls per operation: each operation runs through the real handler under moto
(`tests/support/harness.py`); a botocore `before-call` hook on the session that creates the functions'
clients counts every AWS API call by service and operation (the harness's own reads and SQS deletes use
another session and are not counted; on AWS the event source mapping deletes, not the function).

    PYTHONPATH=layers/common:. .venv/bin/python -m bench.calls

The scenarios run in order on one stack, each on the state the ones before it built.
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from bench.common import quiet_stack, scratch, table, verdict, write_apple_root
from tests.support import apple as fx
from tests.support import stripe

Calls = dict[str, dict[str, int]]  # service → operation → count

APPLE_PRODUCT = "com.example.pro.monthly"  # tests.support.apple's subscription
USER, SUB = "u_bench", "sub_bench"
USER2, SUB2 = "u_bench2", "sub_bench2"
CUSTOMER, LINKED_SUB = "cus_bench", "sub_bench_linked"  # a subscription whose owner is the customer's user
ALIAS = "u_bench_alias"
WRITE_OPERATIONS = {"PutItem", "UpdateItem", "DeleteItem", "TransactWriteItems", "BatchWriteItem"}
RECORDED_AGAIN = "re-publishes the changes recorded by the first run"


@dataclass
class CallRow:
    operation: str
    calls: Calls
    target: str
    met: bool | None
    note: str = ""


def dynamodb_requests(calls: Calls) -> int:
    return sum(calls.get("dynamodb", {}).values())


def dynamodb_writes(calls: Calls) -> int:
    return sum(n for op, n in calls.get("dynamodb", {}).items() if op in WRITE_OPERATIONS)


def one_write_one_send(calls: Calls) -> bool:
    """The webhooks' target: at most one DynamoDB write and one SQS send per request."""
    return dynamodb_writes(calls) <= 1 and calls.get("sqs", {}).get("SendMessage", 0) <= 1


def no_target(calls: Calls) -> None:
    return None


def answered(status: int, label: str, send: Callable[[], Any]) -> Callable[[], None]:
    """`send`, checked to answer `status` (a benchmark of a failing request would measure nothing)."""

    def action() -> None:
        response = send()
        assert response.status == status, (label, response)

    return action


class CallBench:
    """The shared harness: the running stack and its call counter, the rows counted so far, and the
    times and Apple signers the scenarios share."""

    def __init__(self, stack: Any) -> None:
        self.stack = stack
        self.rows: list[CallRow] = []
        self.t0 = int(time.time()) - 3600
        self.end1, self.end2 = self.t0 + 30 * stripe.DAY, self.t0 + 60 * stripe.DAY

    @cached_property
    def signer(self) -> fx.AppleSigner:
        return fx.AppleSigner(environment="Sandbox")

    @cached_property
    def forger(self) -> fx.AppleSigner:
        """A signer whose chain comes from another root than the one the stack trusts."""
        return self.signer.with_(chain=fx.make_chain())

    def row(
        self,
        operation: str,
        action: Callable[[], object],
        target: str,
        met: Callable[[Calls], bool | None] = no_target,
        note: str = "",
    ) -> None:
        """Count the AWS calls `action` makes and add them as a row, judged by `met`."""
        self.stack.counter.reset()
        action()
        calls = self.stack.counter.snapshot()
        self.rows.append(CallRow(operation, calls, target, met(calls), note))

    def webhook_row(self, label: str, event: dict, **post: Any) -> None:
        target = "≤ 1 DynamoDB write, ≤ 1 SQS send"
        self.row(f"Stripe webhook: {label}", lambda: self.stack.post_stripe(event, **post), target, one_write_one_send)

    def process_row(self, label: str, event: dict | None = None, note: str = "") -> None:
        """Deliver `event` (none: the message is already queued), then count its processing; the row
        names the outcome the processor returned."""
        if event is not None:
            self.stack.deliver(event)
        drained, outcomes = [], []
        service = self.stack.processor.service
        real = service.process_message
        service.process_message = lambda *a, **k: outcomes.append(real(*a, **k)) or outcomes[-1]
        try:
            self.stack.counter.reset()
            drained.append(self.stack.drain())
            calls = self.stack.counter.snapshot()
        finally:
            del service.process_message
        assert len(drained[0].succeeded) == 1 and not drained[0].failed, (label, drained[0])
        total = dynamodb_requests(calls)
        operation = f"Process {label} → {outcomes[-1].status}"
        self.rows.append(CallRow(operation, calls, "≤ 3 DynamoDB requests", total <= 3, note))

    def redelivered_row(self, label: str, event: dict, group: str) -> None:
        """Processing of `event` queued again after it was applied (an SQS redelivery)."""
        from parity.services.ingest import queue_message

        raw = queue_message("stripe", event["id"], stripe.encode(event))
        self.stack.send_raw(raw, group=group, dedup_id=f"bench-{len(self.rows)}")
        self.process_row(f"duplicate: {label} redelivered", note=RECORDED_AGAIN)

    def settle(self, *events: dict) -> None:
        """Deliver and process `events` without counting: the state the next rows start from."""
        self.stack.deliver(*events)
        assert not self.stack.drain().failed

    def subscribed(self, original: str, token: str | None, signer: fx.AppleSigner | None = None) -> bytes:
        """An App Store SUBSCRIBED (INITIAL_BUY) notification body for `original`, signed by `signer`."""
        now = fx.now_ms()
        return (signer or self.signer).notification_body(
            "SUBSCRIBED",
            "INITIAL_BUY",
            transaction=self.signer.transaction(
                originalTransactionId=original, transactionId=original, appAccountToken=token, signedDate=now
            ),
            renewal_info=self.signer.renewal_info(
                originalTransactionId=original, appAccountToken=token, signedDate=now
            ),
            signedDate=now,
        )


def paid_invoice(invoice_id: str, sub_id: str, period_end: int) -> dict:
    """A paid Stripe invoice whose lines carry the price and product (as the API's `pricing` does)."""
    invoice = stripe.invoice(invoice_id, sub_id, period_end)
    invoice["amount_paid"] = 999
    for line in invoice["lines"]["data"]:
        line["pricing"] = {
            "type": "price_details",
            "price_details": {"price": "price_pro_monthly", "product": "prod_pro"},
        }
    return invoice


# -- the scenarios, in the order they run


def stripe_webhook(bench: CallBench) -> None:
    """A new event, its duplicates before and after it is processed, and a bad signature."""
    created = stripe.event(
        "customer.subscription.created", stripe.subscription(SUB, "active", bench.end1, user_id=USER), created=bench.t0
    )
    bench.webhook_row("new event", created)
    bench.webhook_row("duplicate, not yet processed", created)
    bench.process_row("customer.subscription.created (new user, new purchase)")
    bench.webhook_row("duplicate, already processed", created)
    bench.webhook_row(
        "rejected (bad signature)",
        stripe.event("customer.subscription.created", stripe.subscription("sub_x")),
        secret="whsec_wrong",
    )


def entitlement_reads(bench: CallBench) -> None:
    """The read of a known user, and the first read of a new one."""
    bench.row(
        "Entitlements read: existing user",
        lambda: bench.stack.read(USER),
        "exactly 1 DynamoDB request",
        lambda calls: calls == {"dynamodb": {"Query": 1}},
    )
    bench.row(
        "Entitlements read: first read of a new user (issues the appAccountToken)",
        lambda: bench.stack.read("u_bench_new"),
        "1 Query + the one-time token write",
        lambda calls: dynamodb_requests(calls) <= 2,
    )


def subscription_lifecycle(bench: CallBench) -> None:
    """The first user's subscription: cancelled at period end, renewed, its payment linked, refunded."""
    t0 = bench.t0
    bench.process_row(
        "customer.subscription.updated (cancel at period end)",
        stripe.event(
            "customer.subscription.updated",
            stripe.subscription(SUB, "active", bench.end1, user_id=USER, cancel_at_period_end=True),
            created=t0 + 10,
        ),
    )
    bench.process_row(
        "invoice.paid (renewal)",
        stripe.event("invoice.paid", paid_invoice("in_bench", SUB, bench.end2), created=t0 + 20),
    )
    bench.process_row(
        "invoice_payment.paid (links the payment)",
        stripe.event(
            "invoice_payment.paid", stripe.invoice_payment("in_bench", "pi_bench", "ch_bench"), created=t0 + 21
        ),
    )
    bench.process_row(
        "charge.refunded (full refund)",
        stripe.event("charge.refunded", stripe.charge("ch_bench", "pi_bench"), created=t0 + 30),
    )


def second_user(bench: CallBench) -> None:
    """A second user's paid subscription: disputed, its customer and checkout linked, a purchase owned
    through the customer link, a stale update, and an event type Parity ignores."""
    t0, end1 = bench.t0, bench.end1
    bench.settle(
        stripe.event(
            "customer.subscription.created", stripe.subscription(SUB2, "active", end1, user_id=USER2), created=t0
        ),
        stripe.event("invoice.paid", paid_invoice("in_bench2", SUB2, end1), created=t0 + 1),
        stripe.event(
            "invoice_payment.paid", stripe.invoice_payment("in_bench2", "pi_bench2", "ch_bench2"), created=t0 + 2
        ),
    )
    bench.process_row(
        "charge.dispute.created",
        stripe.event("charge.dispute.created", stripe.dispute("dp_bench", "ch_bench2", "pi_bench2"), created=t0 + 40),
    )
    bench.process_row(
        "customer.updated (links the customer)",
        stripe.event("customer.updated", stripe.customer(CUSTOMER, user_id=USER2), created=t0 + 41),
    )
    bench.process_row(
        "checkout.session.completed (subscription mode)",
        stripe.event(
            "checkout.session.completed", stripe.checkout_session(user_id=USER2, subscription_id=SUB2), created=t0 + 42
        ),
    )
    bench.process_row(
        "customer.subscription.created without a user id (owner from the customer link)",
        stripe.event(
            "customer.subscription.created",
            stripe.subscription(LINKED_SUB, "active", end1, customer=CUSTOMER, user_id=None),
            created=t0 + 43,
        ),
    )
    bench.process_row(
        "stale customer.subscription.updated (older than stored)",
        stripe.event(
            "customer.subscription.updated",
            stripe.subscription(SUB2, "past_due", end1, user_id=USER2),
            created=t0 - 100,
        ),
    )
    bench.process_row(
        "an event type Parity ignores (payment_intent.succeeded)",
        stripe.event("payment_intent.succeeded", {"id": "pi_other", "object": "payment_intent"}),
    )


def redeliveries(bench: CallBench) -> None:
    """The same message processed again: an SQS redelivery after the first run applied it."""
    t0 = bench.t0
    renewal = stripe.event(
        "customer.subscription.updated", stripe.subscription(SUB2, "active", bench.end2, user_id=USER2), created=t0 + 50
    )
    bench.settle(renewal)
    bench.redelivered_row("customer.subscription.updated", renewal, group=SUB2)
    paid = stripe.event("invoice.paid", paid_invoice("in_bench3", SUB2, t0 + 90 * stripe.DAY), created=t0 + 60)
    bench.settle(paid)
    bench.redelivered_row("invoice.paid", paid, group=SUB2)


def app_store_webhook(bench: CallBench) -> None:
    """App Store notifications, held to the Stripe webhook's target: new, duplicates, TEST, forged."""
    for name in ("apple_webhook", "receipts"):  # imported (cold start) before any counting
        bench.stack.function(name)
    stack, target = bench.stack, "Stripe's: ≤ 1 DynamoDB write, ≤ 1 SQS send"

    def apple_row(label: str, body: bytes, status: int = 200) -> None:
        send = answered(status, label, lambda: stack.post_apple(body))
        bench.row(f"App Store webhook: {label}", send, target, one_write_one_send)

    token = stack.read("u_bench_apple").body["appAccountToken"]  # the app's first read issued it
    body = bench.subscribed("3000000000000001", token)
    apple_row("new notification (SUBSCRIBED: 3 JWS verified)", body)
    apple_row("duplicate, not yet processed", body)
    bench.process_row("App Store SUBSCRIBED (INITIAL_BUY) with a known appAccountToken")
    apple_row("duplicate, already processed", body)
    apple_row("TEST notification (acknowledged, not stored)", bench.signer.notification_body("TEST", None))
    forged = bench.subscribed("3000000000000002", None, bench.forger)
    apple_row("rejected (chain from another root)", forged, status=400)


def app_store_receipts(bench: CallBench) -> None:
    """The receipts endpoint (no target set): a new signed transaction, the same again, a forged one."""
    user = "u_bench_receipt"

    def receipt_row(label: str, body: dict, status: int, note: str = "") -> None:
        send = answered(status, label, lambda: bench.stack.submit_receipt(user, body))
        bench.row(f"Receipts (app_store): {label} → {status}", send, "– (none set)", note=note)

    token = bench.stack.read(user).body["appAccountToken"]  # the app reads before it sells
    now = fx.now_ms()
    transaction = bench.signer.signed_transaction(
        originalTransactionId="4000000000000001",
        transactionId="4000000000000001",
        appAccountToken=token,
        signedDate=now,
    )
    body = {"store": "app_store", "signedTransaction": transaction}
    receipt_row(
        "signedTransaction of a new purchase (no API credentials)",
        body,
        200,
        "TransactWriteItems: receipt appended to the event log (event and body); GetItem, Query, TransactWriteItems: applied; "
        "Query: entitlements read back",
    )
    receipt_row(
        "the same signedTransaction again",
        body,
        200,
        "TransactWriteItems: a claim event of its own (event and body); GetItem: the purchase, unchanged; UpdateItem: marked "
        "processed, nothing published; Query: entitlements read back",
    )
    forged = bench.forger.signed_transaction(originalTransactionId="4000000000000002", signedDate=now)
    receipt_row(
        "forged signedTransaction (chain from another root)", {"store": "app_store", "signedTransaction": forged}, 400
    )


def ownership(bench: CallBench) -> None:
    """A claim taking a purchase over (strategy LAST, the default), and the operator's association."""
    taker = stripe.event(
        "customer.subscription.updated",
        stripe.subscription(LINKED_SUB, "active", bench.end1, customer=CUSTOMER, user_id="u_bench_taker"),
        created=bench.t0 + 44,
    )
    bench.stack.deliver(taker)
    bench.row(
        "Process a claim taking a purchase over (LAST) → applied",
        bench.stack.drain,
        "one Query per user involved + 2",
        lambda calls: dynamodb_requests(calls) <= 4,
        "GetItem: the purchase; Query: the claimant, the previous owner; "
        "TransactWriteItems: both users, the purchase, the audit lines",
    )
    bench.row(
        "Admin: manual association of a purchase (PUT .../owner)",
        lambda: bench.stack.assign_owner(f"stripe:{LINKED_SUB}", USER2),
        "– (none set)",
        note="BatchGetItem: the purchase; TransactWriteItems: the action in the event log (event and body); "
        "Query: the new owner, the previous owner; TransactWriteItems",
    )


def merge_and_report(bench: CallBench) -> None:
    """The operator merges a user into another, the merged id is read, and the user report."""
    bench.stack.read(ALIAS)
    bench.settle(
        stripe.event(
            "customer.subscription.created",
            stripe.subscription("sub_bench_alias", "active", bench.end1, user_id=ALIAS),
            created=bench.t0 + 45,
        )
    )
    bench.row(
        "Admin: merge of a user holding one purchase (POST .../merge)",
        lambda: bench.stack.merge(USER2, ALIAS),
        "– (none set)",
        note="Query: both users; BatchGetItem: their purchases; TransactWriteItems: the action in the event log (event and body); "
        "TransactWriteItems: one per 15 purchases",
    )
    bench.row(
        "Entitlements read: a merged user id (alias)",
        lambda: bench.stack.read(ALIAS),
        "2 Queries (aliases only)",
        lambda calls: dynamodb_requests(calls) == 2,
    )
    bench.row(
        "Admin: user report (GET /v1/admin/users/{userId})",
        lambda: bench.stack.user_report(USER2),
        "– (none set)",
        note="Query: the user; Query per trail (the user and each alias); Query on GSI1 per purchase",
    )


SCENARIOS = (
    stripe_webhook,
    entitlement_reads,
    subscription_lifecycle,
    second_user,
    redeliveries,
    app_store_webhook,
    app_store_receipts,
    ownership,
    merge_and_report,
)


@contextlib.contextmanager
def call_bench() -> Iterator[CallBench]:
    """The local stack in-process (moto), App Store configured with the generated root."""
    from tests.support.harness import TEST_CATALOG

    catalog = {"products": {**TEST_CATALOG["products"], APPLE_PRODUCT: ["pro"]}}
    with scratch("parity-bench-calls-") as directory:
        env = {
            "POWERTOOLS_LOG_LEVEL": "ERROR",
            "APPLE_BUNDLE_ID": fx.BUNDLE_ID,
            "APPLE_ENVIRONMENT": "Sandbox",
            "APPLE_ROOT_CERTS": str(write_apple_root(directory)),
        }
        with quiet_stack(catalog=catalog, env=env) as stack:
            yield CallBench(stack)


def count_calls() -> list[CallRow]:
    """The AWS calls of every scenario's operations, one row each, in order."""
    os.environ["POWERTOOLS_LOG_LEVEL"] = "ERROR"  # before parity.observability creates its Logger
    with call_bench() as bench:
        for scenario in SCENARIOS:
            scenario(bench)
    return bench.rows


def _by_operation(calls: Calls, service: str) -> str:
    return ", ".join(f"{op} {n}" for op, n in calls.get(service, {}).items()) or "–"


def render(rows: list[CallRow]) -> list[str]:
    """The calls section: one line per operation, with its target and whether it was met."""
    header = (
        "operation", "DynamoDB requests", "DynamoDB by operation", "SQS sends", "EventBridge PutEvents", "target", "met"
    )
    lines = [
        (
            f"{row.operation} ({row.note})" if row.note else row.operation,
            dynamodb_requests(row.calls),
            _by_operation(row.calls, "dynamodb"),
            row.calls.get("sqs", {}).get("SendMessage", 0),
            row.calls.get("events", {}).get("PutEvents", 0),
            row.target,
            verdict(row.met),
        )
        for row in rows
    ]
    return [
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
        *table(header, "lrlrrll", lines),
        "",
    ]


if __name__ == "__main__":
    from bench import run

    raise SystemExit(run.main(["--only", "calls", *sys.argv[1:]]))
