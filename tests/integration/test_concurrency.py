"""Optimistic concurrency between processor containers, and the one-time issue of appAccountTokens."""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import replace

import pytest

from parity.domain.errors import VersionConflictError
from parity.ports import Commit, PurchaseWrite
from parity.services.ingest import queue_message
from tests.support import stripe
from tests.support.harness import load_function

DAY = stripe.DAY


def message_of(event: dict) -> dict:
    return json.loads(queue_message("stripe", event["id"], stripe.encode(event)))


def _race_before_first_commit(monkeypatch, service, competitor):
    """Make `service`'s first commit lose a race: `competitor()` commits between its reads and its write."""
    repo = service._repo
    real_commit = repo.commit
    attempts: list[str] = []

    def racing_commit(commit):
        if not attempts:
            competitor()
        try:
            real_commit(commit)
        except VersionConflictError:
            attempts.append("conflict")
            raise
        attempts.append("committed")

    monkeypatch.setattr(repo, "commit", racing_commit)
    return attempts


def test_two_processors_racing_on_one_user_both_apply_after_a_version_conflict_retry(stack, t0, monkeypatch):
    user, end = "u_race", t0 + 30 * DAY
    mine = stripe.event(
        "customer.subscription.created", stripe.subscription("sub_race1", "active", end, user_id=user), created=t0
    )
    theirs = stripe.event(
        "customer.subscription.created",
        stripe.subscription("sub_race2", "active", end, price="price_team", product="prod_team", user_id=user),
        created=t0,
    )
    stack.deliver(mine, theirs)
    other_container = load_function("event_processor")

    # GIVEN another container commits the other purchase of the same user while this one is between read and write
    def competitor():
        assert other_container.service.process_message(message_of(theirs)).status == "applied"

    attempts = _race_before_first_commit(monkeypatch, stack.processor.service, competitor)

    # WHEN this container processes its batch
    drained = stack.drain()

    # THEN its first commit hit the version condition, the retry re-read and committed; nothing failed
    assert attempts == ["conflict", "committed"]
    assert drained.failed == []
    body = stack.read(user).body
    assert sorted(p["purchaseId"] for p in body["purchases"]) == ["stripe:sub_race1", "stripe:sub_race2"]
    assert {k: v["active"] for k, v in body["entitlements"].items()} == {"pro": True, "team": True}
    # AND each event was applied once: one change each (the other container's event, met again in this
    # container's batch, re-publishes what it recorded, under the same changeId)
    changes = stack.changes()
    by_id = {}
    for change in changes:
        assert by_id.setdefault(change["changeId"], change) == change
    assert sorted((c["cause"], c["entitlement"]) for c in by_id.values()) == sorted(
        [(f"stripe:{mine['id']}", "pro"), (f"stripe:{theirs['id']}", "team")]
    )
    assert stack.item(f"USER#{user}", "PROFILE")["version"] == 2


def test_two_processors_racing_on_one_purchase_converge_on_the_later_period(stack, t0, monkeypatch):
    user, sub, end1, end2 = "u_race_p", "sub_race_p", t0 + 30 * DAY, t0 + 60 * DAY
    stack.deliver(
        stripe.event(
            "customer.subscription.created", stripe.subscription(sub, "active", end1, user_id=user), created=t0
        )
    )
    assert not stack.drain().failed
    update = stripe.event(
        "customer.subscription.updated",
        stripe.subscription(sub, "active", end1, user_id=user, cancel_at_period_end=True),
        created=t0 + 5,
    )
    renewal = stripe.event(
        "customer.subscription.updated", stripe.subscription(sub, "active", end2, user_id=user), created=t0 + 10
    )
    other_container = load_function("event_processor")

    def competitor():  # a replay of the newer event, committed first by someone else
        assert other_container.service.process_message(message_of(renewal)).status == "applied"

    attempts = _race_before_first_commit(monkeypatch, stack.processor.service, competitor)
    stack.deliver(update)

    drained = stack.drain()

    # THEN the conflict is retried against the fresh purchase, where the older event is stale
    assert drained.failed == []
    assert attempts == ["conflict"]
    assert stack.event_item(update["id"])["outcome"] == "stale"
    pro = stack.read(user).body["entitlements"]["pro"]
    assert (pro["expiresAt"], pro["willRenew"]) == (time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(end2)), True)
    assert stack.purchase_item(f"stripe:{sub}")["version"] == 2


def test_a_conflict_on_every_attempt_fails_the_record_and_writes_nothing(stack, t0, monkeypatch):
    user = "u_busy"
    event = stripe.event("customer.subscription.created", stripe.subscription("sub_busy", user_id=user), created=t0)
    stack.deliver(event)
    helper = stack.session.client("dynamodb")

    def bump_profile():  # someone writes the user every time, between our read and our write
        helper.update_item(
            TableName=stack.table,
            Key={"PK": {"S": f"USER#{user}"}, "SK": {"S": "PROFILE"}},
            UpdateExpression="SET version = if_not_exists(version, :zero) + :one",
            ExpressionAttributeValues={":zero": {"N": "0"}, ":one": {"N": "1"}},
        )

    repo = stack.processor.service._repo
    real_commit = repo.commit

    def always_racing(commit):
        bump_profile()
        real_commit(commit)

    monkeypatch.setattr(repo, "commit", always_racing)

    drained = stack.drain()

    assert len(drained.failed) == 1  # retried by SQS later, then by the DLQ's redrive
    assert stack.purchase_item("stripe:sub_busy") is None
    assert "processedAt" not in stack.event_item(event["id"])
    assert stack.changes() == []


def test_a_stale_expected_version_is_refused_by_the_repository(stack, t0):
    user = "u_stale"
    stack.deliver(
        stripe.event("customer.subscription.created", stripe.subscription("sub_stale", user_id=user), created=t0)
    )
    assert not stack.drain().failed
    repo = stack.processor.service._repo
    current = repo.get_purchase("stripe:sub_stale")
    stale = Commit(
        source="stripe",
        event_id="evt_stale_writer",
        purchases=(PurchaseWrite(replace(current, will_renew=False, version=current.version), current.version - 1),),
    )

    with pytest.raises(VersionConflictError):
        repo.commit(stale)
    assert repo.get_purchase("stripe:sub_stale") == current


# ------------------------------------------------------------------------------------------------ tokens


def test_the_first_read_issues_an_app_account_token_and_later_reads_return_the_same(stack):
    first = stack.read("u_token")
    second = stack.read("u_token")

    assert first.status == second.status == 200
    token = first.body["appAccountToken"]
    assert uuid.UUID(token).version == 4
    assert second.body["appAccountToken"] == token
    assert first.body["entitlements"] == {} and first.body["purchases"] == []
    assert stack.item(f"TOKEN#{token}", "TOKEN")["userId"] == "u_token"
    assert [i for i in stack.table_items() if i["PK"].startswith("TOKEN#")] == [stack.item(f"TOKEN#{token}", "TOKEN")]


def test_a_token_issued_by_the_processor_is_the_one_the_read_returns(stack, t0):
    stack.deliver(
        stripe.event("customer.subscription.created", stripe.subscription("sub_tok", user_id="u_tok"), created=t0)
    )
    assert not stack.drain().failed
    issued = stack.item("USER#u_tok", "PROFILE")["appAccountToken"]

    assert stack.read("u_tok").body["appAccountToken"] == issued
    assert stack.item(f"TOKEN#{issued}", "TOKEN")["userId"] == "u_tok"


def test_a_read_then_a_purchase_keep_the_token_of_the_read(stack, t0):
    token = stack.read("u_early").body["appAccountToken"]

    stack.deliver(
        stripe.event("customer.subscription.created", stripe.subscription("sub_early", user_id="u_early"), created=t0)
    )
    assert not stack.drain().failed

    body = stack.read("u_early").body
    assert body["appAccountToken"] == token
    assert body["entitlements"]["pro"]["active"] is True


def test_concurrent_first_reads_keep_the_token_issued_first(stack, monkeypatch):
    # GIVEN two containers answer the first read of a user at the same time: both see no profile
    other_container = load_function("entitlements")
    repo = stack.entitlements.reader._repo
    real_load = repo.load_user
    seen: dict[str, str] = {}

    def load_user_racing(user_id):
        state = real_load(user_id)
        if not seen:  # between our read and our write, the other container issues its token
            seen["theirs"] = other_container.reader.read(user_id).app_account_token
        return state

    monkeypatch.setattr(repo, "load_user", load_user_racing)

    # WHEN this container's read goes on to issue its own token
    mine = stack.read("u_both")

    # THEN its conditional write lost, and both answers carry the first token; only one was ever stored
    assert mine.status == 200
    assert mine.body["appAccountToken"] == seen["theirs"]
    tokens = [i for i in stack.table_items() if i["PK"].startswith("TOKEN#")]
    assert [t["PK"] for t in tokens] == [f"TOKEN#{seen['theirs']}"]
    monkeypatch.undo()
    assert stack.read("u_both").body["appAccountToken"] == seen["theirs"]
