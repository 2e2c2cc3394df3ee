"""The seeded small fault-injection run (`make chaos` runs the full one): 12 users, 120 events in the
three stores, duplicated and reordered, 20 % of the functions' calls failing, processor crashes after
commit and undeleted batches, the processor's backoff honoured on a simulated clock, a bad deploy that
dead-letters what is still failing, the DLQ redriven; judged against the fault-free run of the same
events."""

from __future__ import annotations

import pytest

from tests.chaos import run_pair

SEED, USERS, EVENTS = 5, 12, 120
BAD_DEPLOY = (21_600, 43_200)  # as `make chaos`: 6 h after the last first delivery, for 12 h


@pytest.fixture(scope="module")
def outcome():
    numbers, verdict, text = run_pair(seed=SEED, users=USERS, events=EVENTS, bad_deploy=BAD_DEPLOY)
    print(text)
    return numbers, verdict


def test_faults_were_injected_of_every_kind_and_redeliveries_happened(outcome):
    numbers, _ = outcome
    assert numbers["events"] >= EVENTS and numbers["duplicates"] > 0
    assert 0.15 <= numbers["fault_rate"] <= 0.25, numbers["fault_rate"]
    kinds = {kind.split(".")[0] for kind in numbers["faults_by_kind"]}
    assert {"dynamodb", "sqs", "events", "play", "processor"} <= kinds, kinds
    assert numbers["store_redeliveries"] > 0
    assert numbers["faults_by_kind"].get("processor.BadDeploy", 0) > 0
    assert numbers["redriven"] > 0 and all(r["code"] == 0 for r in numbers["redrives"]), numbers["redrives"]


def test_nothing_is_stuck_no_change_is_lost_and_no_change_grants_twice(outcome):
    numbers, verdict = outcome
    assert verdict.stuck == [] and verdict.lost_changes == [] and verdict.oracle_problems == []
    assert [p for p in verdict.double_grants if "net grants" in p or "two contents" in p] == []


def test_the_end_state_equals_the_fault_free_run_with_nothing_lost(outcome):
    numbers, verdict = outcome
    assert (verdict.lost, verdict.double_grants, verdict.differences) == ([], [], [])
