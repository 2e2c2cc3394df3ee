"""`parity scan` and `parity reconcile` against a local stack: the console queues the checks, the
stack's queue poller runs the reconcile worker, and the report comes back."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import pytest

from tests.e2e.conftest import PLAY_PACKAGE, Parity, local_stack, wait_until
from tests.e2e.test_cli_dlq import parity_cli
from tests.support import google as push

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def stack(tmp_path_factory, idp, google_certs, play_api) -> Iterator[Parity]:
    workdir = tmp_path_factory.mktemp("drift-stack")
    connection = workdir / "connection" / "local.json"
    with local_stack(
        workdir,
        idp,
        PARITY_LOCAL_FILE=str(connection),
        GOOGLE_PACKAGE_NAME=PLAY_PACKAGE,
        GOOGLE_PUBSUB_AUDIENCE=push.AUDIENCE,
        GOOGLE_PUBSUB_SERVICE_ACCOUNT=push.SERVICE_ACCOUNT,
        GOOGLE_OIDC_CERTS_URL=google_certs.url,
        GOOGLE_API_BASE=play_api.base_url,
        GOOGLE_SERVICE_ACCOUNT_FILE=str(play_api.write_service_account(workdir / "play-service-account.json")),
    ) as parity:
        parity.connection = connection
        yield parity


def play_subscriber(stack: Parity, play_api, user: str) -> tuple[str, dict]:
    """A Play subscription bought with the user's token, notified and applied."""
    account = stack.read(user)["appAccountToken"]
    token = push.purchase_token()
    bought = play_api.add_subscription(
        token,
        externalAccountIdentifiers={"obfuscatedExternalAccountId": account},
        acknowledgementState="ACKNOWLEDGEMENT_STATE_ACKNOWLEDGED",
    )
    assert stack.post_google(push.push_body(push.subscription_notification(token, 4))).status == 200
    wait_until(lambda: (stack.read(user)["entitlements"].get("pro") or {}).get("active"), timeout=5)
    return token, bought


def test_parity_scan_after_a_refund_never_notified_revokes_access(stack, play_api):
    # GIVEN a Play subscriber, whose refund Google never notified (the RTDN was lost)
    token, bought = play_subscriber(stack, play_api, "u_scan_refund")
    play_api.add_voided(token, int(time.time() * 1000) - 60_000, orderId=bought["latestOrderId"])
    assert stack.read("u_scan_refund")["entitlements"]["pro"]["active"] is True

    # WHEN an operator runs the drift scan and waits for its report
    done = parity_cli(stack, "scan", "--wait", "--timeout", "30", "--json")

    # THEN access is revoked, and the report says a refund went unnoticed and was repaired
    report = json.loads(done.stdout)
    assert report["counts"]["refunded_unnoticed"] == 1 and report["counts"]["repaired"] >= 1
    pro = stack.read("u_scan_refund")["entitlements"]["pro"]
    assert (pro["active"], pro["state"]) == (False, "revoked")
    # AND the report is listed by `parity reports`
    listed = json.loads(parity_cli(stack, "reports", "--json").stdout)["reports"]
    assert listed[0]["reportId"] == report["reportId"]


def test_parity_reconcile_checks_a_purchase_now_and_prints_what_changed(stack, play_api):
    # GIVEN a subscriber whose subscription Google shows canceled and expired, without a notification
    token, _ = play_subscriber(stack, play_api, "u_reconcile")
    play_api.add_subscription(
        token,
        subscriptionState="SUBSCRIPTION_STATE_EXPIRED",
        acknowledgementState="ACKNOWLEDGEMENT_STATE_ACKNOWLEDGED",
        externalAccountIdentifiers={"obfuscatedExternalAccountId": stack.read("u_reconcile")["appAccountToken"]},
    )

    # WHEN an operator reconciles that user now
    done = parity_cli(stack, "reconcile", "--user", "u_reconcile")

    # THEN the change is printed and applied
    assert f"play_store:{token}: " in done.stdout and "state active → expired" in done.stdout
    assert stack.read("u_reconcile")["entitlements"]["pro"]["active"] is False


def test_parity_replay_rebuilds_a_users_state_from_the_log_as_stored(stack, play_api):
    # GIVEN a Play subscriber (notified, fetched, applied) and a refund caught up by a scan
    token, bought = play_subscriber(stack, play_api, "u_replay")
    play_api.add_voided(token, int(time.time() * 1000) - 60_000, orderId=bought["latestOrderId"])
    parity_cli(stack, "scan", "--wait", "--timeout", "30", "--json")

    # WHEN an operator replays the user from the event log (with the stack's own catalog)
    replayed = json.loads(parity_cli(stack, "replay", "--user", "u_replay", "--json").stdout)

    # THEN the purchase is rebuilt from its steps and nothing differs; the person's view says so too
    assert replayed["consistent"] is True and replayed["purchases"] == 1 and replayed["steps"] >= 2, replayed
    assert "the stored state is what the log rebuilds" in parity_cli(stack, "replay", "--user", "u_replay").stdout
