"""The storage ports' contract, run against both implementations: `DynamoRepository` on moto (the table
built from template.yaml) and the in-memory `MemoryStore` the unit tier tests services on. Every port
method the services rely on, failure paths included; expectations are literal, so a drift of either
one fails here."""

from __future__ import annotations

from dataclasses import replace

import pytest

from parity.domain.drift import DUE_SHARDS
from parity.domain.entitlements import Entitlement
from parity.domain.errors import DuplicateEventError, VersionConflictError
from parity.domain.model import PaymentRef, State, Store
from parity.domain.ownership import Action, AuditRecord
from parity.domain.replay import Step
from parity.ports import Commit, PendingUpdate, PurchaseWrite, StoredEvent, UserWrite
from tests.support.domain import T0, day, purchase, second, snapshot_update
from tests.support.fakes import MemoryStore

PID = "stripe:sub_1"


@pytest.fixture(params=["memory", "dynamodb"])
def store(request):
    """Each port implementation, empty."""
    if request.param == "memory":
        return MemoryStore()
    from parity.adapters.dynamodb import DynamoRepository

    stack = request.getfixturevalue("stack")
    return DynamoRepository(stack.table, stack.session.client("dynamodb"))


def event(event_id: str = "evt_1", routing_key: str = "sub_1", at: int = 0, source: str = "stripe") -> StoredEvent:
    return StoredEvent(source, event_id, "customer.subscription.updated", routing_key, second(at), b'{"id": "%s"}' % event_id.encode())


def entitlement(purchase_id: str = PID) -> Entitlement:
    return Entitlement("pro", True, State.ACTIVE, day(30), None, True, Store.STRIPE, "price_pro_monthly", purchase_id)


def owned(user: str = "u_1", version: int = 1, **fields):
    return purchase(owner_ids=(user,), version=version, **fields)


def first_commit(event_id: str = "evt_1", user: str = "u_1", token: str = "tok_1", **fields) -> Commit:
    """A new purchase owned by a new user: event, purchase, profile and token, copy, entitlement."""
    bought = owned(user)
    return Commit(
        "stripe",
        event_id,
        purchases=(PurchaseWrite(bought, 0),),
        users=(UserWrite(user, 0, token, put_purchases=(bought,), put_entitlements=(entitlement(),)),),
        **fields,
    )


# ------------------------------------------------------------------------------------------ event log


def test_an_event_is_stored_once_and_a_second_append_says_whether_it_was_processed(store):
    first, second_append = store.append(event()), store.append(event())
    assert (first.stored, first.processed) == (True, False)
    assert (second_append.stored, second_append.processed) == (False, False)
    assert store.mark_processed("stripe", "evt_1", "ignored") is True
    again = store.append(event())
    assert (again.stored, again.processed) == (False, True)


def test_the_body_is_kept_byte_for_byte(store):
    body = "é\x00 ".encode() + bytes(range(256))
    store.append(StoredEvent("play_store", "m_1", "push", "tok", second(0), body))
    assert store.get_event_body("play_store", "m_1") == body
    assert store.get_event_body("play_store", "m_unknown") is None


def test_an_event_is_marked_processed_once_even_one_the_log_never_stored(store):
    store.append(event())
    assert store.mark_processed("stripe", "evt_1", "stale", PID) is True
    assert store.mark_processed("stripe", "evt_1", "stale", PID) is False
    # an update of an unknown event creates its item, processed
    assert store.mark_processed("admin", "never_appended", "unchanged") is True
    assert store.append(event("never_appended", source="admin")).processed is True
    assert [(e.event_id, e.outcome) for e in store.purchase_events(PID)] == [("evt_1", "stale")]


def test_an_event_joins_its_purchase_history_by_routing_key_then_by_purchase(store):
    store.append(event("evt_1", at=1))
    store.append(event("evt_2", at=2))
    store.append(event("evt_other", routing_key="sub_9", at=3))
    before = store.purchase_events(PID)
    assert [(e.event_id, e.processed_at, e.outcome) for e in before] == [("evt_2", None, None), ("evt_1", None, None)]

    store.commit(first_commit("evt_1"))

    summaries = store.purchase_events(PID)
    assert [(e.source, e.event_id, e.event_type, e.received_at, e.outcome, e.purchase_id) for e in summaries] == [
        ("stripe", "evt_2", "customer.subscription.updated", second(2), None, None),
        ("stripe", "evt_1", "customer.subscription.updated", second(1), "applied", PID),
    ]
    assert summaries[1].processed_at is not None
    assert [e.event_id for e in store.purchase_events(PID, limit=1)] == ["evt_2"]


def test_a_parked_event_is_listed_until_processed_oldest_first(store):
    assert store.park("stripe", "evt_unknown") is False  # not stored: nothing to park
    for n in (1, 2, 3):
        store.append(event(f"evt_{n}", at=n * 60))
    assert store.park("stripe", "evt_2") and store.park("stripe", "evt_1") and store.park("stripe", "evt_3")
    assert list(store.parked(second(0))) == [("stripe", "evt_1"), ("stripe", "evt_2"), ("stripe", "evt_3")]
    assert list(store.parked(second(120))) == [("stripe", "evt_2"), ("stripe", "evt_3")]

    store.mark_processed("stripe", "evt_2", "ignored")
    store.commit(first_commit("evt_3"))

    assert list(store.parked(second(0))) == [("stripe", "evt_1")]
    assert store.park("stripe", "evt_2") is False  # processed: stays processed
    assert [e.event_id for e in store.purchase_events(PID)] == ["evt_3"]


def test_the_changes_a_commit_records_and_those_its_batches_add_come_back_in_order(store):
    assert store.recorded_changes("stripe", "evt_1") == ()
    store.append(event())
    store.commit(first_commit(change_details=({"changeId": "a", "old": None, "new": {"x": (1, 2)}},)))
    store.commit(Commit("stripe", "evt_1", change_details=({"changeId": "b"},), completes_event=False))
    store.commit(Commit("stripe", "evt_1", change_details=({"changeId": "c"}, {"changeId": "d"}), completes_event=False))
    assert store.recorded_changes("stripe", "evt_1") == (
        {"changeId": "a", "old": None, "new": {"x": [1, 2]}},
        {"changeId": "b"},
        {"changeId": "c"},
        {"changeId": "d"},
    )


# -------------------------------------------------------------------------------------------- commits


def test_a_commit_writes_the_purchase_the_user_and_the_links_together(store):
    refund = AuditRecord("u_1", Action.CLAIMED, second(5), "stripe", "evt_1", PID)
    store.commit(
        first_commit(
            payment_refs=(PaymentRef("in_1", PID, day(30)),),
            audit=(refund, AuditRecord("u_1", Action.FLAGGED, second(5), "stripe", "evt_1")),
            token_moves=(("tok_old", "u_1"),),
        )
    )

    user = store.load_user("u_1")
    assert (user.exists, user.version, user.app_account_token) == (True, 1, "tok_1")
    assert user.purchases == (owned("u_1"),) and user.entitlements == {"pro": entitlement()}
    assert store.get_purchase(PID) == owned("u_1")
    assert store.get_purchases([PID, "stripe:unknown"]) == {PID: owned("u_1")}
    assert store.find_payment(["in_unknown", "in_1"]) == PaymentRef("in_1", PID, day(30), ("u_1",))
    assert store.find_payment(["in_1"], source="play_store") is None and store.find_payment([]) is None
    read = store.read_purchase(PID, app_account_token="tok_old")
    assert (read.purchase, read.customer_user, read.token_user) == (owned("u_1"), None, "u_1")
    assert [r.action for r in store.audit_trail("u_1")] == [Action.FLAGGED, Action.CLAIMED]


def test_a_family_shared_consumable_and_who_it_was_credited_to_come_back_as_written(store):
    kinds = {"family_shared": True, "consumable": True, "credited_to": "u_1"}
    store.commit(
        Commit(
            "app_store",
            "evt_k",
            purchases=(PurchaseWrite(owned("u_1", **kinds), 0),),
            users=(UserWrite("u_1", 0, "tok_k", put_purchases=(owned("u_1", **kinds),)),),
        )
    )

    assert store.get_purchase(PID) == owned("u_1", **kinds)
    assert store.load_user("u_1").purchases == (owned("u_1", **kinds),)


def test_a_purchase_keeps_its_environment_and_app_and_an_entitlement_its_environment(store):
    # GIVEN a Sandbox App Store purchase of one of the stack's apps, and the entitlement it grants
    sandbox = owned("u_1", store=Store.APP_STORE, store_key="2000000000000001", environment="sandbox", app="com.example.lite")
    granted = replace(entitlement(sandbox.purchase_id), store=Store.APP_STORE, environment="sandbox")
    user = UserWrite("u_1", 0, "tok_1", put_purchases=(sandbox,), put_entitlements=(granted,))
    store.commit(Commit("app_store", "n_1", purchases=(PurchaseWrite(sandbox, 0),), users=(user,)))

    # THEN both read back as written: the canonical purchase, the user's copy and the projection
    assert store.get_purchase(sandbox.purchase_id) == sandbox
    read = store.load_user("u_1")
    assert read.purchases == (sandbox,) and read.entitlements == {"pro": granted}
    assert (sandbox.environment, sandbox.app, read.entitlements["pro"].environment) == ("sandbox", "com.example.lite", "sandbox")


def test_the_size_of_a_commit_is_the_items_it_writes(store):
    commit = first_commit(payment_refs=(PaymentRef("in_1", PID, None),), audit=(AuditRecord("u_1", Action.CLAIMED, T0, "stripe", "evt_1"),))
    assert store.commit_size(commit) == 8  # event, purchase, profile, token, copy, entitlement, ref, audit
    existing = UserWrite("u_2", 3, delete_purchase_ids=("a", "b"), delete_entitlement_ids=("pro",))
    later = Commit("stripe", "evt_2", users=(existing,), completes_event=False, pending=(PendingUpdate(PID, 1, remove=("u_2",)),))
    assert store.commit_size(later) == 5  # pending update, profile, two copies, one entitlement
    assert store.max_commit_items == 100
    too_big = Commit("stripe", "evt_3", audit=tuple(AuditRecord("u", Action.CLAIMED, T0, "stripe", f"e{n}") for n in range(100)))
    with pytest.raises(ValueError):
        store.commit(too_big)


def test_an_event_is_committed_once_and_the_second_commit_carries_what_the_first_recorded(store):
    store.commit(first_commit(change_details=({"changeId": "first"},)))
    with pytest.raises(DuplicateEventError) as duplicate:
        store.commit(first_commit(user="u_2", token="tok_2"))
    assert duplicate.value.recorded_changes == ({"changeId": "first"},)
    assert not store.load_user("u_2").exists  # nothing of the second was written


def test_a_commit_on_a_version_someone_else_moved_writes_nothing(store):
    store.commit(first_commit())
    moved = owned("u_2", version=2)
    stale = Commit(
        "stripe",
        "evt_2",
        purchases=(PurchaseWrite(moved, 0),),  # expects a new purchase: it exists
        users=(UserWrite("u_2", 0, "tok_2", put_purchases=(moved,)),),
        payment_refs=(PaymentRef("in_2", PID, None),),
    )
    with pytest.raises(VersionConflictError):
        store.commit(stale)
    with pytest.raises(VersionConflictError):
        store.commit(Commit("stripe", "evt_2", purchases=(PurchaseWrite(moved, 5),)))
    with pytest.raises(VersionConflictError):  # the purchase is right, the user's profile is not
        store.commit(Commit("stripe", "evt_2", purchases=(PurchaseWrite(moved, 1),), users=(UserWrite("u_1", 7),)))
    with pytest.raises(VersionConflictError):  # a new user whose token is taken
        store.commit(Commit("stripe", "evt_2", users=(UserWrite("u_3", 0, "tok_1"),)))

    assert store.get_purchase(PID) == owned("u_1")
    assert not store.load_user("u_2").exists and not store.load_user("u_3").exists
    assert store.find_payment(["in_2"]) is None
    assert store.append(event("evt_2")).processed is False


def test_a_user_update_adds_refunds_flags_merges_and_aliases(store):
    store.commit(first_commit())
    store.commit(Commit("stripe", "evt_2", users=(UserWrite("u_1", 1, refunds_added=2, aliases_added=("u_a",)),)))
    store.commit(
        Commit(
            "stripe",
            "evt_3",
            users=(UserWrite("u_1", 2, refunds_added=1, flagged_at=second(9), aliases_added=("u_b", "u_c"), delete_purchase_ids=(PID,), delete_entitlement_ids=("pro",)),),
        )
    )  # fmt: skip
    user = store.load_user("u_1")
    assert (user.version, user.refunds, user.flagged_at, user.aliases) == (3, 3, second(9), ("u_a", "u_b", "u_c"))
    assert (user.purchases, user.entitlements, user.merged_into) == ((), {}, None)
    store.commit(Commit("admin", "merge", users=(UserWrite("u_1", 3, merged_into="u_9"),), token_moves=(("tok_1", "u_9"),)))
    assert store.load_user("u_1").merged_into == "u_9"
    assert store.read_purchase(PID, app_account_token="tok_1").token_user == "u_9"


def test_pending_users_are_added_and_removed_on_the_purchase_version(store):
    store.commit(first_commit())
    store.commit(Commit("stripe", "evt_2", completes_event=False, pending=(PendingUpdate(PID, 1, add=("u_2", "u_3")),)))
    assert store.get_purchase(PID).pending_users == ("u_2", "u_3")
    store.commit(Commit("stripe", "evt_2", completes_event=False, pending=(PendingUpdate(PID, 1, remove=("u_3",)),)))
    assert store.get_purchase(PID).pending_users == ("u_2",)
    with pytest.raises(VersionConflictError):
        store.commit(Commit("stripe", "evt_2", completes_event=False, pending=(PendingUpdate(PID, 2, remove=("u_2",)),)))
    assert store.get_purchase(PID) == owned("u_1", pending_users=("u_2",))


def test_the_audit_trail_is_newest_first_and_keeps_two_lines_of_one_event(store):
    lines = tuple(AuditRecord("u_1", Action.CLAIMED, second(n), "stripe", f"evt_{n}", PID) for n in range(3))
    twice = (AuditRecord("u_1", Action.DOUBLE_BILLING, second(5), "admin", "m", detail="pro"),) * 2
    store.commit(Commit("stripe", "evt_x", audit=lines + twice))
    trail = store.audit_trail("u_1")
    assert [(r.event_id, r.action) for r in trail] == [
        ("m", Action.DOUBLE_BILLING), ("m", Action.DOUBLE_BILLING), ("evt_2", Action.CLAIMED), ("evt_1", Action.CLAIMED), ("evt_0", Action.CLAIMED),
    ]  # fmt: skip
    assert trail[-1] == lines[0]
    assert len(store.audit_trail("u_1", limit=2)) == 2 and store.audit_trail("u_nobody") == ()


# ------------------------------------------------------------------------------- users and customers


def test_a_user_never_written_reads_empty_and_a_profile_is_created_once(store):
    nobody = store.load_user("u_1")
    assert (nobody.exists, nobody.version, nobody.purchases, nobody.entitlements) == (False, 0, (), {})

    created = store.create_profile("u_1", "tok_1")
    assert (created.exists, created.version, created.app_account_token) == (True, 1, "tok_1")
    assert store.create_profile("u_1", "tok_other").app_account_token == "tok_1"
    assert store.load_user("u_1").app_account_token == "tok_1"
    assert store.read_purchase(PID, app_account_token="tok_1").token_user == "u_1"
    assert store.read_purchase(PID, app_account_token="tok_other").token_user is None


def test_a_customer_is_linked_once_per_event(store):
    store.append(event("evt_link"))
    store.link_customer("stripe", "evt_link", "cus_1", "u_1")
    read = store.read_purchase(PID, customer_ref="cus_1", app_account_token="tok_none")
    assert (read.purchase, read.customer_user, read.token_user) == (None, "u_1", None)
    with pytest.raises(DuplicateEventError):
        store.link_customer("stripe", "evt_link", "cus_1", "u_2")
    assert store.read_purchase(PID, customer_ref="cus_1").customer_user == "u_1"
    assert store.append(event("evt_link")).processed is True


# --------------------------------------------------------------------------------------- drift scan


def due_purchases(store, now):
    """The ids of every purchase due by `now`, read as the scan reads them: each shard's due pass, then
    its rolling slice, page by page."""
    for shard in range(DUE_SHARDS):
        for ends in (True, False):
            after = None
            while True:
                ids, after = store.due_page(now, shard, ends, after)
                yield from ids
                if after is None:
                    break


def test_a_purchase_is_due_at_its_recheck_or_its_end_and_a_check_moves_it_on(store):
    ending = owned("u_1", store_key="sub_ends", expires_at=day(3))
    store.commit(Commit("stripe", "evt_1", purchases=(PurchaseWrite(owned("u_1"), 0),)))  # recheck: 7 days on
    store.commit(Commit("stripe", "evt_2", purchases=(PurchaseWrite(ending, 0),)))
    assert list(due_purchases(store, day(2))) == []
    assert list(due_purchases(store, day(3))) == ["stripe:sub_ends"]
    assert sorted(due_purchases(store, day(7))) == [PID, "stripe:sub_ends"]

    assert store.mark_checked(owned("u_1"), day(6)) is True
    assert store.get_purchase(PID).checked_at == day(6)
    assert PID not in list(due_purchases(store, day(7)))
    assert PID in list(due_purchases(store, day(13)))
    assert store.mark_checked(owned("u_1", version=4), day(20)) is False
    assert store.get_purchase(PID).checked_at == day(6)


def test_a_purchase_with_pending_users_is_due_at_once(store):
    store.commit(Commit("stripe", "evt_1", purchases=(PurchaseWrite(owned("u_1", pending_users=("u_2",)), 0),)))
    assert list(due_purchases(store, T0)) == [PID]


def test_a_shard_is_read_in_pages_its_due_pass_before_its_rolling_slice(store):
    from parity.domain.drift import due_shard

    # GIVEN purchases of one shard: some whose access should have ended, some due for their recheck
    keys = [f"sub_{n}" for n in range(200) if due_shard(f"stripe:sub_{n}") == due_shard(PID)][:5]
    ending = [owned("u_1", store_key=k, expires_at=day(2 + n)) for n, k in enumerate(keys[:3])]
    rolling = [owned("u_1", store_key=k) for k in keys[3:]]
    for n, written in enumerate(ending + rolling):
        store.commit(Commit("stripe", f"evt_{n}", purchases=(PurchaseWrite(written, 0),)))
    shard = due_shard(PID)

    # WHEN the due pass is read two at a time
    first, after = store.due_page(day(10), shard, True, None, 2)
    second, done = store.due_page(day(10), shard, True, after, 2)

    # THEN it comes oldest first, goes on where it stopped, and ends; the rolling slice holds the rest
    assert first + second == [p.purchase_id for p in ending] and after is not None and done is None
    assert sorted(store.due_page(day(10), shard, False)[0]) == sorted(p.purchase_id for p in rolling)
    assert store.due_page(day(1), shard, True) == ([], None)


def test_a_budget_grants_at_most_its_limit_then_nothing(store):
    assert store.spend_budget("play:2026-01-01:0", 4, 10) == 4
    assert store.spend_budget("play:2026-01-01:0", 5, 10) == 5
    assert store.spend_budget("play:2026-01-01:0", 5, 10) == 1  # what is left
    assert store.spend_budget("play:2026-01-01:0", 3, 10) == 0
    assert store.spend_budget("play:2026-01-02:0", 30, 10) == 10  # another day's budget; never past its limit


def test_reports_add_up_counts_and_keep_a_few_examples(store):
    store.save_report("r_1", {"reportId": "r_1", "status": "selecting", "counts": {}})
    store.add_to_report("r_1", {"checked": 2, "refunded": 1}, [{"subject": "a"}])
    store.add_to_report("r_1", {"checked": 3}, [{"subject": n} for n in range(25)])
    store.add_to_report("r_1", {}, [{"subject": "late"}])
    store.save_report("r_1", {"status": "queued", "selected": 7})
    store.save_report("r_2", {"reportId": "r_2", "counts": {}})

    newest, report = store.reports()
    assert newest["reportId"] == "r_2" and store.reports(limit=1) == [newest]
    assert (report["status"], report["selected"], report["counts"]) == ("queued", 7, {"checked": 5, "refunded": 1})
    assert [e["subject"] for e in report["examples"]] == ["a", *range(25)]  # full after these: no more
    assert store.report("r_1") == report and store.report("r_missing") is None


def test_a_cursor_keeps_the_last_value_saved(store):
    assert store.cursor("play_voided") is None
    store.set_cursor("play_voided", "2026-01-01T00:00:00+00:00")
    store.set_cursor("play_voided", "2026-01-02T00:00:00+00:00")
    assert store.cursor("play_voided") == "2026-01-02T00:00:00+00:00"


def test_cursors_are_kept_apart_by_name(store):
    # the Play voided catch-up and the Stripe refunds and disputes catch-up each keep their own
    store.set_cursor("play_voided", "2026-01-01T00:00:00+00:00")
    store.set_cursor("stripe_payments", "1767225600")
    assert (store.cursor("play_voided"), store.cursor("stripe_payments")) == ("2026-01-01T00:00:00+00:00", "1767225600")


def test_a_purchase_keeps_the_state_it_lapses_into_and_its_grace_end(store):
    # a Stripe renewal failure: in grace until its end, billing_retry after; a pause: paused after
    in_grace = owned("u_1", state=State.GRACE_PERIOD, grace_ends_at=day(33), lapses_to=State.BILLING_RETRY)
    commit = first_commit()
    store.commit(
        commit._replace(
            purchases=(PurchaseWrite(in_grace, 0),),
            users=(commit.users[0]._replace(put_purchases=(in_grace,)),),
        )
    )
    assert store.get_purchase(PID) == in_grace
    assert store.load_user("u_1").purchases == (in_grace,)
    assert store.get_purchase(PID).state_at(day(34)) is State.BILLING_RETRY


# ------------------------------------------------------------------------------------------- replay


def _step(version: int, at: int) -> Step:
    update = replace(snapshot_update(State.ACTIVE, day(30), second(at)), event_id=f"evt_{version}")
    return Step(PID, version, update, claimant="u_1")


def test_replay_reads_the_steps_in_order_and_counts_writes_it_cannot_fold(store):
    for n in (1, 2, 3):
        store.append(event(f"evt_{n}", at=n))
    store.commit(first_commit("evt_1", step=_step(1, 1)))
    moved = owned("u_1", version=2)
    store.commit(Commit("stripe", "evt_2", purchases=(PurchaseWrite(moved, 1),), step=_step(2, 2)))
    store.commit(Commit("stripe", "evt_3", purchases=(PurchaseWrite(owned("u_1", version=3), 2),)))  # no step
    store.append(StoredEvent("admin", "merge", "user.merged", PID, second(4), b"{}"))
    store.commit(Commit("admin", "merge", purchases=(PurchaseWrite(owned("u_1", version=4), 3),)))  # folded by aliases
    store.mark_processed("stripe", "evt_ignored", "ignored", PID)

    assert store.replay_steps(PID) == ((_step(1, 1), _step(2, 2)), 1)
    assert store.replay_steps("stripe:unknown") == ((), 0)

    seen: list[int] = []
    found = store.replay_input(seen.append)
    assert {pid: tuple(sorted(s, key=lambda s: s.version)) for pid, s in found.steps.items()} == {PID: (_step(1, 1), _step(2, 2))}
    assert found.unrecorded == {PID: 1}
    assert found.purchases == {PID: owned("u_1", version=4)}
    assert list(found.users) == ["u_1"] and found.users["u_1"] == store.load_user("u_1")
    # items read: 5 events and the bodies of the 4 appended, the purchase, the profile, its token, copy, entitlement
    assert seen[-1] == 14


# ------------------------------------------------------------------------------ retention and erasure


def test_an_erased_body_is_gone_and_the_event_stays(store):
    store.append(event("evt_1"))
    store.commit(first_commit("evt_1", step=_step(1, 1)))
    store.erase_event_body("stripe", "evt_1")
    store.erase_event_body("stripe", "evt_never")  # nothing to erase: nothing happens
    assert store.get_event_body("stripe", "evt_1") is None
    assert store.get_event_body("stripe", "evt_never") is None
    assert store.replay_steps(PID) == ((_step(1, 1),), 0)
    assert store.append(event("evt_1")).processed is True


def test_a_cleared_flag_is_gone_and_the_refunds_stay(store):
    store.commit(first_commit())
    store.commit(Commit("stripe", "evt_2", users=(UserWrite("u_1", 1, refunds_added=3, flagged_at=second(5)),)))
    store.commit(Commit("admin", "clear", users=(UserWrite("u_1", 2, flag_cleared=True),)))
    user = store.load_user("u_1")
    assert (user.flagged_at, user.refunds, user.version) == (None, 3, 3)


def test_an_erased_account_loses_its_partition_links_and_trail_but_its_erasure_lines(store):
    store.commit(first_commit(audit=(AuditRecord("u_1", Action.CLAIMED, second(1), "stripe", "evt_1", PID),)))
    store.link_customer("stripe", "evt_link", "cus_1", "u_1")
    store.link_customer("stripe", "evt_link2", "cus_2", "u_other")
    erased = AuditRecord("u_1", Action.ERASED, second(2), "admin", "erasure:1", actor="user")
    store.commit(Commit("admin", "erasure:1", audit=(erased,)))

    store.erase_account("u_1", ["tok_1"], ["cus_1", "cus_2"], ["u_1"])
    store.erase_account("u_1", ["tok_1"], ["cus_1"], ["u_1"])  # again: nothing left to do

    assert store.load_user("u_1") == replace(store.load_user("u_never"), user_id="u_1")
    assert store.audit_trail("u_1") == (erased,)
    assert store.read_purchase(PID, customer_ref="cus_1", app_account_token="tok_1").token_user is None
    assert store.read_purchase(PID, customer_ref="cus_1").customer_user is None
    assert store.read_purchase(PID, customer_ref="cus_2").customer_user == "u_other"  # not theirs: kept
    assert store.get_purchase(PID) is not None  # the store record stays


def test_an_erased_user_is_named_by_a_placeholder_in_other_trails(store):
    lost = AuditRecord("u_2", Action.LOST, second(1), "stripe", "evt_1", PID, ("u_1", "u_3"))
    store.commit(Commit("stripe", "evt_1", audit=(lost,)))
    assert store.replace_audit_mentions("u_2", "u_1", "(erased user)") == 1
    assert store.replace_audit_mentions("u_2", "u_1", "(erased user)") == 0
    assert store.audit_trail("u_2") == (replace(lost, other_user_ids=("(erased user)", "u_3")),)
