"""The retry schedule of failed queue messages (pure arithmetic), the consumers' handing back of failed
records (`parity.retries`, on an in-memory queue), and the template's numbers that the arithmetic
relies on: a 24-hour store outage dead-letters nothing, a poison message is dead-lettered within the
hour, and a batch's worst case fits the function's timeout, which fits the queue's visibility timeout."""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

import pytest

from local.resources import _Tag, load_template
from parity.batch import QueueRecord
from parity.domain.errors import StoreApiError
from parity.domain.redelivery import SQS_MAX_VISIBILITY_SECONDS, RetrySchedule
from parity.retries import OutOfTime, Redelivery, is_outage
from parity.settings import ConfigurationError, Settings
from tests.support.fakes import MemoryQueue

HOUR, DAY = 3600, 86400
ROOT = Path(__file__).resolve().parents[2]


# ----------------------------------------------------------------------------------------- schedule


def test_an_outage_backs_off_from_30_s_doubling_to_an_hour():
    schedule = RetrySchedule()
    assert [schedule.full_delay(n, outage=True) for n in range(1, 11)] == [
        30, 60, 120, 240, 480, 960, 1920, 3600, 3600, 3600,
    ]  # fmt: skip
    assert schedule.full_delay(1000, outage=True) == 3600  # no overflow, still the ceiling


def test_other_failures_back_off_from_15_s_to_a_minute():
    schedule = RetrySchedule()
    assert [schedule.full_delay(n, outage=False) for n in range(1, 6)] == [15, 30, 60, 60, 60]


def test_jitter_only_shortens_a_delay_and_by_at_most_a_fifth():
    schedule = RetrySchedule()
    for n in (1, 5, 9, 40):
        full = schedule.full_delay(n, outage=True)
        delays = {schedule.delay(n, True, draw / 10) for draw in range(10)}
        assert max(delays) == full and min(delays) >= 0.8 * full
    assert schedule.shortest_delay(9, True) == 2880


def test_no_delay_exceeds_what_sqs_accepts():
    schedule = RetrySchedule(outage_base=600, outage_ceiling=SQS_MAX_VISIBILITY_SECONDS)
    assert schedule.full_delay(50, True) == SQS_MAX_VISIBILITY_SECONDS
    with pytest.raises(ValueError, match="outage_ceiling"):
        RetrySchedule(outage_ceiling=SQS_MAX_VISIBILITY_SECONDS + 1)
    with pytest.raises(ValueError, match="base cannot exceed"):
        RetrySchedule(error_base=120, error_ceiling=60)


def test_the_arithmetic_of_a_day_long_outage_with_the_defaults():
    schedule = RetrySchedule()
    # the first 7 delays take 63.5 min (53 min at their shortest), then one every 48 to 60 min
    assert schedule.latest_receive(8, True) == 3810 and schedule.earliest_receive(8, True) == 3048
    # a day of outage: at most 36 receives, however the jitter falls
    assert schedule.receives_within(DAY, outage=True) == 36
    assert schedule.survives(DAY, max_receive_count=50)
    assert not schedule.survives(DAY, max_receive_count=36)
    # the 51st receive, which dead-letters, comes 35 to 44 hours after the first
    assert 35 * HOUR < schedule.earliest_receive(51, True) < schedule.latest_receive(51, True) < 45 * HOUR
    # a poison message: 50 receives within 39 to 49 minutes
    assert 38 * 60 < schedule.earliest_receive(51, False) < schedule.latest_receive(51, False) < 50 * 60


# ----------------------------------------------------------------------------------------- template


def _template() -> dict:
    return load_template()


def _default(template: dict, value):
    if isinstance(value, _Tag) and value.name == "Ref":
        return template["Parameters"][value.value]["Default"]
    return value


def _handler_budget(function: str) -> int:
    """RECORD_BUDGET_SECONDS of a handler module, read without importing it (it builds clients)."""
    tree = ast.parse((ROOT / "functions" / function / "app.py").read_text())
    for node in tree.body:
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", None) == "RECORD_BUDGET_SECONDS":
            return ast.literal_eval(node.value)
    raise AssertionError(f"{function} has no RECORD_BUDGET_SECONDS")


@pytest.mark.parametrize(
    ("queue", "function", "code"),
    [("StoreEventsQueue", "EventProcessorFunction", "event_processor"), ("ReconcileQueue", "ReconcileFunction", "reconcile")],
)
def test_the_template_keeps_the_arithmetic_consistent(queue, function, code):
    template = _template()
    resources = template["Resources"]
    queue_props = resources[queue]["Properties"]
    fn = resources[function]["Properties"]
    (event,) = [e["Properties"] for e in fn["Events"].values() if e["Type"] == "SQS"]
    max_receives = _default(template, queue_props["RedrivePolicy"]["maxReceiveCount"])
    ceiling = _default(template, template["Globals"]["Function"]["Environment"]["Variables"]["RETRY_OUTAGE_MAX_SECONDS"])
    schedule = RetrySchedule(outage_ceiling=int(ceiling))

    # GIVEN the defaults, a day-long outage of any store dead-letters nothing
    assert schedule.survives(DAY, int(max_receives))
    # AND messages outlive every retry: retention beyond the latest dead-lettering
    assert queue_props["MessageRetentionPeriod"] > schedule.latest_receive(int(max_receives) + 1, True) + DAY
    # AND a whole batch at its worst fits the timeout, and the timeout fits 6 times in the visibility timeout
    timeout = fn["Timeout"]
    assert timeout >= event["BatchSize"] * _handler_budget(code)
    assert queue_props["VisibilityTimeout"] >= 6 * timeout


def test_the_template_defaults_are_within_their_bounds():
    for name, parameter in _template()["Parameters"].items():
        if parameter.get("Type") == "Number" and "Default" in parameter:
            low, high = parameter.get("MinValue", float("-inf")), parameter.get("MaxValue", float("inf"))
            assert low <= parameter["Default"] <= high, name


# ----------------------------------------------------------------------------------------- settings


def test_the_schedule_comes_from_the_environment_and_a_bad_value_names_its_variable():
    settings = Settings.from_env({"RETRY_OUTAGE_MAX_SECONDS": "7200", "RETRY_ERROR_BASE_SECONDS": "1"})
    assert settings.redelivery.schedule == RetrySchedule(outage_ceiling=7200, error_base=1)
    assert Settings.from_env({}).redelivery.schedule == RetrySchedule()
    with pytest.raises(ConfigurationError, match="RETRY_OUTAGE_MAX_SECONDS must be a whole number"):
        Settings.from_env({"RETRY_OUTAGE_MAX_SECONDS": "an hour"})
    with pytest.raises(ConfigurationError, match="RETRY_OUTAGE_MAX_SECONDS must be between 0 and 43200"):
        Settings.from_env({"RETRY_OUTAGE_MAX_SECONDS": "86400"})


# ----------------------------------------------------------------------------------------- consumers


@dataclass
class Attributes:
    approximate_receive_count: str = "1"
    message_group_id: str | None = None


def Record(receipt_handle: str, attributes: Attributes | None = None) -> QueueRecord:  # noqa: N802 - reads as a type
    """An SQS record of a Lambda event, as the consumers hand it to Redelivery."""
    attributes = attributes or Attributes()
    raw = {"ApproximateReceiveCount": attributes.approximate_receive_count}
    if attributes.message_group_id:
        raw["MessageGroupId"] = attributes.message_group_id
    return QueueRecord({"messageId": receipt_handle, "receiptHandle": receipt_handle, "attributes": raw})


@dataclass
class Context:
    remaining_ms: int

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_ms


def redelivery(queue: MemoryQueue, draw: float = 0.0) -> Redelivery:
    return Redelivery(queue, RetrySchedule(), record_budget_seconds=25, draw=lambda: draw)


OUTAGE = StoreApiError("Stripe unreachable", retryable=True, status=503)


def test_what_counts_as_an_outage():
    from botocore.exceptions import ClientError, EndpointConnectionError

    assert is_outage(OUTAGE)
    assert not is_outage(StoreApiError("bad key", retryable=False, status=401))
    assert not is_outage(ValueError("not json")) and not is_outage(None)
    throttled = ClientError({"Error": {"Code": "ProvisionedThroughputExceededException"}}, "PutItem")
    assert is_outage(throttled) and is_outage(EndpointConnectionError(endpoint_url="https://dynamodb"))
    assert not is_outage(ClientError({"Error": {"Code": "ValidationException"}}, "PutItem"))


def test_an_outage_waits_long_another_failure_short_by_the_receive_count():
    queue = MemoryQueue()
    retries = redelivery(queue)
    assert retries.failed(Record("a", Attributes("9")), OUTAGE) == 3600
    assert retries.failed(Record("b", Attributes("2")), RuntimeError("bug")) == 30
    assert queue.delays == {"a": 3600, "b": 30}


def test_a_record_skipped_behind_its_group_comes_back_with_the_failed_one():
    queue = MemoryQueue()
    retries = redelivery(queue, draw=0.5)
    retries.begin()
    head = retries.failed(Record("head", Attributes("3", "sub_1")), OUTAGE)
    follower = retries.failed(Record("next", Attributes("3", "sub_1")), RuntimeError("skipped"), skipped=True)
    assert head == follower == 108  # 120 s shortened by half the jitter


def test_a_store_found_out_fails_the_batchs_later_records_for_it_without_calling_it():
    retries, calls = redelivery(MemoryQueue()), []

    def call(store: str) -> None:
        with retries.attempt(store):
            calls.append(store)
            if store == "stripe":
                raise OUTAGE

    retries.begin()
    with pytest.raises(StoreApiError):
        call("stripe")
    with pytest.raises(StoreApiError, match="stripe is out") as again:
        call("stripe")
    call("play_store")  # another store is asked as usual
    assert again.value.retryable and calls == ["stripe", "play_store"]
    retries.begin()  # the next batch asks again
    with pytest.raises(StoreApiError):
        call("stripe")
    assert calls == ["stripe", "play_store", "stripe"]


def test_a_record_is_not_started_near_the_deadline_and_comes_back_at_once():
    queue = MemoryQueue()
    retries = redelivery(queue)
    with pytest.raises(OutOfTime), retries.attempt("stripe", Context(remaining_ms=24_000)):
        raise AssertionError("not started")
    with retries.attempt("stripe", Context(remaining_ms=26_000)):
        pass
    assert retries.failed(Record("late", Attributes("4")), OutOfTime("deadline")) == 0


def test_a_queue_that_refuses_the_change_does_not_fail_the_handler():
    class Refusing:
        def retry_later(self, receipt_handle, delay_seconds):
            raise RuntimeError("ReceiptHandleIsInvalid")

    assert Redelivery(Refusing(), RetrySchedule(), 25).failed(Record("x"), OUTAGE) is None


def test_every_failed_record_is_counted_for_the_failure_alarm_and_nothing_else_is():
    # GIVEN a consumer whose failed records are counted in its failure metric (ReportBatchItemFailures:
    # the invocation succeeds, so Lambda's Errors metric never sees them)
    from parity.observability import metrics

    class Refusing:
        def retry_later(self, receipt_handle, delay_seconds):
            raise RuntimeError("ReceiptHandleIsInvalid")

    metrics.clear_metrics()
    retries = Redelivery(MemoryQueue(), RetrySchedule(), 25, failure_metric="StoreEventsFailed")
    refused = Redelivery(Refusing(), RetrySchedule(), 25, failure_metric="StoreEventsFailed")
    try:
        # WHEN records fail, one is held back behind its group, one is handed back unstarted, and one's
        # delay cannot be set
        retries.begin()
        retries.failed(Record("a", Attributes("1", "g1")), OUTAGE)
        retries.failed(Record("b", Attributes("1", "g1")), RuntimeError("skipped"), skipped=True)
        retries.failed(Record("c", Attributes("1", "g2")), RuntimeError("bug"))
        retries.failed(Record("d", Attributes("1", "g3")), OutOfTime("deadline"))
        refused.failed(Record("e", Attributes("1", "g4")), OUTAGE)
        # THEN the failures are counted, the skipped and unstarted records are not
        counted = metrics.metric_set["StoreEventsFailed"]["Value"]
        assert sum(counted) == 3
    finally:
        metrics.clear_metrics()
