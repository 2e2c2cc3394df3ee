"""The console's operations service on in-memory fakes: lookup, one event, health, dead letters, reconcile."""

from __future__ import annotations

import json
from datetime import datetime

import pytest

from parity.domain.errors import InvalidInput, NotFound, UserNotFound
from parity.ports.operations import Activity, DeadLetterMessage, DeadLetterQueueState, EventRecord, RedriveOutcome
from parity.services.operations import Operations
from tests.support import stripe
from tests.support.services import OPERATOR, World

USER, SUB = "u_ops", "sub_ops1"


class MemoryOperatorReads:
    """`OperatorReads` over a MemoryStore's dicts (the DynamoDB one is tested against moto)."""

    def __init__(self, store) -> None:
        self._store = store

    def user_for_token(self, token: str) -> str | None:
        return self._store.tokens.get(token)

    def user_for_customer(self, customer_ref: str) -> str | None:
        return self._store.customers.get(f"stripe:{customer_ref}")

    def event_record(self, source: str, event_id: str) -> EventRecord | None:
        event = self._store.events.get((source, event_id))
        if event is None:
            return None
        step = json.loads(event.step) if isinstance(event.step, str) else None
        return EventRecord(source, event_id, event.event_type, event.received_at, event.processed_at,
                           event.outcome, event.purchase_id, step, event.recorded())  # fmt: skip

    def activity(self, since: datetime, now: datetime, max_items: int) -> Activity:
        activity = Activity(since)
        for event in self._store.events.values():
            if event.received_at and event.received_at >= since:
                key = (event.source, f"{event.received_at:%Y-%m-%dT%H}")
                activity.events[key] = activity.events.get(key, 0) + 1
        return activity

    def reports(self, limit: int = 5) -> list[dict]:
        return self._store.reports(limit)


class MemoryDeadLetters:
    def __init__(self) -> None:
        self.letters: list[DeadLetterMessage] = []
        self.redriven: list[str] = []

    def states(self):
        return [DeadLetterQueueState("StoreEvents", "memory://dlq", len(self.letters), 0)]

    def depth_history(self, since):
        raise RuntimeError("CloudWatch is down")

    def peek(self, queue, max_messages):
        return self.letters[:max_messages]

    def redrive(self, queue):
        if queue != "StoreEvents":
            raise NotFound(queue)
        moved, self.letters = len(self.letters), []
        self.redriven.append(queue)
        return RedriveOutcome(queue, "one-by-one", moved)

    def purge(self, queue):
        purged, self.letters = len(self.letters), []
        return purged


@pytest.fixture
def world() -> World:
    world = World()
    world.deliver(stripe.event("customer.subscription.created", stripe.subscription(SUB, user_id=USER), event_id="evt_ops1"))
    world.drain()
    return world


def operations(world: World, dlqs=None) -> Operations:
    return Operations(world.store, world.store, MemoryOperatorReads(world.store), dlqs, world.reconcile_queue, world.clock)


def test_lookup_by_user_id_token_purchase_and_bare_store_id(world):
    ops = operations(world)
    assert [(m.user_id, m.matched) for m in ops.lookup(USER).matches] == [(USER, "userId")]
    token = world.store.load_user(USER).app_account_token
    assert [(m.user_id, m.matched) for m in ops.lookup(token.upper()).matches] == [(USER, "appAccountToken")]
    (match,) = ops.lookup(SUB).matches
    assert (match.user_id, match.matched, match.purchase_id) == (USER, "purchaseId", f"stripe:{SUB}")
    assert ops.lookup(f"stripe:{SUB}").matches == [match]


def test_lookup_of_nothing_and_of_an_email(world):
    ops = operations(world)
    assert ops.lookup("u_nobody").matches == [] and ops.lookup("u_nobody").hint is None
    assert "no email" in ops.lookup("a@example.com").hint
    with pytest.raises(InvalidInput):
        ops.lookup("   ")
    assert not world.store.load_user("u_nobody").exists  # a lookup creates nothing


def test_an_event_with_its_body_and_what_processing_made_of_it(world):
    detail = operations(world).event("stripe", "evt_ops1")
    assert detail.body["id"] == "evt_ops1" and detail.record.outcome == "applied"
    assert detail.record.purchase_id == f"stripe:{SUB}" and detail.record.changes
    with pytest.raises(NotFound):
        operations(world).event("stripe", "evt_missing")


def test_health_answers_without_its_dlq_history_when_cloudwatch_fails(world):
    health = operations(world, MemoryDeadLetters()).health(24)
    assert sum(v for (source, _), v in health.activity.events.items() if source == "stripe") == 1
    assert health.dlq_history == {} and any("unavailable" in note for note in health.notes)
    with pytest.raises(InvalidInput):
        operations(world).health(0)
    assert "No dead-letter queue" in operations(world).health(24).notes[0]


def test_redrive_and_purge_are_recorded_in_the_event_log(world):
    dlqs = MemoryDeadLetters()
    dlqs.letters.append(DeadLetterMessage("m1", "StoreEvents", "stripe", "evt_ops1", {}, "g", 50, world.clock.now()))
    ops = operations(world, dlqs)
    ((letter, record),) = ops.dead_letters(20)
    assert letter.event_id == "evt_ops1" and record.outcome == "applied"
    assert ops.redrive("StoreEvents", OPERATOR).moved == 1
    admin = [e for (source, _), e in world.store.events.items() if source == "admin"]
    assert [e.event_type for e in admin] == ["dlq.redriven"] and admin[0].processed_at
    assert json.loads(admin[0].body)["actor"] == OPERATOR
    assert ops.purge("StoreEvents", OPERATOR) == 0
    with pytest.raises(InvalidInput):
        ops.dead_letters(0)
    with pytest.raises(NotFound):
        operations(world).redrive("StoreEvents", OPERATOR)


def test_reconcile_now_queues_each_purchase_under_a_manual_report(world):
    request = operations(world).reconcile(USER, None, OPERATOR)
    assert request.purchase_ids == [f"stripe:{SUB}"]
    assert [m["purchaseId"] for m in world.reconcile_queue.bodies()] == [f"stripe:{SUB}"]
    assert world.store.report(request.report_id)["status"] == "manual"
    with pytest.raises(UserNotFound):
        operations(world).reconcile("u_nobody", None, OPERATOR)
    assert operations(world).known_user(USER) == USER
