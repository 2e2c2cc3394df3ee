"""Access control over HTTP on the session's stack: the admin routes' token (IAM's local stand-in),
what `test_http_rules` leaves out of the app routes' JWT check (`alg: none`, the receipts route), and
that nothing sensitive reaches the stack's log."""

from __future__ import annotations

import base64
import json
import time
import uuid

import pytest

from tests.e2e.conftest import ADMIN_TOKEN, APPLE_MONTHLY, AUDIENCE, ISSUER, stripe_event, wait_until
from tests.support import apple
from tests.support import stripe as s

pytestmark = pytest.mark.e2e

MINUTE = 60_000


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unsigned_jwt(sub: str, header: dict | None = None) -> str:
    """A JWT built by hand with `alg: none`: header.payload. and an empty signature; its claims are
    otherwise what the stack accepts (issuer, audience, a future exp)."""
    now = int(time.time())
    claims = {"sub": sub, "iss": ISSUER, "aud": AUDIENCE, "iat": now, "exp": now + 600}
    header = header or {"alg": "none", "typ": "JWT"}
    return f"{b64url(json.dumps(header).encode())}.{b64url(json.dumps(claims).encode())}."


def storekit_jws(signer: apple.AppleSigner) -> tuple[str, str]:
    """A StoreKit 2 signed transaction bought a minute ago (no appAccountToken): (its purchase id, JWS)."""
    now = apple.now_ms() // 1000 * 1000
    original = str(3_000_000_000_000_000 + uuid.uuid4().int % 10**15)
    transaction = signer.transaction(
        transactionId=original,
        originalTransactionId=original,
        productId=APPLE_MONTHLY,
        purchaseDate=now - MINUTE,
        originalPurchaseDate=now - MINUTE,
        expiresDate=now + 30 * apple.DAY_MS,
        signedDate=now - MINUTE,
        appAccountToken=None,
    )
    return f"app_store:{original}", signer.sign(transaction)


# ---------------------------------------------------------------------------------- admin routes


def admin_calls(user_id: str) -> list[tuple[str, str, dict | None]]:
    return [
        ("GET", f"/v1/admin/users/{user_id}", None),
        ("POST", f"/v1/admin/users/{user_id}/merge", {"fromUserId": f"{user_id}_other"}),
        ("PUT", "/v1/admin/purchases/app_store:2000000000000001/owner", {"userId": user_id}),
    ]


@pytest.mark.parametrize(
    "credentials",
    [
        pytest.param(lambda idp, user: None, id="no-token"),
        pytest.param(lambda idp, user: "not-the-admin-token", id="wrong-token"),
        pytest.param(lambda idp, user: ADMIN_TOKEN[:-1], id="token-prefix"),
        pytest.param(lambda idp, user: ADMIN_TOKEN + "x", id="token-longer"),
        pytest.param(lambda idp, user: ADMIN_TOKEN.upper(), id="token-other-case"),
        pytest.param(lambda idp, user: idp.token(user), id="a-users-jwt"),
        pytest.param(lambda idp, user: idp.token("admin", roles=["admin"], scope="admin"), id="a-jwt-claiming-admin"),
    ],
)
def test_admin_routes_refuse_anything_but_the_admin_token(parity, ids, idp, credentials):
    token = credentials(idp, ids.user)
    for method, path, body in admin_calls(ids.user):
        reply = parity.admin(method, path, body, token=token)
        reply.assert_error(401, "unauthorized")
        assert ADMIN_TOKEN.encode() not in reply.raw


def test_admin_routes_refuse_other_schemes_carrying_the_admin_token(parity, ids):
    for header in (f"Basic {ADMIN_TOKEN}", f"Token {ADMIN_TOKEN}", "Bearer ", "Bearer"):
        reply = parity.request("GET", f"/v1/admin/users/{ids.user}", headers={"Authorization": header})
        reply.assert_error(401, "unauthorized")


def test_admin_routes_answer_with_the_admin_token(parity, ids):
    # an unknown user is the route's own answer (404), not the authorizer's
    parity.admin("GET", f"/v1/admin/users/{ids.user}").assert_error(404, "user_not_found")
    parity.read(ids.user)
    reply = parity.admin("GET", f"/v1/admin/users/{ids.user}")
    assert reply.status == 200, reply.raw
    assert reply.json["userId"] == ids.user


def test_a_refused_admin_call_changes_nothing(parity, ids, idp, apple_signer):
    purchase_id, jws = storekit_jws(apple_signer)
    assert parity.submit_receipt(ids.user, {"store": "app_store", "signedTransaction": jws}).status == 200
    intruder = f"{ids.user}_intruder"

    for token in (None, "wrong", idp.token(intruder)):
        parity.admin(
            "PUT", f"/v1/admin/purchases/{purchase_id}/owner", {"userId": intruder}, token=token
        ).assert_error(401, "unauthorized")
        parity.admin(
            "POST", f"/v1/admin/users/{intruder}/merge", {"fromUserId": ids.user}, token=token
        ).assert_error(401, "unauthorized")

    body = parity.read(ids.user)
    assert (body["userId"], [p["purchaseId"] for p in body["purchases"]]) == (ids.user, [purchase_id])
    assert body["entitlements"]["pro"]["active"] is True
    assert parity.read(intruder)["purchases"] == []
    report = parity.admin_report(ids.user)
    assert report["aliases"] == [] and all(c["action"] == "claimed" for c in report["claims"])


def test_the_admin_token_is_not_a_user_token(parity, ids):
    parity.entitlements(ids.user, token=ADMIN_TOKEN).assert_error(401, "unauthorized")
    receipt = {"store": "app_store", "transactionId": "2000000000000001"}
    parity.submit_receipt(ids.user, receipt, token=ADMIN_TOKEN).assert_error(401, "unauthorized")


# ------------------------------------------------------------------------------------ app routes

UNSIGNED = [
    pytest.param(lambda idp, user: unsigned_jwt(user), id="alg-none"),
    pytest.param(
        lambda idp, user: unsigned_jwt(user, {"alg": "none", "typ": "JWT", "kid": idp.KID}), id="alg-none-known-kid"
    ),
    pytest.param(lambda idp, user: unsigned_jwt(user, {"alg": "None", "typ": "JWT"}), id="alg-None"),
    pytest.param(lambda idp, user: unsigned_jwt(user, {"alg": "NONE", "typ": "JWT"}), id="alg-NONE"),
    pytest.param(
        lambda idp, user: unsigned_jwt(user, {"alg": "RS256", "typ": "JWT", "kid": idp.KID}), id="rs256-no-signature"
    ),
    pytest.param(
        lambda idp, user: idp.token(user).rsplit(".", 1)[0] + ".", id="real-token-signature-stripped"
    ),
    pytest.param(
        lambda idp, user: ".".join(
            [unsigned_jwt(user).split(".")[0], idp.token(user).split(".")[1], idp.token(user).split(".")[2]]
        ),
        id="real-token-header-swapped-to-none",
    ),
]


@pytest.mark.parametrize("forge", UNSIGNED)
def test_an_unsigned_token_is_refused_on_the_entitlements_route(parity, ids, idp, forge):
    reply = parity.entitlements(ids.user, token=forge(idp, ids.user))

    reply.assert_error(401, "unauthorized")


@pytest.mark.parametrize("forge", UNSIGNED)
def test_an_unsigned_token_is_refused_on_the_receipts_route_and_claims_nothing(parity, ids, idp, apple_signer, forge):
    purchase_id, jws = storekit_jws(apple_signer)

    receipt = {"store": "app_store", "signedTransaction": jws}
    reply = parity.submit_receipt(ids.user, receipt, token=forge(idp, ids.user))

    reply.assert_error(401, "unauthorized")
    assert parity.read(ids.user)["purchases"] == []
    # the purchase was not stored for anyone: the rightful buyer's claim is a first claim
    assert parity.submit_receipt(f"{ids.user}_buyer", {"store": "app_store", "signedTransaction": jws}).status == 200
    claims = parity.admin_report(f"{ids.user}_buyer")["claims"]
    assert [(c["action"], c["otherUserIds"]) for c in claims if c["purchaseId"] == purchase_id] == [("claimed", [])]


@pytest.mark.parametrize(
    "forge",
    [
        pytest.param(lambda idp, user: None, id="no-token"),
        pytest.param(lambda idp, user: idp.token(user, exp=int(time.time()) - 60), id="expired"),
        pytest.param(lambda idp, user: idp.token(user, iss="https://evil.example/"), id="wrong-issuer"),
        pytest.param(lambda idp, user: idp.token(user, aud="another-api"), id="wrong-audience"),
        pytest.param(lambda idp, user: idp.token(user, kid="unknown-kid"), id="unknown-kid"),
    ],
)
def test_the_receipts_route_checks_the_token_like_the_entitlements_route(parity, ids, idp, apple_signer, forge):
    """test_http_rules checks these on the entitlements route; the receipts route is another function
    behind the same authorizer, and it writes."""
    _, jws = storekit_jws(apple_signer)

    receipt = {"store": "app_store", "signedTransaction": jws}
    reply = parity.submit_receipt(ids.user, receipt, token=forge(idp, ids.user))

    reply.assert_error(401, "unauthorized")
    assert parity.read(ids.user)["purchases"] == []


def test_another_users_id_is_forbidden_and_reveals_nothing(parity, ids, idp, apple_signer):
    # GIVEN a victim with a purchase
    purchase_id, jws = storekit_jws(apple_signer)
    victim = ids.user
    assert parity.submit_receipt(victim, {"store": "app_store", "signedTransaction": jws}).status == 200
    victim_token = parity.read(victim)["appAccountToken"]
    attacker = f"{ids.user}_attacker"
    attacker_jwt = idp.token(attacker)

    # WHEN the attacker reads the victim's entitlements or submits a receipt as the victim
    read = parity.entitlements(victim, token=attacker_jwt)
    _, other_jws = storekit_jws(apple_signer)
    receipt = {"store": "app_store", "signedTransaction": other_jws}
    submitted = parity.submit_receipt(victim, receipt, token=attacker_jwt)

    # THEN 403 in the error shape, without the victim's data; nothing was claimed for anyone
    for reply in (read, submitted):
        reply.assert_error(403)
        assert victim_token not in reply.raw.decode() and purchase_id not in reply.raw.decode()
    assert [p["purchaseId"] for p in parity.read(victim)["purchases"]] == [purchase_id]
    assert parity.read(attacker)["purchases"] == []


# ----------------------------------------------------------------------------- nothing sensitive


def test_nothing_sensitive_reaches_the_log(parity, ids, idp, apple_signer, t0):
    """A Stripe webhook with a customer email, an App Store notification, receipts with a user JWT, the
    admin routes: none of their secrets appear in what the stack writes (stdout and stderr)."""
    email = f"private-{uuid.uuid4().hex[:10]}@example.com"
    secrets: dict[str, str] = {"admin token": ADMIN_TOKEN, "email": email}

    # Stripe: a customer with an email, a subscription; a bad signature too
    customer = stripe_event("customer.created", s.customer(ids.customer, email, ids.user), t0)
    body = s.encode(customer)
    signature = s.sign(body)
    reply = parity.post_stripe(body=body, signature=signature)
    assert reply.status == 200, reply.raw
    parity.wait_processed(customer["id"])
    secrets["Stripe-Signature"] = signature
    secrets["Stripe signature digest"] = signature.split("v1=")[1]
    forged = s.sign(body, secret="whsec_not_ours")
    parity.post_stripe(body=body, signature=forged).assert_error(400)
    secrets["forged Stripe-Signature digest"] = forged.split("v1=")[1]
    updated = stripe_event("customer.updated", s.customer(ids.customer, f"new-{email}", ids.user), t0 + 1)
    parity.deliver(updated)
    secrets["changed email"] = f"new-{email}"
    subscription = s.subscription(ids.sub, customer=ids.customer, user_id=ids.user)
    parity.deliver(stripe_event("customer.subscription.created", subscription, t0 + 2))

    # App Store: a notification carrying the user's appAccountToken
    token = parity.read(ids.user)["appAccountToken"]
    now = apple.now_ms() // 1000 * 1000
    original = str(3_000_000_000_000_000 + uuid.uuid4().int % 10**15)
    transaction = apple_signer.transaction(
        transactionId=original,
        originalTransactionId=original,
        productId=APPLE_MONTHLY,
        purchaseDate=now - MINUTE,
        originalPurchaseDate=now - MINUTE,
        expiresDate=now + 30 * apple.DAY_MS,
        signedDate=now - MINUTE,
        appAccountToken=token,
    )
    notification = apple_signer.notification(
        "SUBSCRIBED", "INITIAL_BUY", transaction=transaction, data={"status": 1}, signedDate=now - MINUTE
    )
    signed_payload = apple_signer.sign(notification)
    reply = parity.post_apple(json.dumps({"signedPayload": signed_payload}).encode())
    assert reply.status == 200, reply.raw
    parity.wait_processed(notification["notificationUUID"], "app_store")
    secrets["signedPayload"] = signed_payload
    secrets["signedPayload signature"] = signed_payload.rsplit(".", 1)[1]
    signed_transaction = json.loads(base64.urlsafe_b64decode(signed_payload.split(".")[1] + "=="))["data"][
        "signedTransactionInfo"
    ]
    secrets["signedTransactionInfo"] = signed_transaction

    # Receipts with a user JWT: accepted, refused (another user's), and with a forged JWS
    user_jwt = idp.token(ids.user)
    _, jws = storekit_jws(apple_signer)
    receipt = {"store": "app_store", "signedTransaction": jws}
    assert parity.submit_receipt(ids.user, receipt, token=user_jwt).status == 200
    other_jwt = idp.token(f"{ids.user}_other")
    parity.submit_receipt(ids.user, receipt, token=other_jwt).assert_error(403)
    expired_jwt = idp.token(ids.user, exp=int(time.time()) - 60)
    parity.entitlements(ids.user, token=expired_jwt).assert_error(401)
    forged_jws = apple.tamper_payload(jws, signedDate=1)
    parity.submit_receipt(ids.user, {"store": "app_store", "signedTransaction": forged_jws}).assert_error(400)
    secrets.update(
        {
            "user JWT": user_jwt,
            "user JWT signature": user_jwt.rsplit(".", 1)[1],
            "another user's JWT": other_jwt,
            "expired JWT": expired_jwt,
            "receipt JWS": jws,
            "receipt JWS signature": jws.rsplit(".", 1)[1],
            "forged JWS": forged_jws,
        }
    )

    # Admin routes: with the right token, and with a wrong one
    assert parity.admin("GET", f"/v1/admin/users/{ids.user}").status == 200
    wrong_admin = f"wrong-{uuid.uuid4().hex}"
    parity.admin("GET", f"/v1/admin/users/{ids.user}", token=wrong_admin).assert_error(401)
    secrets["wrong admin token"] = wrong_admin

    # The log has caught up with this flow (the processor logged the notification, the server the calls)
    def processed_logged() -> bool:
        lines = parity.log_text().splitlines()
        return any("event processed" in line and notification["notificationUUID"] in line for line in lines)

    wait_until(processed_logged)
    log = parity.log_text()
    assert log, "the stack's log is empty: nothing to check"
    leaked = sorted(name for name, value in secrets.items() if value in log)
    assert leaked == [], f"found in the stack's log: {leaked}"
