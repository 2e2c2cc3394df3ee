"""The installed `parity` command (`.venv/bin/parity`, from the Makefile's `pip install -e .`) against a
local stack started for this module, found through the connection file the stack writes
(`$PARITY_LOCAL_FILE` here, so a developer's running `make dev` keeps `.parity/local.json`)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import boto3
import pytest

from parity.services.ingest import queue_message
from tests.e2e.conftest import local_stack, stripe_event, wait_until
from tests.support import stripe as fixtures

pytestmark = pytest.mark.e2e

PARITY = Path(sys.executable).parent / "parity"  # the venv's console script


@pytest.fixture(scope="module")
def stack(tmp_path_factory, idp):
    workdir = tmp_path_factory.mktemp("cli-stack")
    connection = workdir / "connection" / "local.json"
    with local_stack(workdir, idp, PARITY_LOCAL_FILE=str(connection)) as parity:
        parity.connection = connection
        yield parity
    assert not connection.exists(), "the stack removes its connection file on a clean exit"


def parity_cli(stack, *argv: str, expect: int = 0) -> subprocess.CompletedProcess:
    """`parity --local ARGV` as an operator runs it: its own process, no AWS settings in the environment."""
    env = {name: os.environ[name] for name in ("PATH", "HOME", "LANG") if name in os.environ}
    env["PARITY_LOCAL_FILE"] = str(stack.connection)
    assert PARITY.exists(), f"{PARITY} is missing: the Makefile's install step (pip install -e .) installs it"
    done = subprocess.run(
        [str(PARITY), "--local", *argv],
        env=env,
        cwd=stack.connection.parent,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == expect, (done.returncode, done.stdout, done.stderr)
    return done


def store_events(document: dict) -> dict:
    (queue,) = [q for q in document["dlqs"] if q["name"] == "StoreEvents"]
    return queue


def test_the_stack_writes_its_connection_file(stack):
    document = json.loads(stack.connection.read_text())
    assert document["endpointUrl"].startswith("http://127.0.0.1:") and document["region"] == "us-east-1"
    assert document["baseUrl"] == stack.base_url
    resources = document["resources"]
    assert resources["StoreEventsDLQ"]["type"] == "AWS::SQS::Queue"
    assert resources["StoreEventsDLQ"]["ref"].endswith("/parity-local-store-events-dlq.fifo")
    assert resources["ParityTable"]["type"] == "AWS::DynamoDB::Table"


def test_dlq_list_shows_the_store_events_dlq(stack):
    listed = store_events(json.loads(parity_cli(stack, "dlq", "list", "--json").stdout))
    assert listed["dlq"] == "parity-local-store-events-dlq.fifo"
    assert listed["sourceQueue"] == "parity-local-store-events.fifo"
    assert (listed["visible"], listed["inFlight"], listed["fifo"]) == (0, 0, True)

    human = parity_cli(stack, "dlq", "list")
    assert human.stderr == ""
    header, rule, *rows = human.stdout.splitlines()
    assert header.split() == ["QUEUE", "DEAD-LETTER", "QUEUE", "SOURCE", "QUEUE", "VISIBLE", "IN", "FLIGHT", "TOTAL"]
    assert any(
        row.split()[:3] == ["StoreEvents", "parity-local-store-events-dlq.fifo", "parity-local-store-events.fifo"]
        for row in rows
    )


def test_a_dead_letter_is_shown_then_redriven_one_by_one_and_the_processor_takes_it_once(stack, ids, t0):
    # GIVEN an event processed once, and a copy of its queue message in the DLQ (a delivery that died)
    event = stripe_event("customer.subscription.created", fixtures.subscription(ids.sub, user_id=ids.user), t0)
    assert stack.deliver(event)["outcome"] == "applied"
    document = json.loads(stack.connection.read_text())
    sqs = boto3.client(
        "sqs",
        endpoint_url=document["endpointUrl"],
        region_name=document["region"],
        aws_access_key_id="test",
        aws_secret_access_key="test",
    )
    dlq_url = document["resources"]["StoreEventsDLQ"]["ref"]
    sqs.send_message(
        QueueUrl=dlq_url,
        MessageBody=queue_message("stripe", event["id"], fixtures.encode(event)),
        MessageGroupId=f"stripe:{ids.sub}",
        MessageDeduplicationId=f"dead-{event['id']}",
    )

    # WHEN the operator looks at it: shown, already processed, not consumed
    shown = store_events(json.loads(parity_cli(stack, "dlq", "show", "StoreEvents", "--json").stdout))
    (letter,) = [m for m in shown["messages"] if m["eventId"] == event["id"]]
    assert letter["source"] == "stripe" and letter["processedAt"] and letter["outcome"] == "applied"
    assert "a redrive will change nothing" in parity_cli(stack, "dlq", "show").stdout

    # AND redrives it (one by one, as the local stack's emulator has no move task)
    (redrive,) = json.loads(parity_cli(stack, "dlq", "redrive", "StoreEvents", "--one-by-one", "--json").stdout)[
        "redrives"
    ]
    assert (redrive["method"], redrive["status"], redrive["moved"]) == ("one-by-one", "COMPLETED", 1)

    # THEN the processor takes it from the source queue and applies nothing twice
    def queues_empty() -> bool:
        names = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
        return all(
            sum(int(v) for v in sqs.get_queue_attributes(QueueUrl=url, AttributeNames=names)["Attributes"].values())
            == 0
            for url in (dlq_url, document["resources"]["StoreEventsQueue"]["ref"])
        )

    wait_until(queues_empty)
    assert stack.stored_event(event["id"]).json["outcome"] == "applied"
    assert len({c["changeId"] for c in stack.changes(ids.user)}) == 1
