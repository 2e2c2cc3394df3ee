"""Manual grants, the review flag and account erasure against the local stack, over HTTP only: the
admin routes (`Bearer $ADMIN_TOKEN`), the user's own DELETE, and what the stack publishes."""

from __future__ import annotations

import pytest

from tests.e2e.conftest import stripe_event, wait_until
from tests.e2e.test_stripe_flows import subscribe
from tests.support import stripe as s
from tests.support.stripe import DAY

pytestmark = pytest.mark.e2e


def delete_account(parity, user_id: str, as_user: str | None = None):
    token = parity.idp.token(as_user or user_id)
    return parity.request("DELETE", f"/v1/users/{user_id}", headers={"Authorization": f"Bearer {token}"})


def test_a_grant_gives_access_until_revoked(parity, ids):
    # WHEN an operator grants `pro` to a demo account
    reply = parity.admin("POST", f"/v1/admin/users/{ids.user}/grants", {"entitlement": "pro", "expiresAt": None, "reason": "App Review"})

    # THEN 201 with a manual purchase, which the user reads and the admin view shows
    assert reply.status == 201, reply.raw
    purchase_id = reply.json["purchaseId"]
    assert purchase_id.startswith("manual:") and reply.json["ownership"] == "manual"
    pro = parity.read(ids.user)["entitlements"]["pro"]
    assert (pro["active"], pro["store"], pro["expiresAt"], pro["purchaseId"]) == (True, "manual", None, purchase_id)
    assert [p["store"] for p in parity.admin_report(ids.user)["purchases"]] == ["manual"]
    wait_until(lambda: [c for c in parity.changes(ids.user) if c["new"] and c["new"]["store"] == "manual"])

    # AND revoking it ends access (the id may be percent-encoded)
    ended = parity.admin("DELETE", f"/v1/admin/users/{ids.user}/grants/{purchase_id.replace(':', '%3A')}")
    assert ended.status == 200 and ended.json["state"] == "revoked"
    assert parity.read(ids.user)["entitlements"]["pro"]["active"] is False
    assert [c["action"] for c in parity.admin_report(ids.user)["claims"]][:2] == ["grant_revoked", "granted"]


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        (b"{", 400, "malformed_body"),
        ({"entitlement": "pro", "expiresAt": "soon"}, 400, "invalid_request"),
        ({"entitlement": "unheard_of"}, 422, "unknown_entitlement"),
    ],
)
def test_a_bad_grant_is_refused(parity, ids, body, status, code):
    reply = parity.admin("POST", f"/v1/admin/users/{ids.user}/grants", body)
    assert (reply.status, reply.json["error"]["code"]) == (status, code)


def test_clearing_the_review_flag_is_an_admin_action(parity, ids):
    assert parity.admin("DELETE", f"/v1/admin/users/{ids.user}/flags/refund-abuse").status == 404
    parity.read(ids.user)
    reply = parity.admin("DELETE", f"/v1/admin/users/{ids.user}/flags/refund-abuse", {"reason": "checked"})
    assert reply.status == 200 and reply.json["refundAbuse"]["flagged"] is False


def test_a_user_erases_their_account_and_signing_up_again_brings_back_running_stripe_subscriptions(parity, ids, t0):
    # GIVEN a Stripe subscriber (linked by metadata.user_id) with a grant too
    subscribe(parity, ids, t0, int(t0) + 30 * DAY)
    token = parity.read(ids.user)["appAccountToken"]
    parity.admin("POST", f"/v1/admin/users/{ids.user}/grants", {"entitlement": "lifetime"})

    # WHEN another user tries to erase it, then the user does (twice)
    assert delete_account(parity, ids.user, as_user="u_intruder").status == 403
    assert parity.read(ids.user)["entitlements"]["pro"]["active"] is True
    assert delete_account(parity, ids.user).status == 204
    assert delete_account(parity, ids.user).status == 204

    # THEN the account is gone: a read starts a new, empty one with another token
    fresh = parity.read(ids.user)
    assert fresh["entitlements"] == {} and fresh["purchases"] == [] and fresh["appAccountToken"] != token
    assert wait_until(lambda: parity.bus_events("user.erased", ids.user))

    # AND the subscription, still naming the user id, attaches to the account again on its next event
    renewed = s.subscription(ids.sub, "active", int(t0) + 60 * DAY, customer=ids.customer, user_id=ids.user)
    parity.deliver(stripe_event("customer.subscription.updated", renewed, t0 + 100))
    assert parity.read(ids.user)["entitlements"]["pro"]["active"] is True


def test_an_operator_erases_an_account(parity, ids):
    parity.admin("POST", f"/v1/admin/users/{ids.user}/grants", {"entitlement": "pro"})
    assert parity.admin("DELETE", f"/v1/admin/users/{ids.user}").status == 204
    assert parity.admin("GET", f"/v1/admin/users/{ids.user}").status == 404
    assert parity.read(ids.user)["entitlements"] == {}
