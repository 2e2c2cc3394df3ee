"""App Store through the whole stack, over HTTP only: Server Notifications V2 signed at test time by a
chain whose root the stack trusts (APPLE_ROOT_CERTS), POST /webhooks/apple → event log → FIFO queue →
processor → read; and StoreKit 2 signed transactions submitted to POST /v1/users/{userId}/receipts.

Timestamps are Apple's (UNIX milliseconds) and realistic one notification at a time: signedDate
increases through a lifecycle and never lies ahead of the wall clock; an active phase's expiresDate
(and a grace phase's gracePeriodExpiresDate) lies ahead of it, an ended phase's behind its signedDate.
Between notifications Apple's clock runs faster than the test's, as in Sandbox, so that a test reads
every phase right after its notification instead of waiting for a month to pass.
"""

from __future__ import annotations

import json
import time
import uuid

import pytest

from tests.e2e.conftest import APPLE_MONTHLY, wait_until
from tests.support import apple

pytestmark = pytest.mark.e2e

MINUTE = 60_000
DAY = apple.DAY_MS


def rfc3339(millis: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(millis // 1000))


def whole_second(millis: int) -> int:
    """Apple's milliseconds, rounded to the second Parity's RFC 3339 answers can say exactly."""
    return millis - millis % 1000


def pro(parity, user_id: str) -> dict:
    return parity.read(user_id)["entitlements"]["pro"]


def new_original_transaction_id() -> str:
    """A 16-digit id, like Apple's, unique to this test run."""
    return str(3_000_000_000_000_000 + uuid.uuid4().int % 10**15)


class Subscription:
    """One auto-renewable subscription of one user, as Apple notifies it (decoded, signed on delivery)."""

    def __init__(self, signer: apple.AppleSigner, token: str | None, started: int) -> None:
        self.signer = signer
        self.token = token
        self.started = started
        self.original = new_original_transaction_id()
        self.purchase_id = f"app_store:{self.original}"

    def transaction(self, transaction_id: str, *, purchased: int, expires: int, signed: int, **fields) -> dict:
        return self.signer.transaction(
            transactionId=transaction_id,
            originalTransactionId=self.original,
            productId=APPLE_MONTHLY,
            purchaseDate=purchased,
            originalPurchaseDate=self.started,
            expiresDate=expires,
            signedDate=signed,
            appAccountToken=self.token,
            transactionReason="PURCHASE" if transaction_id == self.original else "RENEWAL",
            **fields,
        )

    def renewal_info(self, *, signed: int, renews: int | None, **fields) -> dict:
        info = self.signer.renewal_info(
            originalTransactionId=self.original,
            productId=APPLE_MONTHLY,
            autoRenewProductId=APPLE_MONTHLY,
            signedDate=signed,
            recentSubscriptionStartDate=self.started,
            renewalDate=renews,
            appAccountToken=self.token,
            **fields,
        )
        return {name: value for name, value in info.items() if value is not None}

    def notification(
        self, notification_type: str, subtype: str | None, transaction: dict, renewal: dict, status: int
    ) -> dict:
        """A decoded ResponseBodyV2 signed when its transaction and renewal info were (data.status: Apple's
        summary: 1 active, 2 expired, 3 billing retry, 4 grace period, 5 revoked)."""
        return self.signer.notification(
            notification_type,
            subtype,
            transaction=transaction,
            renewal_info=renewal,
            data={"status": status},
            signedDate=max(transaction["signedDate"], renewal["signedDate"]),
        )


def published(parity, user_id: str) -> list[str]:
    """The causes of the entitlement.changed events published for this user, oldest first."""
    return [change["cause"] for change in parity.changes(user_id)]


# ------------------------------------------------------------------------------------------ lifecycle


def test_a_subscription_lifecycle_signed_by_apple_drives_the_users_entitlement(parity, ids, apple_signer):
    # GIVEN a user whose appAccountToken the app passed to StoreKit
    before = parity.read(ids.user)
    token = before["appAccountToken"]
    assert str(uuid.UUID(token)) == token and before["entitlements"] == {}
    now = whole_second(apple.now_ms())
    start = now - 60 * MINUTE  # every notification is signed within the last hour, in order
    sub = Subscription(apple_signer, token, start)
    delivered: list[str] = []

    def deliver(notification: dict) -> dict:
        outcome = parity.deliver_apple(notification, apple_signer)
        assert outcome["outcome"] == "applied", outcome
        assert outcome["eventType"] == ":".join(
            filter(None, (notification["notificationType"], notification.get("subtype")))
        )
        delivered.append(f"app_store:{notification['notificationUUID']}")
        return parity.read(ids.user)

    # SUBSCRIBED/INITIAL_BUY → active, with no call from the app
    s1, first_end = start, now + 7 * DAY
    body = deliver(
        sub.notification(
            "SUBSCRIBED",
            "INITIAL_BUY",
            sub.transaction(sub.original, purchased=s1, expires=first_end, signed=s1),
            sub.renewal_info(signed=s1, renews=first_end),
            status=1,
        )
    )
    assert body["entitlements"]["pro"] == {
        "active": True,
        "state": "active",
        "expiresAt": rfc3339(first_end),
        "gracePeriodExpiresAt": None,
        "willRenew": True,
        "store": "app_store",
        "productId": APPLE_MONTHLY,
        "purchaseId": sub.purchase_id,
        "environment": "sandbox",  # the session's stack is a Sandbox one
    }
    assert body["purchases"] == [
        {
            "purchaseId": sub.purchase_id,
            "store": "app_store",
            "productId": APPLE_MONTHLY,
            "state": "active",
            "expiresAt": rfc3339(first_end),
            "entitlements": ["pro"],
            "ownership": "owner",
            "environment": "sandbox",
            "app": apple_signer.bundle_id,
        }
    ]

    # DID_RENEW → a new transaction, a later expiresAt
    s2, second_end = start + 5 * MINUTE, first_end + 30 * DAY
    renewed_tx = new_original_transaction_id()
    entitlement = deliver(
        sub.notification(
            "DID_RENEW",
            None,
            sub.transaction(renewed_tx, purchased=s2, expires=second_end, signed=s2),
            sub.renewal_info(signed=s2, renews=second_end),
            status=1,
        )
    )["entitlements"]["pro"]
    assert (entitlement["active"], entitlement["state"]) == (True, "active")
    assert entitlement["expiresAt"] == rfc3339(second_end) > rfc3339(first_end)

    # DID_FAIL_TO_RENEW/GRACE_PERIOD: the period ended, the renewal failed, Apple grants a grace period
    s3 = start + 10 * MINUTE
    lapsed_at = s3 - MINUTE
    grace_end = now + 10 * MINUTE  # within OFFLINE_GRACE_SECONDS, so it bounds cacheUntil
    body = deliver(
        sub.notification(
            "DID_FAIL_TO_RENEW",
            "GRACE_PERIOD",
            sub.transaction(renewed_tx, purchased=s2, expires=lapsed_at, signed=s3),
            sub.renewal_info(
                signed=s3,
                renews=lapsed_at,
                isInBillingRetryPeriod=True,
                gracePeriodExpiresDate=grace_end,
                expirationIntent=2,
            ),
            status=4,
        )
    )
    entitlement = body["entitlements"]["pro"]
    assert (entitlement["active"], entitlement["state"]) == (True, "grace_period")
    assert entitlement["gracePeriodExpiresAt"] == rfc3339(grace_end)
    assert entitlement["expiresAt"] == rfc3339(lapsed_at)
    assert entitlement["willRenew"] is True
    assert body["cacheUntil"] <= entitlement["gracePeriodExpiresAt"]
    assert body["cacheUntil"] == rfc3339(grace_end)  # the next change of access, not requestDate + 1 h

    # GRACE_PERIOD_EXPIRED → billing_retry, no access
    s4 = start + 15 * MINUTE
    body = deliver(
        sub.notification(
            "GRACE_PERIOD_EXPIRED",
            None,
            sub.transaction(renewed_tx, purchased=s2, expires=lapsed_at, signed=s4),
            sub.renewal_info(
                signed=s4,
                renews=lapsed_at,
                isInBillingRetryPeriod=True,
                gracePeriodExpiresDate=s4 - MINUTE,
                expirationIntent=2,
            ),
            status=3,
        )
    )
    entitlement = body["entitlements"]["pro"]
    assert (entitlement["active"], entitlement["state"]) == (False, "billing_retry")
    assert entitlement["purchaseId"] == sub.purchase_id
    assert body["cacheUntil"] > rfc3339(grace_end)  # an inactive entitlement does not shorten it

    # DID_RENEW/BILLING_RECOVERY → a new transaction, active again
    s5, recovered_end = start + 20 * MINUTE, now + 30 * DAY
    recovered_tx = new_original_transaction_id()
    recovered = sub.transaction(recovered_tx, purchased=s5, expires=recovered_end, signed=s5)
    entitlement = deliver(
        sub.notification(
            "DID_RENEW", "BILLING_RECOVERY", recovered, sub.renewal_info(signed=s5, renews=recovered_end), status=1
        )
    )["entitlements"]["pro"]
    assert (entitlement["active"], entitlement["state"]) == (True, "active")
    assert entitlement["expiresAt"] == rfc3339(recovered_end)
    assert entitlement["gracePeriodExpiresAt"] is None

    # REFUND of that transaction (revocationDate) → revoked
    s6 = start + 25 * MINUTE
    refunded = {**recovered, "signedDate": s6, "revocationDate": s6 - MINUTE, "revocationReason": 1}
    entitlement = deliver(
        sub.notification("REFUND", None, refunded, sub.renewal_info(signed=s6, renews=recovered_end), status=5)
    )["entitlements"]["pro"]
    assert (entitlement["active"], entitlement["state"]) == (False, "revoked")
    assert entitlement["purchaseId"] == sub.purchase_id

    # REFUND_REVERSED → active again, until the same period end
    s7 = start + 30 * MINUTE
    reinstated = {**recovered, "signedDate": s7}
    entitlement = deliver(
        sub.notification(
            "REFUND_REVERSED", None, reinstated, sub.renewal_info(signed=s7, renews=recovered_end), status=1
        )
    )["entitlements"]["pro"]
    assert (entitlement["active"], entitlement["state"]) == (True, "active")
    assert entitlement["expiresAt"] == rfc3339(recovered_end)

    # EXPIRED/VOLUNTARY: the user turned auto-renew off and the period ended → expired
    s8 = start + 35 * MINUTE
    ended_at = s8 - MINUTE
    body = deliver(
        sub.notification(
            "EXPIRED",
            "VOLUNTARY",
            sub.transaction(recovered_tx, purchased=s5, expires=ended_at, signed=s8),
            sub.renewal_info(signed=s8, renews=None, autoRenewStatus=0, expirationIntent=1),
            status=2,
        )
    )
    entitlement = body["entitlements"]["pro"]
    assert (entitlement["active"], entitlement["state"], entitlement["willRenew"]) == (False, "expired", False)
    assert entitlement["expiresAt"] == rfc3339(ended_at)
    assert [(p["purchaseId"], p["state"]) for p in body["purchases"]] == [(sub.purchase_id, "expired")]

    # Every notification changed the entitlement once, and each change was published, in order.
    wait_until(lambda: published(parity, ids.user) == delivered)


# ---------------------------------------------------------------------------------- delivery rules


def test_a_notification_delivered_twice_is_stored_and_processed_once(parity, ids, apple_signer):
    token = parity.read(ids.user)["appAccountToken"]
    now = whole_second(apple.now_ms())
    sub = Subscription(apple_signer, token, now - 10 * MINUTE)
    notification = sub.notification(
        "SUBSCRIBED",
        "INITIAL_BUY",
        sub.transaction(sub.original, purchased=sub.started, expires=now + 30 * DAY, signed=sub.started),
        sub.renewal_info(signed=sub.started, renews=now + 30 * DAY),
        status=1,
    )
    body = json.dumps({"signedPayload": apple_signer.sign(notification)}).encode()
    uuid_ = notification["notificationUUID"]

    # WHEN Apple retries the same notification (same notificationUUID) before and after processing
    first, second = parity.post_apple(body), parity.post_apple(body)
    assert (first.status, second.status) == (200, 200)
    assert (first.json["duplicate"], second.json["duplicate"]) == (False, True)
    assert parity.wait_processed(uuid_, "app_store")["outcome"] == "applied"
    again = parity.post_apple(body)
    assert again.status == 200 and again.json["duplicate"] is True

    # THEN it was processed once: a later notification of the same purchase (same FIFO group) fences
    # any duplicate, and only one change names the retried notification as its cause.
    s2 = sub.started + MINUTE
    parity.deliver_apple(
        sub.notification(
            "DID_CHANGE_RENEWAL_STATUS",
            "AUTO_RENEW_DISABLED",
            sub.transaction(sub.original, purchased=sub.started, expires=now + 30 * DAY, signed=s2),
            sub.renewal_info(signed=s2, renews=now + 30 * DAY, autoRenewStatus=0),
            status=1,
        ),
        apple_signer,
    )
    entitlement = pro(parity, ids.user)
    assert (entitlement["active"], entitlement["willRenew"]) == (True, False)
    causes = wait_until(lambda: len(published(parity, ids.user)) >= 2 and published(parity, ids.user))
    assert causes.count(f"app_store:{uuid_}") == 1


def test_a_refund_delivered_before_the_renewal_it_refunds_stays_revoked(parity, ids, apple_signer):
    token = parity.read(ids.user)["appAccountToken"]
    now = whole_second(apple.now_ms())
    sub = Subscription(apple_signer, token, now - 30 * MINUTE)
    s1, s2, s3 = sub.started, sub.started + 5 * MINUTE, sub.started + 10 * MINUTE
    parity.deliver_apple(
        sub.notification(
            "SUBSCRIBED",
            "INITIAL_BUY",
            sub.transaction(sub.original, purchased=s1, expires=now + DAY, signed=s1),
            sub.renewal_info(signed=s1, renews=now + DAY),
            status=1,
        ),
        apple_signer,
    )
    renewal_tx, renewed_end = new_original_transaction_id(), now + 31 * DAY
    renewal = sub.transaction(renewal_tx, purchased=s2, expires=renewed_end, signed=s2)
    did_renew = sub.notification("DID_RENEW", None, renewal, sub.renewal_info(signed=s2, renews=renewed_end), status=1)
    refund = sub.notification(
        "REFUND",
        None,
        {**renewal, "signedDate": s3, "revocationDate": s3 - MINUTE, "revocationReason": 0},
        sub.renewal_info(signed=s3, renews=renewed_end),
        status=5,
    )

    # WHEN the refund of the renewal arrives first, and the renewal itself late
    assert parity.deliver_apple(refund, apple_signer)["outcome"] == "applied"
    entitlement = pro(parity, ids.user)
    assert (entitlement["active"], entitlement["state"]) == (False, "revoked")
    assert parity.deliver_apple(did_renew, apple_signer)["outcome"] in ("stale", "applied")

    # THEN the late renewal does not reinstate the refunded period
    entitlement = pro(parity, ids.user)
    assert (entitlement["active"], entitlement["state"]) == (False, "revoked")
    assert entitlement["purchaseId"] == sub.purchase_id

    # ... while a later paid period does
    s4, next_end = sub.started + 15 * MINUTE, renewed_end + 30 * DAY
    parity.deliver_apple(
        sub.notification(
            "DID_RENEW",
            None,
            sub.transaction(new_original_transaction_id(), purchased=s4, expires=next_end, signed=s4),
            sub.renewal_info(signed=s4, renews=next_end),
            status=1,
        ),
        apple_signer,
    )
    entitlement = pro(parity, ids.user)
    assert (entitlement["active"], entitlement["state"], entitlement["expiresAt"]) == (
        True,
        "active",
        rfc3339(next_end),
    )


# ------------------------------------------------------------------------------------------ refusals


def _subscribed(signer: apple.AppleSigner, token: str) -> dict:
    now = whole_second(apple.now_ms())
    sub = Subscription(signer, token, now - MINUTE)
    return sub.notification(
        "SUBSCRIBED",
        "INITIAL_BUY",
        sub.transaction(sub.original, purchased=sub.started, expires=now + 30 * DAY, signed=sub.started),
        sub.renewal_info(signed=sub.started, renews=now + 30 * DAY),
        status=1,
    )


def _payload(token: str) -> bytes:
    return json.dumps({"signedPayload": token}).encode()


@pytest.mark.parametrize(
    ("forge", "code"),
    [
        pytest.param(lambda s, n: _payload(s.with_(chain=apple.make_chain()).sign(n)), None, id="another-root"),
        pytest.param(
            lambda s, n: _payload(
                s.with_(bundle_id="com.example.other").sign(
                    {**n, "data": {**n["data"], "bundleId": "com.example.other"}}
                )
            ),
            "wrong_bundle_id",
            id="another-bundle",
        ),
        pytest.param(
            lambda s, n: _payload(s.sign({**n, "data": {**n["data"], "environment": "Production"}})),
            None,
            id="another-environment",
        ),
        pytest.param(
            lambda s, n: _payload(s.with_(chain=apple.make_chain(root=s.chain, leaf_oid=False)).sign(n)),
            None,
            id="leaf-without-apple-oid",
        ),
        pytest.param(
            lambda s, n: _payload(apple.tamper_payload(s.sign(n), signedDate=n["signedDate"] + 1)), None, id="tampered"
        ),
        pytest.param(lambda s, n: _payload(apple.forge_alg_none(n, s.chain)), None, id="alg-none"),
        pytest.param(lambda s, n: _payload(apple.forge_hs256(n, s.chain)), None, id="hs256"),
    ],
)
def test_an_unverifiable_notification_is_refused_and_nothing_is_stored(parity, ids, apple_signer, forge, code):
    token = parity.read(ids.user)["appAccountToken"]
    notification = _subscribed(apple_signer, token)

    reply = parity.post_apple(forge(apple_signer, notification))

    reply.assert_error(400, code)
    parity.stored_event(notification["notificationUUID"], "app_store").assert_error(404, "not_found")
    assert parity.read(ids.user)["entitlements"] == {}


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(b"this is not json", id="not-json"),
        pytest.param(b'{"signedPayload": 42}', id="payload-not-a-string"),
        pytest.param(b"{}", id="no-signed-payload"),
        pytest.param(_payload("not.a.jws"), id="not-a-jws"),
    ],
)
def test_a_malformed_body_is_refused_with_400(parity, body):
    parity.post_apple(body).assert_error(400)


def test_a_test_notification_is_acknowledged_and_not_applied(parity, apple_signer):
    notification = apple_signer.notification("TEST", None)

    reply = parity.post_apple(_payload(apple_signer.sign(notification)))

    assert reply.status == 200, reply.raw
    parity.stored_event(notification["notificationUUID"], "app_store").assert_error(404, "not_found")


# ------------------------------------------------------------------------------------------ receipts


def _storekit_transaction(signer: apple.AppleSigner, token: str | None = None) -> tuple[dict, str]:
    """A StoreKit 2 transaction of a subscription bought a minute ago, running for a month; its JWS."""
    now = whole_second(apple.now_ms())
    original = new_original_transaction_id()
    transaction = signer.transaction(
        transactionId=original,
        originalTransactionId=original,
        productId=APPLE_MONTHLY,
        purchaseDate=now - MINUTE,
        originalPurchaseDate=now - MINUTE,
        expiresDate=now + 30 * DAY,
        signedDate=now,
        appAccountToken=token,
    )
    return transaction, signer.sign(transaction)


def test_a_signed_transaction_is_claimed_and_the_answer_already_grants_it(parity, ids, apple_signer):
    transaction, jws = _storekit_transaction(apple_signer, token=None)  # no appAccountToken: the call claims it

    reply = parity.submit_receipt(ids.user, {"store": "app_store", "signedTransaction": jws})

    assert reply.status == 200, reply.raw
    body = reply.json
    assert body["userId"] == ids.user
    assert body["entitlements"]["pro"] == {
        "active": True,
        "state": "active",
        "expiresAt": rfc3339(transaction["expiresDate"]),
        "gracePeriodExpiresAt": None,
        "willRenew": False,  # a lone transaction says nothing of auto-renewal (no API configured)
        "store": "app_store",
        "productId": APPLE_MONTHLY,
        "purchaseId": f"app_store:{transaction['originalTransactionId']}",
        "environment": "sandbox",
    }
    assert [(p["purchaseId"], p["ownership"]) for p in body["purchases"]] == [
        (f"app_store:{transaction['originalTransactionId']}", "owner")
    ]
    assert parity.read(ids.user)["entitlements"] == body["entitlements"]


def test_a_receipt_is_submitted_only_by_its_own_user(parity, ids, idp, apple_signer):
    _, jws = _storekit_transaction(apple_signer)

    reply = parity.submit_receipt(
        ids.user, {"store": "app_store", "signedTransaction": jws}, token=idp.token("u_other")
    )

    reply.assert_error(403)
    assert parity.read(ids.user)["entitlements"] == {}


@pytest.mark.parametrize(
    ("body", "status"),
    [
        pytest.param(b"{not json", 400, id="not-json"),
        pytest.param({"store": "app_store"}, 422, id="no-transaction"),
        pytest.param({"store": "nope", "transactionId": "2000000000000001"}, 422, id="unknown-store"),
        pytest.param({"store": "app_store", "signedTransaction": 42}, 422, id="transaction-not-a-string"),
        pytest.param({"store": "app_store", "signedTransaction": "not.a.jws"}, 400, id="not-a-jws"),
    ],
)
def test_a_malformed_receipt_is_refused(parity, ids, body, status):
    parity.submit_receipt(ids.user, body).assert_error(status)
    assert parity.read(ids.user)["entitlements"] == {}


@pytest.mark.parametrize(
    ("signer_of", "code"),
    [
        pytest.param(lambda s: s.with_(chain=apple.make_chain()), None, id="another-root"),
        pytest.param(lambda s: s.with_(bundle_id="com.example.other"), "wrong_bundle_id", id="another-bundle"),
        pytest.param(lambda s: s.with_(environment="Production"), None, id="another-environment"),
    ],
)
def test_a_forged_receipt_is_refused_and_grants_nothing(parity, ids, apple_signer, signer_of, code):
    _, jws = _storekit_transaction(signer_of(apple_signer))

    parity.submit_receipt(ids.user, {"store": "app_store", "signedTransaction": jws}).assert_error(400, code)
    assert parity.read(ids.user)["entitlements"] == {}
