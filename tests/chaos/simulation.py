"""The fault-injection run: the real functions in-process on moto (`tests.support.harness`), fed by
simulated stores and a simulated SQS event source mapping on a simulated clock.

- Stores: each delivery POSTs to the webhook function (Stripe signed at delivery, the App Store's signed
  payload, a Pub/Sub push with a fresh OIDC token). Anything but a 200 (an error answer, or the
  function failing) is delivered again later, as the stores do: Stripe after 1, 3, 9, ... minutes,
  Apple after 1, 12, 24, 48, 72 hours, Pub/Sub after 10 s doubling to 600 s.
- The event source mapping: batches of ten received from the FIFO queue, the processor invoked
  (Powertools partial batch response), what succeeded deleted. A failed record stays in flight for the
  backoff the processor set on it (`ChangeMessageVisibility`, `parity.retries`: the production schedule,
  jitter drawn from a seeded generator); a record whose ChangeMessageVisibility failed, and a crashed
  or undeleted batch (the function died after returning), come back after the queue's
  VisibilityTimeout (1,800 s, template.yaml). moto's SQS runs on the simulated clock
  (`tests/chaos/sqs_clock.py`): the clock jumps to the next store delivery or the next moment a
  message becomes visible, whichever is first. moto moves a message to the DLQ when it would be
  received a 51st time (maxReceiveCount 50, template.yaml).
- A bad deploy (optional, `bad_deploy`): a window of simulated time in which the processor fails
  every record (an error that is not an outage: the short schedule), long enough that messages use up
  their receives and go to the DLQ.
- The operator: once the queue is quiet, `parity dlq redrive store-events` (the console, in-process)
  an hour later; again until the DLQ stays empty.

`run(...)` returns what happened and the end state read back with faults off: every user's
entitlements read (`GET /v1/users/{id}/entitlements`), every purchase item, profile counters, the event
log, the change events published, and the queues' depths.
"""

from __future__ import annotations

import contextlib
import copy
import heapq
import io
import json
import random
import shutil
import tempfile
import time
import warnings
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.chaos.faults import FaultInjector, SimulatedCrash
from tests.chaos.scenarios import CATALOG, Delivery, Scenario
from tests.support import apple as fx
from tests.support import google as push
from tests.support.lambda_events import LambdaContext, sqs_event

BATCH = 10  # the event source mapping's BatchSize
REDRIVE_AFTER = 3600  # the operator redrives an hour after the queue went quiet
MAX_REDRIVES = 12
MAX_DELIVERY_ATTEMPTS = 40
APPLE_RETRIES = (3600, 12 * 3600, 24 * 3600, 48 * 3600, 72 * 3600)
ROUTES = {"stripe": "POST /webhooks/stripe", "app_store": "POST /webhooks/apple", "play_store": "POST /webhooks/google"}
# Keys of the read answer and of stored items that say when, not what.
VOLATILE = {"requestDate", "cacheUntil", "signedEntitlements"}
PURCHASE_VOLATILE = {"version", "updatedAt", "checkedAt", "GSI2PK", "GSI2SK", "learnedAt", "at"}


def retry_delay(store: str, attempt: int) -> int:
    """Seconds before a store delivers again after failed attempt number `attempt` (1-based)."""
    if store == "stripe":
        return min(60 * 3 ** (attempt - 1), 12 * 3600)
    if store == "app_store":
        return APPLE_RETRIES[min(attempt, len(APPLE_RETRIES)) - 1]
    return min(10 * 2 ** (attempt - 1), 600)


@dataclass
class RunResult:
    label: str
    wall_seconds: float = 0.0
    answers: Counter = field(default_factory=Counter)  # (route, status) → count
    deliveries: int = 0
    store_retries: int = 0
    never_accepted: list[str] = field(default_factory=list)
    accepted: set[tuple[str, str]] = field(default_factory=set)
    batches: int = 0
    invocations_failed: int = 0
    records: Counter = field(default_factory=Counter)  # succeeded / failed
    not_deleted: int = 0
    redrives: list[dict] = field(default_factory=list)
    redriven: int = 0
    last_first_delivery: int = 0  # simulated seconds
    converged_at: int = 0  # simulated seconds: the last message processed
    faults: Counter = field(default_factory=Counter)
    calls: Counter = field(default_factory=Counter)
    # the end state
    reads: dict[str, Any] = field(default_factory=dict)
    purchases: dict[str, Any] = field(default_factory=dict)
    profiles: dict[str, Any] = field(default_factory=dict)
    events: dict[tuple[str, str], dict] = field(default_factory=dict)
    changes: list[dict] = field(default_factory=list)
    queue_left: int = 0
    dlq_left: int = 0


def strip(value: Any, volatile: set[str] = VOLATILE) -> Any:
    if isinstance(value, dict):
        return {k: strip(v, volatile) for k, v in sorted(value.items()) if k not in volatile}
    if isinstance(value, list):
        return [strip(v, volatile) for v in value]
    return value


def _plain(value: Any) -> Any:
    """DynamoDB's Decimals and Binary as JSON-comparable values."""
    from decimal import Decimal

    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set)):
        items = [_plain(v) for v in value]
        return sorted(items, key=json.dumps) if isinstance(value, set) else items
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, (bytes, bytearray)) or type(value).__name__ == "Binary":
        return "<binary>"
    return value


class _Clock:
    """The stores' deliveries, due at simulated seconds."""

    def __init__(self) -> None:
        self.now: float = 0
        self._heap: list[tuple[float, int, str, Any]] = []
        self._seq = 0

    def at(self, when: float, kind: str, payload: Any) -> None:
        self._seq += 1
        heapq.heappush(self._heap, (when, self._seq, kind, payload))

    def next(self) -> float | None:
        return self._heap[0][0] if self._heap else None

    def due(self) -> list[tuple[str, Any]]:
        """Everything due by now, in order."""
        out = []
        while self._heap and self._heap[0][0] <= self.now:
            _, _, kind, payload = heapq.heappop(self._heap)
            out.append((kind, payload))
        return out


def run(
    scenario: Scenario,
    deliveries: list[Delivery],
    *,
    label: str,
    faults: FaultInjector | None = None,
    not_delete_rate: float = 0.0,
    bad_deploy: tuple[int, int] | None = None,
    rate_per_second: int = 10,
    seed: int = 0,
    progress=None,
) -> RunResult:
    """Deliver `deliveries` (at `rate_per_second`) and drive everything to quiet; read the end state.
    `bad_deploy`: (after, seconds): `after` simulated seconds after the last first delivery, the
    processor fails every record for `seconds` (a deploy with a bug, rolled back)."""
    from tests.chaos.sqs_clock import SqsClock, simulated_sqs
    from tests.support import harness
    from tests.support.play_api import PACKAGE, Loopback, PlayApiState

    result = RunResult(label)
    started = time.perf_counter()
    rng = random.Random(seed * 31 + 7)
    scratch = Path(tempfile.mkdtemp(prefix="parity-chaos-"))
    sqs_clock = SqsClock()
    with contextlib.ExitStack() as cleanup:
        cleanup.callback(shutil.rmtree, scratch, ignore_errors=True)
        certs = cleanup.enter_context(push.certs_server())
        play = PlayApiState(private_key=_play_key(), base_url="http://play-api.invalid")
        env = {
            "POWERTOOLS_LOG_LEVEL": "CRITICAL",
            "POWERTOOLS_METRICS_DISABLED": "true",
            "APPLE_BUNDLE_ID": fx.BUNDLE_ID,
            "APPLE_ENVIRONMENT": "Sandbox",
            "APPLE_ROOT_CERTS": str(fx.default_chain().write_root(scratch, pem=False)),
            "GOOGLE_PACKAGE_NAME": PACKAGE,
            "GOOGLE_PUBSUB_AUDIENCE": push.AUDIENCE,
            "GOOGLE_PUBSUB_SERVICE_ACCOUNT": push.SERVICE_ACCOUNT,
            "GOOGLE_OIDC_CERTS_URL": certs.url,
            "GOOGLE_API_BASE": play.base_url,
            "GOOGLE_SERVICE_ACCOUNT_FILE": str(play.write_service_account(scratch / "service-account.json")),
        }
        # (harness.running_stack installs tests.support.moto_speed's faster transactions and queries)
        stack = cleanup.enter_context(harness.running_stack(catalog=CATALOG, catalog_dir=scratch, env=env))
        cleanup.enter_context(simulated_sqs(sqs_clock))
        cleanup.enter_context(contextlib.redirect_stdout(io.StringIO()))
        cleanup.enter_context(warnings.catch_warnings())
        warnings.filterwarnings("ignore", "No application metrics to publish", UserWarning)
        import boto3

        if faults is not None:
            cleanup.callback(faults.install(boto3.DEFAULT_SESSION))
        for token, resource in scenario.play_resources.items():
            play.subscriptions[(PACKAGE, token)] = copy.deepcopy(resource)
        sqs = stack.session.client("sqs")
        # The change-capture queue keeps what it holds for the whole simulated run (days under faults).
        sqs.set_queue_attributes(QueueUrl=stack.changes_queue_url, Attributes={"MessageRetentionPeriod": str(14 * 86400)})
        from parity.adapters.dynamodb import DynamoRepository

        setup_repo = DynamoRepository(stack.table, client=stack.session.client("dynamodb"))
        for user, token in scenario.users.items():  # the apps' first reads issued these tokens
            setup_repo.create_profile(user, token)
        for name in ("stripe_webhook", "apple_webhook", "google_webhook", "event_processor", "entitlements"):
            stack.function(name)
        processor = stack.processor
        # The backoff's jitter, seeded: both runs and every rerun draw the same delays.
        processor.redelivery._draw = random.Random(seed * 17 + 3).random
        play_api = processor.service._play
        play_api.prepare()
        play_api._purchases._http.http.request = Loopback(play).request
        if faults is not None:
            faults.wrap_play(play_api)
        last_first_delivery = (len(deliveries) - 1) // rate_per_second
        if bad_deploy is not None:
            window = (last_first_delivery + bad_deploy[0], bad_deploy[1])
            _install_bad_deploy(processor.service, sqs_clock, window, faults)
        bearer = {"token": push.bearer(push.mint_token()), "at": time.time()}
        capture = _ChangeCapture(stack)

        def post(event) -> int:
            try:
                if event.store == "stripe":
                    return stack.post_stripe(event.body).status
                if event.store == "app_store":
                    return stack.post_apple(event.body).status
                if time.time() - bearer["at"] > 1800:
                    bearer.update(token=push.bearer(push.mint_token()), at=time.time())
                return stack.post_google(event.body, bearer["token"]).status
            except Exception:  # noqa: BLE001 - the function failed: the function URL answers 502
                return 502

        clock = _Clock()
        for n, delivery in enumerate(deliveries):
            clock.at(n // rate_per_second, "deliver", (delivery, 1))
        result.last_first_delivery = last_first_delivery
        deleted: set[str] = set()

        def process(batch: list[dict]) -> None:
            """One invocation of the event source mapping: Lambda deletes what the answer does not name
            as failed; a failed record stays in flight for the backoff the handler set on it, a crashed
            or undeleted batch for the queue's visibility timeout."""
            result.batches += 1
            crashed = False
            if faults is not None:
                faults.enabled, faults.in_processor = True, True
            try:
                answer = processor.lambda_handler(sqs_event(batch, stack.queue_arn), LambdaContext("parity-event-processor"))
            except SimulatedCrash:
                crashed, answer = True, None
            except Exception:  # noqa: BLE001 - the invocation failed (every record failed): nothing deleted
                result.invocations_failed += 1
                answer = {"batchItemFailures": [{"itemIdentifier": m["MessageId"]} for m in batch]}
            finally:
                if faults is not None:
                    faults.in_processor = False
            if not crashed and not_delete_rate and rng.random() < not_delete_rate:
                crashed = True
                result.not_deleted += 1
                if faults is not None:
                    faults.counts["processor.NotDeleted"] += 1
            failed = set() if answer is None else {item["itemIdentifier"] for item in answer.get("batchItemFailures", [])}
            for message in batch:
                if crashed or message["MessageId"] in failed:
                    result.records["failed"] += 1
                else:
                    result.records["succeeded"] += 1
                    sqs.delete_message(QueueUrl=stack.queue_url, ReceiptHandle=message["ReceiptHandle"])
                    deleted.add(message["MessageId"])
            result.converged_at = int(clock.now)

        def drain_queue() -> None:
            while True:
                batch = stack.receive(BATCH)
                if not batch:
                    return
                process(batch)

        def quiet() -> None:
            """Run the clock until no delivery is due and no message will become visible again: each
            step jumps to the next store delivery or the next visibility deadline, whichever is first."""
            steps = 0
            while True:
                moments = [t for t in (clock.next(), sqs_clock.next_visible(deleted.__contains__)) if t is not None]
                if not moments:
                    break
                clock.now = max(clock.now, min(moments))
                sqs_clock.now = clock.now
                for _kind, payload in clock.due():
                    delivery, attempt = payload
                    if faults is not None:
                        faults.enabled = True
                    status = post(delivery.event)
                    result.deliveries += 1
                    result.store_retries += attempt > 1
                    result.answers[(ROUTES[delivery.event.store], status)] += 1
                    key = (delivery.event.store, delivery.event.event_id)
                    if status == 200:
                        result.accepted.add(key)
                    elif attempt < MAX_DELIVERY_ATTEMPTS:
                        clock.at(clock.now + retry_delay(delivery.event.store, attempt), "deliver", (delivery, attempt + 1))
                    elif key not in result.accepted:
                        result.never_accepted.append(delivery.event.event_id)
                drain_queue()
                steps += 1
                if steps % 100 == 0:
                    result.changes += capture.take()
                    if progress and steps % 2000 == 0:
                        progress(f"{label}: t={clock.now:.0f}s deliveries={result.deliveries} batches={result.batches}")
            result.changes += capture.take()

        quiet()
        from parity_cli.main import run as cli

        for _ in range(MAX_REDRIVES):
            if stack.queue_depth(stack.dlq_url) == 0:
                break
            clock.now += REDRIVE_AFTER
            sqs_clock.now = clock.now
            out, err = io.StringIO(), io.StringIO()
            code = cli(["dlq", "redrive", "store-events", "--json"], stdout=out, stderr=err, clients={"sqs": sqs}, tty=False)
            document = json.loads(out.getvalue() or "{}")
            moved = sum(r.get("moved", 0) for r in document.get("redrives", []))
            result.redrives.append({"at": int(clock.now), "code": code, "moved": moved})
            result.redriven += moved
            if progress:
                progress(f"{label}: t={clock.now:.0f}s redrive moved {moved}")
            drain_queue()
            quiet()
        if faults is not None:
            faults.enabled = False
            result.faults, result.calls = Counter(faults.counts), Counter(faults.calls)
        result.changes += capture.take()
        result.queue_left = stack.queue_depth()
        result.dlq_left = stack.queue_depth(stack.dlq_url)
        _read_back(stack, scenario, result)
    result.wall_seconds = time.perf_counter() - started
    return result


class _ChangeCapture:
    """The change events the bus forwarded to the capture queue (`Stack.changes` and `notices`), taken
    from moto's queue directly: the queue is only the harness's window on the bus, and reading it
    through the SQS API ten at a time, each deleted by a scan of the queue, cost more than the run."""

    def __init__(self, stack) -> None:
        from moto.sqs.models import sqs_backends

        account = stack.changes_queue_url.rstrip("/").split("/")[-2]
        self._queue = sqs_backends[account][harness_region()].queues["parity-test-changes"]

    def take(self) -> list[dict]:
        messages, self._queue._messages = self._queue._messages, []
        out = []
        for message in messages:
            envelope = json.loads(message.body)
            assert envelope["source"] == "parity", envelope
            out.append(envelope["detail"])  # entitlement.changed, and the other Parity events
        return out


def harness_region() -> str:
    from tests.support.harness import REGION

    return REGION


def _install_bad_deploy(service, clock, window: tuple[int, int], faults: FaultInjector | None) -> None:
    """A deploy with a bug: from `window[0]` for `window[1]` simulated seconds, the processor fails every
    record it is handed (an error that is not an outage: the short retry schedule), so that messages
    use up their receives and go to the DLQ; the operator's redrive then brings them back."""
    start, seconds = window
    real = service.process_message

    def process_message(*args, **kwargs):
        if start <= clock.now < start + seconds:
            if faults is not None:
                faults.counts["processor.BadDeploy"] += 1
            raise RuntimeError("bad deploy: every record fails")
        return real(*args, **kwargs)

    service.process_message = process_message


_PLAY_KEY: list = []


def _play_key():
    from tests.support.play_api import generate_key

    if not _PLAY_KEY:
        _PLAY_KEY.append(generate_key())
    return _PLAY_KEY[0]


def _read_back(stack, scenario: Scenario, result: RunResult) -> None:
    for user in scenario.users:
        answer = stack.read(user)
        result.reads[user] = {"status": answer.status, "body": strip(answer.body)}
    for item in stack.table_items():
        pk, sk = item["PK"], item["SK"]
        if pk.startswith("PURCHASE#") and sk == "PURCHASE":
            pid = pk[len("PURCHASE#") :]
            # A Play notification is a trigger: the state applied is Google's at the fetch, timed then.
            volatile = PURCHASE_VOLATILE | {"eventTime", "snapshotAt"} if pid.startswith("play_store:") else PURCHASE_VOLATILE
            result.purchases[pid] = strip(_plain(item), volatile)
        elif pk.startswith("USER#") and sk == "PROFILE":
            result.profiles[pk[len("USER#") :]] = {
                "refunds": _plain(item.get("refunds", 0)),
                "flagged": "flaggedAt" in item,
                "appAccountToken": item.get("appAccountToken"),
            }
        elif pk.startswith("EVENT#") and sk == "EVENT":
            result.events[(item["source"], item["eventId"])] = {
                "processed": "processedAt" in item,
                "outcome": item.get("outcome"),
                "changes": json.loads(item.get("changes") or "[]"),
                "failures": _plain(item.get("failures", 0)),
            }
