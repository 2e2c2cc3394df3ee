"""SQS batches with partial failures: which records fail, in what order they run, when the batch fails."""

from __future__ import annotations

import pytest

from parity.batch import BatchFailed, QueueRecord, SkippedInGroup, process_batch


def sqs_record(message_id: str, group: str | None = None, receives: int = 1) -> dict:
    attributes = {"ApproximateReceiveCount": str(receives), **({"MessageGroupId": group} if group else {})}
    return {"messageId": message_id, "receiptHandle": f"rh-{message_id}", "body": message_id, "attributes": attributes}


def run(records: list[dict], failing: set[str]) -> tuple[dict, list[str], list[tuple[str, str]]]:
    handled: list[str] = []
    failures: list[tuple[str, str]] = []

    def handle(record: QueueRecord, context: object) -> None:
        handled.append(record.body)
        if record.body in failing:
            raise RuntimeError(f"{record.body} failed")

    answer = process_batch(
        {"Records": records}, handle, lambda record, error: failures.append((record.message_id, type(error).__name__))
    )
    return answer, handled, failures


def test_only_the_failed_records_are_handed_back_in_order():
    answer, handled, failures = run([sqs_record("a"), sqs_record("b"), sqs_record("c")], {"b"})
    assert handled == ["a", "b", "c"]
    assert answer == {"batchItemFailures": [{"itemIdentifier": "b"}]}
    assert failures == [("b", "RuntimeError")]


def test_a_fifo_groups_later_records_are_not_started_after_its_failure_and_other_groups_go_on():
    records = [sqs_record("a1", "A"), sqs_record("b1", "B"), sqs_record("a2", "A"), sqs_record("b2", "B")]
    answer, handled, failures = run(records, {"a1"})
    assert handled == ["a1", "b1", "b2"]
    assert [item["itemIdentifier"] for item in answer["batchItemFailures"]] == ["a1", "a2"]
    assert failures == [("a1", "RuntimeError"), ("a2", "SkippedInGroup")]


def test_when_every_record_fails_the_invocation_fails():
    with pytest.raises(BatchFailed, match="All 2 records failed; the first: RuntimeError"):
        run([sqs_record("a", "A"), sqs_record("b", "A")], {"a"})


def test_an_empty_batch_answers_no_failures():
    assert process_batch({"Records": []}, lambda record, context: None, lambda record, error: None) == {
        "batchItemFailures": []
    }


def test_a_record_reads_its_group_and_receive_count():
    record = QueueRecord(sqs_record("m", "g", receives=3))
    assert (record.message_group_id, record.receive_count, record.receipt_handle) == ("g", 3, "rh-m")
    assert QueueRecord({"messageId": "x", "receiptHandle": "h"}).receive_count == 1
    assert issubclass(SkippedInGroup, Exception)
