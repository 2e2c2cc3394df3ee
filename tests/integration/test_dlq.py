"""Dead letters end to end against moto: a poison message reaches the DLQ after maxReceiveCount with its
failure reason recorded; `parity dlq show` reads it without consuming it; `parity dlq redrive` (one by
one: moto has no StartMessageMoveTask) brings it back and, the cause fixed, it is processed once. An
interrupted redrive run again sends nothing twice (FIFO dedup). The move-task path, which moto lacks,
is driven with botocore's Stubber."""

from __future__ import annotations

import io
import json

import boto3
import pytest
from botocore.exceptions import ClientError
from botocore.stub import Stubber

from local.resources import load_template
from parity.adapters.dynamodb import DynamoRepository
from parity_cli.context import Context
from parity_cli.deadletters import redriving
from parity_cli.deadletters.queues import DeadLetterQueue
from parity_cli.deadletters.redriving import dedup_id, move_task_unsupported
from parity_cli.main import run
from parity_cli.output import Output
from parity_cli.resources import Resources
from tests.support import stripe

# StoreEventsQueue's RedrivePolicy in template.yaml (the MaxReceiveCount parameter's default)
MAX_RECEIVE_COUNT = load_template()["Parameters"]["MaxReceiveCount"]["Default"]


def cli(*argv: str, clients: dict | None = None) -> tuple[int, str, str]:
    """`parity ARGV` in-process (resources from the functions' environment the harness set)."""
    out, err = io.StringIO(), io.StringIO()
    code = run(list(argv), stdout=out, stderr=err, clients=clients, tty=False)
    return code, out.getvalue(), err.getvalue()


def cli_json(*argv: str, clients: dict | None = None, expect: int = 0) -> dict:
    code, out, err = cli(*argv, "--json", clients=clients)
    assert code == expect, (code, out, err)
    assert err == "" or expect != 0, err  # nothing on stderr with --json (no progress bar)
    return json.loads(out)


def store_events(document: dict) -> dict:
    (queue,) = [q for q in document["dlqs"] if q["name"] == "StoreEvents"]
    return queue


def break_processing(stack, monkeypatch, failing: set[str], message: str = "Stripe is down (HTTP 503)"):
    """Processing of the events whose ids are in `failing` raises; empty the set to fix the cause."""
    service = stack.processor.service
    real = service.process_stripe

    def flaky(event, *args, **kwargs):
        if event["id"] in failing:
            raise RuntimeError(message)
        return real(event, *args, **kwargs)

    monkeypatch.setattr(service, "process_stripe", flaky)


def fail_until_dead_lettered(stack) -> None:
    """Deliver and fail the queue's messages until SQS moves them to the DLQ (maxReceiveCount)."""
    for attempt in range(1, MAX_RECEIVE_COUNT + 1):
        drained = stack.drain()
        assert drained.failed and not drained.succeeded, (attempt, drained)
        stack.redeliver_failed()
    # the next receive finds them received maxReceiveCount times: moto, like SQS, moves them to the DLQ
    assert stack.drain().batches == []


def test_a_poison_message_is_dead_lettered_with_its_reason_shown_unconsumed_redriven_and_processed_once(
    stack, t0, monkeypatch
):
    user, sub = "u_poison", "sub_poison"
    event = stripe.event(
        "customer.subscription.created",
        stripe.subscription(sub, "active", t0 + 30 * stripe.DAY, user_id=user),
        created=t0,
    )
    failing = {event["id"]}
    break_processing(stack, monkeypatch, failing)
    stack.deliver(event)

    # GIVEN processing fails every time: after maxReceiveCount receives the message is a dead letter
    fail_until_dead_lettered(stack)
    assert stack.queue_depth(stack.dlq_url) == 1 and stack.queue_depth() == 0
    logged = stack.event_item(event["id"])
    assert logged["failures"] == MAX_RECEIVE_COUNT and "processedAt" not in logged
    assert logged["lastError"] == "RuntimeError: Stripe is down (HTTP 503)"

    # WHEN the operator lists the DLQs
    listed = store_events(cli_json("dlq", "list"))
    assert (listed["visible"], listed["inFlight"], listed["sourceQueueUrl"]) == (1, 0, stack.queue_url)
    assert listed["dlqUrl"] == stack.dlq_url and listed["fifo"] is True
    code, human, _ = cli("dlq", "list")
    assert code == 0 and "StoreEvents" in human and "store-events-dlq.fifo" in human and "VISIBLE" in human

    # AND looks at the dead letters, twice: the reason is there, and nothing is consumed
    for _ in range(2):
        shown = store_events(cli_json("dlq", "show", "StoreEvents"))
        (letter,) = shown["messages"]
        assert (letter["source"], letter["eventId"], letter["eventType"]) == (
            "stripe",
            event["id"],
            "customer.subscription.created",
        )
        assert letter["failure"]["error"] == "RuntimeError: Stripe is down (HTTP 503)"
        assert letter["failure"]["failures"] == MAX_RECEIVE_COUNT and letter["failure"]["at"]
        assert letter["receiveCount"] > MAX_RECEIVE_COUNT and letter["sentAt"] and letter["inEventLog"] is True
        assert letter["processedAt"] is None
        assert stack.queue_depth(stack.dlq_url) == 1
    code, human, _ = cli("dlq", "show")
    assert code == 0 and event["id"] in human and "RuntimeError: Stripe is down (HTTP 503)" in human
    assert f"{MAX_RECEIVE_COUNT} failures" in human and "none was consumed" in human

    # AND, the cause fixed, redrives it: moto has no StartMessageMoveTask, so one by one
    failing.clear()
    (redriven,) = cli_json("dlq", "redrive", "store-events")["redrives"]
    assert (redriven["method"], redriven["status"], redriven["moved"]) == ("one-by-one", "COMPLETED", 1)
    assert "StartMessageMoveTask is not available" in redriven["fallbackReason"]
    assert stack.queue_depth(stack.dlq_url) == 0 and stack.queue_depth() == 1

    # THEN it is processed, once
    drained = stack.drain()
    assert len(drained.succeeded) == 1 and not drained.failed
    assert stack.event_item(event["id"])["outcome"] == "applied"
    assert stack.read(user).body["entitlements"]["pro"]["active"] is True
    changes = stack.changes()
    assert [(c["userId"], c["entitlement"], c["new"]["active"]) for c in changes] == [(user, "pro", True)]

    # AND a second redrive finds nothing, and a second copy of the message (a redrive repeated past the
    # dedup window) applies nothing: processing is idempotent (the recorded change is published again
    # under its changeId, which consumers deduplicate on)
    (again,) = cli_json("dlq", "redrive")["redrives"][-1:]
    assert again["method"] == "none" and again["moved"] == 0
    stack.send_raw(drained.bodies[drained.succeeded[0]], group=f"stripe:{sub}", dedup_id="a-second-copy")
    assert len(stack.drain().succeeded) == 1
    assert {c["changeId"] for c in stack.changes()} <= {c["changeId"] for c in changes}
    assert stack.purchase_item(f"stripe:{sub}")["version"] == 1
    assert stack.event_item(event["id"])["outcome"] == "applied"
    code, human, _ = cli("dlq", "redrive", "StoreEvents")
    assert code == 0 and "nothing to redrive" in human


def test_a_record_skipped_behind_a_failed_one_of_its_group_is_recorded_too(stack, t0, monkeypatch):
    sub, user = "sub_grouped", "u_grouped"
    first = stripe.event(
        "customer.subscription.created",
        stripe.subscription(sub, "active", t0 + 30 * stripe.DAY, user_id=user),
        created=t0,
    )
    second = stripe.event(
        "customer.subscription.updated",
        stripe.subscription(sub, "active", t0 + 30 * stripe.DAY, user_id=user, cancel_at_period_end=True),
        created=t0 + 5,
    )
    break_processing(stack, monkeypatch, {first["id"]})
    stack.deliver(first, second)

    drained = stack.drain()

    assert len(drained.failed) == 2
    assert stack.event_item(first["id"])["lastError"].startswith("RuntimeError: ")
    skipped = stack.event_item(second["id"])
    assert skipped["failures"] == 1 and "SkippedInGroup: not started: a previous record of message group" in skipped["lastError"]


def test_recording_a_failure_never_fails_the_batch(stack, t0, monkeypatch):
    event = stripe.event(
        "customer.subscription.created", stripe.subscription("sub_norecord", user_id="u_nr"), created=t0
    )
    break_processing(stack, monkeypatch, {event["id"]})

    def unavailable(*args, **kwargs):
        raise ClientError(
            {"Error": {"Code": "ProvisionedThroughputExceededException", "Message": "slow down"}}, "UpdateItem"
        )

    monkeypatch.setattr(stack.processor.repository, "record_failure", unavailable)
    stack.deliver(event)

    drained = stack.drain()

    assert len(drained.failed) == 1  # failed for its own reason, reported as usual
    assert "lastError" not in stack.event_item(event["id"])


def test_the_recorded_reason_is_short_and_carries_no_secret_and_no_event_is_created(stack):
    text = DynamoRepository.failure_text(
        ValueError(
            "refused Bearer abc.def with sk_live_51Habcdef and eyJhbGciOi.eyJzdWIiOi.c2lnbmF0dXJl "
            "t=1,v1=5257a869e7ecebeda32affa62cdca3fa51cad7e77a0e56ff536d0ce8e108d8bd token "
            + "A" * 120
            + "\nsecond line with the body"
        )
    )
    assert text.startswith("ValueError: refused [redacted] with [redacted] and [redacted]")
    for secret in ("abc.def", "sk_live", "eyJ", "5257a869", "AAAA", "second line"):
        assert secret not in text
    assert len(DynamoRepository.failure_text(RuntimeError("x " * 400))) == DynamoRepository.FAILURE_TEXT_LIMIT

    repository = DynamoRepository(stack.table, stack.session.client("dynamodb"))
    assert repository.record_failure("stripe", "evt_never_stored", RuntimeError("boom")) is False
    assert stack.event_item("evt_never_stored") is None


def test_the_event_log_reads_back_each_events_failures_and_leaves_out_the_events_it_does_not_hold(stack, t0):
    # GIVEN an event whose processing failed twice, one processed, and one never stored
    failing = stripe.event("customer.subscription.created", stripe.subscription("sub_fail", user_id="u_f"), created=t0)
    applied = stripe.event("customer.subscription.created", stripe.subscription("sub_ok", user_id="u_ok"), created=t0)
    stack.deliver(failing)
    stack.deliver(applied)
    repository = DynamoRepository(stack.table, stack.session.client("dynamodb"))
    repository.mark_processed("stripe", applied["id"], "applied")
    for _ in range(2):
        assert repository.record_failure("stripe", failing["id"], RuntimeError("Stripe is down"))

    # WHEN the console reads the three back in one call
    records = repository.event_failures(
        [("stripe", failing["id"]), ("stripe", applied["id"]), ("stripe", "evt_never_stored"), ("stripe", failing["id"])]
    )

    # THEN the failed one carries its reason and count, the processed one its outcome, the unknown one is absent
    assert set(records) == {("stripe", failing["id"]), ("stripe", applied["id"])}
    failed = records[("stripe", failing["id"])]
    assert (failed.event_type, failed.last_error, failed.failures, failed.processed_at) == (
        "customer.subscription.created",
        "RuntimeError: Stripe is down",
        2,
        None,
    )
    assert failed.last_error_at is not None and failed.last_error_at.isoformat() == stack.event_item(failing["id"])["lastErrorAt"]
    done = records[("stripe", applied["id"])]
    assert (done.outcome, done.last_error, done.failures) == ("applied", None, None)
    assert done.processed_at is not None
    assert repository.event_failures([]) == {}


class CrashingSqs:
    """The console's SQS client, dying (Ctrl-C, a lost connection) right after its first send."""

    def __init__(self, real) -> None:
        self._real = real
        self.sends: list[dict] = []
        self.deletes = 0

    def send_message(self, **kwargs):
        self.sends.append(kwargs)
        return self._real.send_message(**kwargs)

    def delete_message(self, **kwargs):
        self.deletes += 1
        raise KeyboardInterrupt

    def __getattr__(self, name):
        return getattr(self._real, name)


def test_a_redrive_interrupted_between_send_and_delete_and_run_again_sends_nothing_twice(stack, t0):
    # GIVEN a dead letter of the store-events queue
    event = stripe.event(
        "customer.subscription.created", stripe.subscription("sub_interrupted", user_id="u_int"), created=t0
    )
    stack.deliver(event)
    (message,) = stack.receive()
    sqs = stack.session.client("sqs")
    sqs.delete_message(QueueUrl=stack.queue_url, ReceiptHandle=message["ReceiptHandle"])
    dead = sqs.send_message(
        QueueUrl=stack.dlq_url,
        MessageBody=message["Body"],
        MessageGroupId=message["Attributes"]["MessageGroupId"],
        MessageDeduplicationId="dead-letter-1",
    )["MessageId"]

    # WHEN a redrive dies after sending it back and before deleting it from the DLQ
    crashing = CrashingSqs(boto3.client("sqs"))
    code, out, err = cli("dlq", "redrive", clients={"sqs": crashing})
    assert code == 130 and "interrupted" in err
    assert len(crashing.sends) == 1 and crashing.deletes == 1
    assert crashing.sends[0]["MessageDeduplicationId"] == dedup_id(dead) == f"redrive-{dead}"
    assert crashing.sends[0]["MessageGroupId"] == message["Attributes"]["MessageGroupId"]
    assert stack.queue_depth() == 1 and stack.queue_depth(stack.dlq_url) == 1  # in both: nothing lost

    # AND the operator runs it again
    spy = CrashingSqs(boto3.client("sqs"))
    spy.delete_message = spy._real.delete_message
    (redriven,) = cli_json("dlq", "redrive", "StoreEvents", clients={"sqs": spy})["redrives"]

    # THEN the second send carried the same deduplication id: SQS dropped it, one message is queued
    assert (redriven["status"], redriven["moved"]) == ("COMPLETED", 1)
    assert [s["MessageDeduplicationId"] for s in spy.sends] == [f"redrive-{dead}"]
    assert stack.queue_depth(stack.dlq_url) == 0 and stack.queue_depth() == 1
    drained = stack.drain()
    assert len(drained.succeeded) == 1 and stack.drain().batches == []
    assert stack.event_item(event["id"])["outcome"] == "applied"


def test_dlq_show_on_an_empty_queue_and_an_unknown_queue(stack):
    shown = cli_json("dlq", "show")
    assert store_events(shown)["messages"] == [] and store_events(shown)["shown"] == 0
    code, out, err = cli("dlq", "show", "NoSuchQueue")
    assert code == 2 and "no dead-letter queue 'NoSuchQueue'" in err and "StoreEvents" in err
    document = cli_json("dlq", "redrive", "NoSuchQueue", expect=2)
    assert document["error"]["code"] == "unknown_queue"


# ----------------------------------------------------------------------------- StartMessageMoveTask

DLQ_ARN = "arn:aws:sqs:eu-west-1:111122223333:parity-prod-store-events-dlq.fifo"
SOURCE_ARN = "arn:aws:sqs:eu-west-1:111122223333:parity-prod-store-events.fifo"
DLQ_URL = "https://sqs.eu-west-1.amazonaws.com/111122223333/parity-prod-store-events-dlq.fifo"
SOURCE_URL = "https://sqs.eu-west-1.amazonaws.com/111122223333/parity-prod-store-events.fifo"


def stubbed_sqs() -> tuple[object, Stubber]:
    client = boto3.client("sqs", region_name="eu-west-1", aws_access_key_id="stub", aws_secret_access_key="stub")
    return client, Stubber(client)


def dlq_with(visible: int) -> DeadLetterQueue:
    return DeadLetterQueue("StoreEvents", DLQ_URL, DLQ_ARN, SOURCE_URL, SOURCE_ARN, True, visible, 0)


def move_task(status: str, moved: int, to_move: int = 3, **extra) -> dict:
    return {
        "Results": [
            {
                "Status": status,
                "SourceArn": DLQ_ARN,
                "DestinationArn": SOURCE_ARN,
                "ApproximateNumberOfMessagesMoved": moved,
                "ApproximateNumberOfMessagesToMove": to_move,
                "StartedTimestamp": 1_700_000_000_000,
                **extra,
            }
        ]
    }


def test_on_aws_a_redrive_starts_a_move_task_and_follows_it_until_completed():
    client, stub = stubbed_sqs()
    stub.add_response(
        "start_message_move_task", {"TaskHandle": "task-1"}, {"SourceArn": DLQ_ARN, "DestinationArn": SOURCE_ARN}
    )
    listing = {"SourceArn": DLQ_ARN, "MaxResults": 10}
    stub.add_response("list_message_move_tasks", move_task("RUNNING", 0, TaskHandle="task-1"), listing)
    stub.add_response("list_message_move_tasks", move_task("RUNNING", 2, TaskHandle="task-1"), listing)
    stub.add_response("list_message_move_tasks", move_task("COMPLETED", 3), listing)  # a finished task has no handle
    out, err, sleeps = io.StringIO(), io.StringIO(), []
    ctx = Context(Resources("stack parity-prod"), Output(out, err, tty=False, progress_delay=0), {"sqs": client})

    with stub:
        result = redriving.redrive(ctx, dlq_with(3), sleep=sleeps.append, poll_seconds=2)
        stub.assert_no_pending_responses()

    assert (result.method, result.status, result.moved, result.to_move, result.task_handle) == (
        "move-task",
        "COMPLETED",
        3,
        3,
        "task-1",
    )
    assert sleeps == [2, 2]
    lines = err.getvalue().splitlines()
    assert [line.split()[-1] for line in lines[:3]] == ["RUNNING", "RUNNING", "COMPLETED"], lines
    assert "0/3 messages" in lines[0] and "2/3 messages" in lines[1] and "3/3 messages 100%" in lines[2]
    assert "/s" in lines[1]  # a rate


def test_on_aws_a_failed_move_task_fails_the_command(monkeypatch):
    client, stub = stubbed_sqs()
    stub.add_response(
        "get_queue_attributes",
        {"Attributes": {"QueueArn": DLQ_ARN, "FifoQueue": "true", "ApproximateNumberOfMessages": "3"}},
    )
    stub.add_response("get_queue_attributes", {"Attributes": {"QueueArn": SOURCE_ARN}})
    stub.add_response("start_message_move_task", {"TaskHandle": "task-2"})
    stub.add_response(
        "list_message_move_tasks",
        move_task("FAILED", 1, FailureReason="AWS.SimpleQueueService.NonExistentQueue"),
    )
    monkeypatch.setattr(redriving, "POLL_SECONDS", 0)
    environ = {"EVENTS_QUEUE_URL": SOURCE_URL, "EVENTS_DLQ_URL": DLQ_URL, "AWS_DEFAULT_REGION": "eu-west-1"}
    out, err = io.StringIO(), io.StringIO()

    with stub:
        code = run(["dlq", "redrive", "--json"], stdout=out, stderr=err, environ=environ, clients={"sqs": client})

    assert code == 1 and err.getvalue() == ""
    (result,) = json.loads(out.getvalue())["redrives"]
    assert (result["method"], result["status"], result["moved"], result["failureReason"]) == (
        "move-task",
        "FAILED",
        1,
        "AWS.SimpleQueueService.NonExistentQueue",
    )


def _client_error(code: str, message: str, status: int) -> ClientError:
    return ClientError(
        {"Error": {"Code": code, "Message": message}, "ResponseMetadata": {"HTTPStatusCode": status}},
        "StartMessageMoveTask",
    )


@pytest.mark.parametrize(
    ("error", "unsupported"),
    [
        (NotImplementedError("The start_message_move_task action has not been implemented"), True),  # moto in-process
        (_client_error("500", "<!doctype html>\n<title>500 Internal Server Error</title>", 500), True),  # moto's server
        (_client_error("InvalidAction", "The action StartMessageMoveTask is not valid", 400), True),
        (_client_error("UnsupportedOperation", "Unsupported operation.", 400), True),
        (_client_error("AccessDenied", "not authorized to perform sqs:StartMessageMoveTask", 403), False),
        (_client_error("InternalError", "We encountered an internal error. Please try again.", 500), False),
        (_client_error("ResourceNotFoundException", "The resource that you specified does not exist.", 400), False),
    ],
)
def test_what_counts_as_a_missing_move_task_api(error, unsupported):
    assert (move_task_unsupported(error) is not None) is unsupported
