"""`parity user ...`, `parity dlq purge` and what the console reports about the drift scan, against a
local stack of this module's own (no store API key: Stripe purchases cannot be asked about)."""

from __future__ import annotations

import json
from collections.abc import Iterator

import boto3
import pytest

from tests.e2e.conftest import Parity, local_stack, stripe_event, wait_until
from tests.e2e.test_cli_dlq import parity_cli
from tests.support import stripe as fixtures

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def stack(tmp_path_factory, idp) -> Iterator[Parity]:
    workdir = tmp_path_factory.mktemp("cli-user-stack")
    connection = workdir / "connection" / "local.json"
    with local_stack(workdir, idp, PARITY_LOCAL_FILE=str(connection)) as parity:
        parity.connection = connection
        yield parity


def subscriber(stack: Parity, ids, t0: int) -> str:
    event = stripe_event("customer.subscription.created", fixtures.subscription(ids.sub, user_id=ids.user, customer=ids.customer), t0)
    assert stack.deliver(event)["outcome"] == "applied"
    return f"stripe:{ids.sub}"


def sqs(stack: Parity):
    document = json.loads(stack.connection.read_text())
    client = boto3.client(
        "sqs", endpoint_url=document["endpointUrl"], region_name=document["region"],
        aws_access_key_id="test", aws_secret_access_key="test",
    )  # fmt: skip
    return client, document["resources"]


def test_parity_user_grant_show_revoke_and_clear_flag(stack, ids):
    granted = json.loads(parity_cli(stack, "user", "grant", ids.user, "pro", "--until", "2099-01-01T00:00:00Z", "--reason", "goodwill", "--json").stdout)
    assert granted["purchaseId"].startswith("manual:") and granted["expiresAt"] == "2099-01-01T00:00:00Z"
    assert stack.read(ids.user)["entitlements"]["pro"]["store"] == "manual"

    shown = parity_cli(stack, "user", "show", ids.user).stdout
    assert granted["purchaseId"] in shown and "granted" in shown and "goodwill" in shown

    revoked = json.loads(parity_cli(stack, "user", "revoke", ids.user, granted["purchaseId"], "--json").stdout)
    assert revoked["state"] == "revoked" and stack.read(ids.user)["entitlements"]["pro"]["active"] is False
    (line,) = [c for c in stack.admin_report(ids.user)["claims"] if c["action"] == "grant_revoked"]
    assert line["actor"].startswith("console:")

    assert "flag cleared" in parity_cli(stack, "user", "clear-flag", ids.user).stdout
    refused = parity_cli(stack, "user", "grant", ids.user, "platinum", expect=1)
    assert "platinum" in refused.stderr
    assert parity_cli(stack, "user", "show", "u_never_seen", expect=1).stderr


def test_parity_user_assign_and_merge(stack, ids, t0):
    purchase = subscriber(stack, ids, t0)
    other = f"{ids.user}_b"
    assigned = json.loads(parity_cli(stack, "user", "assign", purchase, other, "--json").stdout)
    assert assigned["ownerIds"] == [other] and stack.read(other)["entitlements"]["pro"]["active"]
    merged = json.loads(parity_cli(stack, "user", "merge", ids.user, other, "--json").stdout)
    assert merged["purchasesMoved"] == 1 and stack.read(ids.user)["entitlements"]["pro"]["active"]


def test_parity_user_erase_then_replay_from_the_steps(stack, ids, t0):
    purchase = subscriber(stack, ids, t0)
    parity_cli(stack, "user", "grant", ids.user, "lifetime")
    refused = parity_cli(stack, "user", "erase", ids.user, expect=2)
    assert "--yes" in refused.stderr

    done = json.loads(parity_cli(stack, "user", "erase", ids.user, "--yes", "--json").stdout)
    assert done == {"userId": ids.user, "erased": True}
    assert "nothing to erase" in parity_cli(stack, "user", "erase", ids.user, "--yes").stdout

    assert stack.read(ids.user)["purchases"] == []
    replayed = json.loads(parity_cli(stack, "replay", "--all", "--json").stdout)
    assert replayed["consistent"] is True, replayed
    assert purchase not in json.dumps(replayed.get("differing", []))


def test_reconcile_says_a_store_was_not_asked(stack, ids, t0):
    purchase = subscriber(stack, ids, t0)
    done = parity_cli(stack, "reconcile", "--purchase", purchase, "--timeout", "30")
    assert f"{purchase}: not asked: the worker has no stripe API (STRIPE_API_KEY)" in done.stdout
    assert "no drift" not in done.stdout


def test_a_scan_report_reaches_complete(stack, ids, t0):
    subscriber(stack, ids, t0)
    report = json.loads(parity_cli(stack, "scan", "--wait", "--timeout", "30", "--json").stdout)

    def status():
        listed = json.loads(parity_cli(stack, "reports", "--json").stdout)["reports"]
        return next((r for r in listed if r["reportId"] == report["reportId"] and r["status"] == "complete"), None)

    assert wait_until(status, timeout=10)["completedAt"]


def test_an_unreadable_dead_letter_says_why_and_dlq_purge_empties_the_dlq(stack):
    client, resources = sqs(stack)
    dlq_url = resources["ReconcileDLQ"]["ref"]
    client.send_message(QueueUrl=dlq_url, MessageBody="this is not json")

    shown = parity_cli(stack, "dlq", "show", "Reconcile").stdout
    assert "unreadable: the body is not JSON" in shown
    letters = json.loads(parity_cli(stack, "dlq", "show", "Reconcile", "--json").stdout)["dlqs"][0]["messages"]
    assert letters[0]["problem"].startswith("the body is not JSON")

    assert parity_cli(stack, "dlq", "purge", "Reconcile", expect=2).stderr
    purged = json.loads(parity_cli(stack, "dlq", "purge", "Reconcile", "--yes", "--json").stdout)
    assert purged["purged"][0]["name"] == "Reconcile"
    wait_until(lambda: int(client.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["ApproximateNumberOfMessages"])["Attributes"]["ApproximateNumberOfMessages"]) == 0)
