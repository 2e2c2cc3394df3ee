"""The local stack's emulation of AWS (local/moto_speed.py, local/moto_locks.py, local/state.py) keeps
the semantics Parity relies on: a transaction is all or nothing without copying the table, requests
to one service are atomic when callers run concurrently, FIFO groups stay in order with several
pollers, and the table and queues come back from the state directory as they were."""

from __future__ import annotations

import threading
import time
from collections import defaultdict

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from local import moto_locks, moto_speed
from local.state import DurableState

REGION = "us-east-1"


@pytest.fixture
def aws(monkeypatch):
    for name, value in {"AWS_ACCESS_KEY_ID": "t", "AWS_SECRET_ACCESS_KEY": "t", "AWS_DEFAULT_REGION": REGION}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    undo = [moto_speed.install(), moto_locks.install()]
    try:
        with mock_aws():
            yield boto3.client("dynamodb", region_name=REGION), boto3.client("sqs", region_name=REGION)
    finally:
        for step in reversed(undo):
            step()


def _table(dynamodb, name: str = "t") -> str:
    dynamodb.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "PK", "KeyType": "HASH"}, {"AttributeName": "SK", "KeyType": "RANGE"}],
        AttributeDefinitions=[{"AttributeName": a, "AttributeType": "S"} for a in ("PK", "SK")],
        BillingMode="PAY_PER_REQUEST",
    )
    return name


def _items(dynamodb, table: str) -> dict:
    return {(i["PK"]["S"], i["SK"]["S"]): i for i in dynamodb.scan(TableName=table)["Items"]}


def _backend():
    from moto.dynamodb.models import dynamodb_backends

    return dynamodb_backends["123456789012"][REGION]


def test_a_failed_condition_cancels_the_whole_transaction_without_copying_the_table(aws):
    dynamodb, _ = aws
    table = _table(dynamodb)
    for key in ("b", "c", "d"):
        dynamodb.put_item(TableName=table, Item={"PK": {"S": key}, "SK": {"S": "x"}, "v": {"S": "old"}, "n": {"N": "1"}})
    before, table_object = _items(dynamodb, table), _backend().tables[table]

    # WHEN a transaction whose last condition fails puts, updates (in place) and deletes first
    with pytest.raises(ClientError) as refused:
        dynamodb.transact_write_items(
            TransactItems=[
                {"Put": {"TableName": table, "Item": {"PK": {"S": "a"}, "SK": {"S": "x"}}}},
                {
                    "Update": {
                        "TableName": table,
                        "Key": {"PK": {"S": "b"}, "SK": {"S": "x"}},
                        "UpdateExpression": "SET v = :new ADD n :one",
                        "ExpressionAttributeValues": {":new": {"S": "new"}, ":one": {"N": "1"}},
                    }
                },
                {"Delete": {"TableName": table, "Key": {"PK": {"S": "c"}, "SK": {"S": "x"}}}},
                {
                    "ConditionCheck": {
                        "TableName": table,
                        "Key": {"PK": {"S": "d"}, "SK": {"S": "x"}},
                        "ConditionExpression": "v = :other",
                        "ExpressionAttributeValues": {":other": {"S": "other"}},
                    }
                },
            ]
        )

    # THEN nothing of it happened, and the table is the same object (no whole-table backup swapped in)
    assert refused.value.response["Error"]["Code"] == "TransactionCanceledException"
    reasons = [r["Code"] for r in refused.value.response["CancellationReasons"]]
    assert reasons == ["None", "None", "None", "ConditionalCheckFailed"]
    assert _items(dynamodb, table) == before
    assert _backend().tables[table] is table_object


def test_a_failed_condition_on_a_new_item_removes_what_earlier_operations_created(aws):
    dynamodb, _ = aws
    table = _table(dynamodb)
    dynamodb.put_item(TableName=table, Item={"PK": {"S": "taken"}, "SK": {"S": "x"}})
    with pytest.raises(ClientError):
        dynamodb.transact_write_items(
            TransactItems=[
                {"Put": {"TableName": table, "Item": {"PK": {"S": "fresh"}, "SK": {"S": "x"}}}},
                {
                    "Put": {
                        "TableName": table,
                        "Item": {"PK": {"S": "taken"}, "SK": {"S": "x"}, "v": {"S": "overwritten"}},
                        "ConditionExpression": "attribute_not_exists(PK)",
                    }
                },
            ]
        )
    assert set(_items(dynamodb, table)) == {("taken", "x")}
    assert "v" not in _items(dynamodb, table)[("taken", "x")]

    # AND a transaction whose conditions hold applies every operation
    dynamodb.transact_write_items(
        TransactItems=[
            {"Put": {"TableName": table, "Item": {"PK": {"S": "fresh"}, "SK": {"S": "x"}}}},
            {"Delete": {"TableName": table, "Key": {"PK": {"S": "taken"}, "SK": {"S": "x"}}}},
        ]
    )
    assert set(_items(dynamodb, table)) == {("fresh", "x")}


def test_concurrent_conditional_writes_on_one_item_let_exactly_one_win(aws):
    dynamodb, _ = aws
    table = _table(dynamodb)
    wins, barrier = [], threading.Barrier(8)

    def claim(n: int) -> None:
        barrier.wait()
        try:
            dynamodb.transact_write_items(
                TransactItems=[
                    {
                        "Put": {
                            "TableName": table,
                            "Item": {"PK": {"S": "claim"}, "SK": {"S": "x"}, "by": {"N": str(n)}},
                            "ConditionExpression": "attribute_not_exists(PK)",
                        }
                    },
                    {"Put": {"TableName": table, "Item": {"PK": {"S": f"log{n}"}, "SK": {"S": "x"}}}},
                ]
            )
            wins.append(n)
        except ClientError:
            pass

    threads = [threading.Thread(target=claim, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(wins) == 1
    assert set(_items(dynamodb, table)) == {("claim", "x"), (f"log{wins[0]}", "x")}


def test_several_pollers_never_hold_one_fifo_group_at_once_and_keep_its_order(aws):
    _, sqs = aws
    url = sqs.create_queue(QueueName="events.fifo", Attributes={"FifoQueue": "true"})["QueueUrl"]
    for n in range(12):
        for group in ("g1", "g2", "g3"):
            sqs.send_message(QueueUrl=url, MessageBody=f"{group}:{n}", MessageGroupId=group, MessageDeduplicationId=f"{group}{n}")
    holding: dict[str, int] = defaultdict(int)
    seen: dict[str, list[int]] = defaultdict(list)
    overlaps, lock, done = [], threading.Lock(), threading.Event()

    def poll() -> None:
        while not done.is_set():
            messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=2, WaitTimeSeconds=1).get("Messages", [])
            groups = {m["Body"].split(":")[0] for m in messages}
            with lock:
                for group in groups:
                    holding[group] += 1
                    if holding[group] > 1:
                        overlaps.append(group)
                for m in messages:
                    group, n = m["Body"].split(":")
                    seen[group].append(int(n))
            time.sleep(0.01)  # "processing"
            with lock:
                for group in groups:
                    holding[group] -= 1
            for m in messages:
                sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
            with lock:
                if sum(len(v) for v in seen.values()) == 36:
                    done.set()

    threads = [threading.Thread(target=poll) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert overlaps == []
    assert dict(seen) == {group: list(range(12)) for group in ("g1", "g2", "g3")}


def test_the_state_directory_brings_back_items_and_messages(aws, tmp_path):
    dynamodb, sqs = aws
    from moto.sqs.models import sqs_backends

    table = _table(dynamodb)
    url = sqs.create_queue(QueueName="q")["QueueUrl"]
    state = DurableState(tmp_path / "state")
    assert state.load(_backend(), sqs_backends["123456789012"][REGION]) == (0, 0)
    dynamodb.put_item(TableName=table, Item={"PK": {"S": "a"}, "SK": {"S": "x"}, "b": {"B": b"\x00\xff"}, "n": {"N": "3"}})
    dynamodb.put_item(TableName=table, Item={"PK": {"S": "gone"}, "SK": {"S": "x"}})
    dynamodb.delete_item(TableName=table, Key={"PK": {"S": "gone"}, "SK": {"S": "x"}})
    for body in ("first", "second", "third"):
        sqs.send_message(QueueUrl=url, MessageBody=body, MessageAttributes={"k": {"DataType": "String", "StringValue": body}})
    received = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=1)["Messages"][0]
    sqs.delete_message(QueueUrl=url, ReceiptHandle=received["ReceiptHandle"])
    sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=1)  # in flight when the process "dies"
    items_before = _items(dynamodb, table)
    _killed(state)

    # WHEN the process is gone (the journal alone holds the changes) and a fresh emulation loads it
    dynamodb.delete_table(TableName=table)
    sqs.delete_queue(QueueUrl=url)
    _table(dynamodb)
    url = sqs.create_queue(QueueName="q")["QueueUrl"]
    again = DurableState(tmp_path / "state")
    assert again.durable
    counts = again.load(_backend(), sqs_backends["123456789012"][REGION])

    # THEN the items are back (binary too), and the messages, in order, visible, counts kept
    assert counts == (1, 2)
    assert _items(dynamodb, table) == items_before
    messages = sqs.receive_message(
        QueueUrl=url, MaxNumberOfMessages=10, AttributeNames=["All"], MessageAttributeNames=["All"]
    )["Messages"]
    assert [m["Body"] for m in messages] == ["second", "third"]
    assert [m["Attributes"]["ApproximateReceiveCount"] for m in messages] == ["2", "1"]
    assert messages[0]["MessageAttributes"]["k"]["StringValue"] == "second"
    again.close(_backend(), sqs_backends["123456789012"][REGION])


def test_a_long_journal_is_folded_into_the_snapshot_while_the_stack_runs(aws, tmp_path):
    dynamodb, _ = aws
    from moto.sqs.models import sqs_backends

    table = _table(dynamodb)
    state = DurableState(tmp_path / "state")
    state.load(_backend(), sqs_backends["123456789012"][REGION])
    state.journal_limit = 2000  # bytes
    for n in range(40):
        dynamodb.put_item(TableName=table, Item={"PK": {"S": f"k{n}"}, "SK": {"S": "x"}, "pad": {"S": "p" * 100}})

    def compacted() -> bool:
        snapshot = (tmp_path / "state" / "snapshot.jsonl").read_text()
        return not state._compacting and '"k0"' in snapshot

    deadline = time.monotonic() + 10
    while not compacted() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert compacted()
    assert (tmp_path / "state" / "journal.jsonl").stat().st_size < 40 * 150  # not the whole history
    _killed(state)
    dynamodb.delete_table(TableName=table)
    _table(dynamodb)
    again = DurableState(tmp_path / "state")
    assert again.load(_backend(), sqs_backends["123456789012"][REGION]) == (40, 0)
    again.close(_backend(), sqs_backends["123456789012"][REGION])


def _killed(state: DurableState) -> None:
    """What a SIGKILL leaves: the files as written so far, the directory's lock released, no compaction."""
    import os

    moto_locks.DYNAMODB.sink = moto_locks.SQS.sink = None
    os.close(state._fd)
    state._lock_file.close()


def test_reset_starts_empty(tmp_path):
    directory = tmp_path / "state"
    directory.mkdir()
    (directory / "snapshot.jsonl").write_text('{"t":"item","table":"t","key":{},"item":null}\n')
    (directory / "journal.jsonl").write_text("")
    state = DurableState(directory, reset=True)
    assert not (directory / "snapshot.jsonl").exists() and not (directory / "journal.jsonl").exists()
    assert state.durable
