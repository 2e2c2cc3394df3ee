"""The drift scan at scale, on the in-memory fakes: one message per due-index shard, each shard selected
on its own (and continued when its invocation runs short of time), the Play budget spent on purchases
whose access should have ended before the rolling slice, and a check the store agrees with costing one
batched read and one conditional update. The same on moto, through the handlers: tests/integration/
test_drift.py."""

from __future__ import annotations

import json
from collections import Counter
from datetime import timedelta

from parity.domain.drift import DUE_SHARDS, due_shard
from parity.domain.model import Store
from parity.ports import Commit, PurchaseWrite
from parity.services.drift_scan import DriftScan
from tests.support import stripe
from tests.support.domain import purchase
from tests.support.fakes import FakeStripeApi, MemoryQueue
from tests.support.services import NOW, World

DAY = stripe.DAY
T0 = int(NOW.timestamp()) - 3600


def subscribe(world: World, sub: str, end: int, user: str = "u_fan") -> None:
    world.deliver(stripe.event("customer.subscription.created", stripe.subscription(sub, "active", end, user_id=user), created=T0))
    world.drain()
    assert not world.failed


def same_shard_keys(prefix: str, count: int, shard: int) -> list[str]:
    return [k for k in (f"{prefix}{n}" for n in range(5000)) if due_shard(k) == shard][:count]


def test_the_schedule_fans_out_one_message_per_shard_and_the_shards_queue_every_due_purchase():
    # GIVEN twenty subscriptions due for their recheck
    world = World()
    for n in range(20):
        subscribe(world, f"sub_fan_{n}", T0 + 30 * DAY, user=f"u_fan_{n}")
    world.clock.advance(days=8)
    shards = MemoryQueue(world.clock)
    scan = DriftScan(world.store, world.reconcile_queue, world.clock, shard_queue=shards)

    # WHEN the schedule starts the scan
    started = scan.start()

    # THEN one message per shard is queued (and the catch-ups), nothing selected yet
    assert started["shards"] == DUE_SHARDS and len(shards.messages) == DUE_SHARDS
    assert sorted(m["kind"] for m in world.reconcile_queue.take()) == ["play_voided", "stripe_payments"]
    # AND each shard's invocation queues its own purchases; together, every due purchase once
    results = [scan.scan_shard(message) for message in shards.take()]
    checks = [m["purchaseId"] for m in world.reconcile_queue.take()]
    assert sorted(checks) == sorted(f"stripe:sub_fan_{n}" for n in range(20))
    assert sum(r["selected"] for r in results) == 20
    assert world.store.report(started["reportId"])["counts"]["selected"] == 20


def test_a_shard_short_of_time_queues_its_continuation_where_it_stopped():
    world = World()
    keys = [k.split(":", 1)[1] for k in same_shard_keys("stripe:sub_cont_", 3, shard=5)]
    for key in keys:
        subscribe(world, key, T0 + 30 * DAY)
    world.clock.advance(days=8)
    shards = MemoryQueue(world.clock)
    scan = DriftScan(world.store, world.reconcile_queue, world.clock, shard_queue=shards, page=1)
    world.store.save_report("r_1", {"reportId": "r_1", "counts": {}})
    left = iter([900_000, 900_000, 10_000])  # the (empty) due pass and one page's worth of time, then too little

    first = scan.scan_shard({"reportId": "r_1", "day": "2026-01-01", "shard": 5}, lambda: next(left))

    (continuation,) = shards.take()
    assert first["selected"] == 1 and continuation["after"] and continuation["shard"] == 5
    rest = scan.scan_shard(continuation, lambda: 900_000)
    assert rest["selected"] == 2
    assert sorted(m["purchaseId"] for m in world.reconcile_queue.take()) == sorted(f"stripe:{k}" for k in keys)


def test_the_play_budget_goes_to_purchases_whose_access_ended_before_the_rolling_slice():
    # GIVEN one shard holding Play purchases whose access should have ended, Play purchases due for
    # their recheck, and a Stripe one; a budget of two Play checks per shard and day
    world = World()
    shard = 3
    tokens = same_shard_keys("play_store:tok_", 4, shard)
    (sub,) = same_shard_keys("stripe:sub_b", 1, shard)
    now = world.clock.now()
    ending = [  # access until tomorrow: in the due pass once that has passed
        purchase(store=Store.PLAY_STORE, store_key=t.split(":", 1)[1], event_time=now, expires_at=now + timedelta(days=1 + n))
        for n, t in enumerate(tokens[:2])
    ]
    rolling = [  # a long period: only the weekly recheck makes them due
        purchase(store=Store.PLAY_STORE, store_key=t.split(":", 1)[1], event_time=now, expires_at=now + timedelta(days=60))
        for t in tokens[2:]
    ]
    stripe_one = purchase(store_key=sub.split(":", 1)[1], event_time=now, expires_at=now + timedelta(days=60))
    for n, p in enumerate([*ending, *rolling, stripe_one]):
        world.store.commit(Commit("stripe", f"evt_b{n}", purchases=(PurchaseWrite(p, 0),)))
    world.clock.advance(days=8)
    scan = DriftScan(world.store, world.reconcile_queue, world.clock, play_checks_per_day=2 * DUE_SHARDS)

    for report in ("r_b", "r_b2"):
        world.store.save_report(report, {"reportId": report, "counts": {}})

    # WHEN the shard is selected
    result = scan.scan_shard({"reportId": "r_b", "day": "2026-01-09", "shard": shard})

    # THEN the budget went to the ended ones; the Stripe check is not counted against it
    queued = [m["purchaseId"] for m in world.reconcile_queue.take()]
    assert queued[:2] == [p.purchase_id for p in ending] and sub in queued
    assert not {p.purchase_id for p in rolling} & set(queued)
    assert (result["selected"], result["deferred"]) == (3, 2)
    # AND with room in the next day's budget, the rolling Play purchases still due come after them
    roomy = DriftScan(world.store, world.reconcile_queue, world.clock, play_checks_per_day=4 * DUE_SHARDS)
    roomy.scan_shard({"reportId": "r_b2", "day": "2026-01-10", "shard": shard})
    play = [m["purchaseId"] for m in world.reconcile_queue.take() if m["purchaseId"].startswith("play_store:")]
    assert play[:2] == [p.purchase_id for p in ending] and sorted(play[2:]) == sorted(p.purchase_id for p in rolling)


class CountingStore:
    """The store, with the calls made to it counted by method."""

    def __init__(self, store) -> None:
        self._store = store
        self.calls: Counter[str] = Counter()

    def __getattr__(self, name):
        attribute = getattr(self._store, name)
        if not callable(attribute):
            return attribute

        def counted(*args, **kwargs):
            self.calls[name] += 1
            return attribute(*args, **kwargs)

        return counted


def test_a_check_the_store_agrees_with_costs_one_batched_read_and_one_conditional_update():
    # GIVEN three subscriptions Stripe describes as Parity has them
    world = World(stripe_api=FakeStripeApi())
    subs = [f"sub_agree_{n}" for n in range(3)]
    for sub in subs:
        world.stripe_api.subscriptions[sub] = stripe.subscription(sub, "active", T0 + 30 * DAY, user_id="u_agree")
        subscribe(world, sub, T0 + 30 * DAY, user="u_agree")
    world.clock.advance(days=8)
    world.publisher.changes()
    events_before = len(world.store.events)
    counting = CountingStore(world.store)
    reconciler = world.reconciler()
    reconciler._repo = counting  # the worker's own reads and writes, counted

    # WHEN the worker checks them in one batch
    messages = [json.loads(m) for m in (json.dumps({"kind": "purchase", "purchaseId": f"stripe:{s}", "reportId": "r_a"}) for s in subs)]
    reconciler.prefetch(messages)
    checks = [reconciler.handle(m) for m in messages]

    # THEN each was checked with no drift: one read for the batch, one conditional update per check,
    # nothing recorded, no transaction, nothing published
    assert [(c.status, c.kinds) for c in checks] == [("checked", frozenset())] * 3
    assert counting.calls == Counter({"get_purchases": 1, "mark_checked": 3})
    assert len(world.store.events) == events_before and world.publisher.changes() == []
    checked = [world.store.get_purchase(f"stripe:{s}").checked_at for s in subs]
    assert all(at is not None and at > NOW for at in checked)


def test_a_fanned_out_scan_is_complete_once_every_shard_selected_and_every_check_and_catch_up_reported():
    # GIVEN five subscriptions due for their recheck, and a scan fanned out per shard
    world = World()
    for n in range(5):
        subscribe(world, f"sub_done_{n}", T0 + 30 * DAY, user=f"u_done_{n}")
    world.clock.advance(days=8)
    shards = MemoryQueue(world.clock)
    scan = DriftScan(world.store, world.reconcile_queue, world.clock, shard_queue=shards)
    report_id = scan.start()["reportId"]
    reconciler = world.reconciler()

    def work() -> str:
        messages = world.reconcile_queue.take()
        reconciler.report(report_id, [reconciler.handle(m) for m in messages])
        return world.store.report(report_id)["status"]

    # WHEN the catch-ups are reported before any shard has selected, the report is not complete
    assert work() == "fanned_out"
    # AND all shards but the last select, and their checks are reported: still not complete
    *first, last = shards.take()
    for message in first:
        scan.scan_shard(message)
    assert work() == "fanned_out"
    # THEN the last shard's selection and its checks complete it
    scan.scan_shard(last)
    assert work() == "complete"
    counts = world.store.report(report_id)["counts"]
    assert counts["selected"] == 5 and counts["shards_selected"] == DUE_SHARDS
