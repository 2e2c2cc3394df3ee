"""Google Play through the whole stack, over HTTP only: Real-time developer notifications pushed by
Pub/Sub with an OIDC token signed at test time (its key published by the local certs endpoint the stack
trusts, GOOGLE_OIDC_CERTS_URL), POST /webhooks/google → event log → FIFO queue → processor → the Play
Developer API fake (GOOGLE_API_BASE, authenticated with the service account of
GOOGLE_SERVICE_ACCOUNT_FILE) → purchase → read.

The notification is only a trigger: each test says what Google knows by editing the fake's resource
(`PlaySubscription.google_says`), then pushes the notification Google would send, and reads what Parity
made of it. Every test has its own user and purchase tokens; the fake is shared by the session, so
what Parity asked Google is read back per token. The user's appAccountToken (GET entitlements) is the
`obfuscatedExternalAccountId` the app passed to the billing library: it attributes the purchase.

Acknowledgement happens after the purchase is applied (a failure retries the message), so the event
is marked processed a moment before the acknowledgement reaches Google: tests wait for it.
"""

from __future__ import annotations

import time
from urllib.parse import unquote

import pytest

from tests.e2e.conftest import PLAY_LIFETIME, PLAY_MONTHLY, PLAY_PACKAGE, PLAY_YEARLY, wait_until
from tests.support import google as push

pytestmark = pytest.mark.e2e

DAY = 86_400
ACK_PENDING = "ACKNOWLEDGEMENT_STATE_PENDING"
ACK_DONE = "ACKNOWLEDGEMENT_STATE_ACKNOWLEDGED"
# subscriptionNotification.notificationType
RECOVERED, RENEWED, CANCELED, PURCHASED, ON_HOLD, IN_GRACE_PERIOD, REVOKED = 1, 2, 3, 4, 5, 6, 12


def rfc3339(epoch: int) -> str:
    """Parity's timestamps (whole seconds)."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))


def google_time(epoch: int) -> str:
    """Google's Timestamp JSON (milliseconds, `Z`)."""
    return time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(epoch))


def now() -> int:
    return int(time.time())


def pro(parity, user_id: str) -> dict:
    return parity.read(user_id)["entitlements"]["pro"]


def published(parity, user_id: str) -> list[str]:
    """The causes of the entitlement.changed events published for this user, oldest first."""
    return [change["cause"] for change in parity.changes(user_id)]


def calls_for(play, token: str) -> list[tuple[str, str]]:
    """What Parity asked the Play Developer API about this purchase token (method, decoded path)."""
    return [(method, unquote(path)) for method, path in play.calls() if f"/tokens/{token}" in unquote(path)]


def acknowledgements(play, token: str) -> list[tuple[str, str]]:
    return [call for call in calls_for(play, token) if call[0] == "POST" and call[1].endswith(":acknowledge")]


def fetches(play, token: str) -> list[tuple[str, str]]:
    return [call for call in calls_for(play, token) if call[0] == "GET"]


class PlaySubscription:
    """One subscription purchase token of one user, as Google's API answers for it (the fake's resource)."""

    def __init__(self, parity, play, account: str | None, product: str = PLAY_MONTHLY, **fields) -> None:
        self.parity = parity
        self.play = play
        self.account = account
        self.product = product
        self.token = push.purchase_token()
        self.key = (PLAY_PACKAGE, self.token)
        identifiers = {"obfuscatedExternalAccountId": account} if account else None
        play.add_subscription(
            self.token,
            product_id=product,
            **({"externalAccountIdentifiers": identifiers} if identifiers else {}),
            **fields,
        )

    @property
    def resource(self) -> dict:
        return self.play.subscriptions[self.key]

    @property
    def order_id(self) -> str:
        return self.resource["latestOrderId"]

    def google_says(
        self, state: str, expires: int, *, auto_renew: bool = True, product: str | None = None, **fields
    ) -> dict:
        """From now on the API answers `SUBSCRIPTION_STATE_<state>`, one line item expiring at `expires`
        (the acknowledgement state is kept: acknowledging is Parity's doing). The resource is replaced,
        never edited in place, so the fake's server thread never reads a half-written one."""
        self.product = product or self.product
        resource = {
            **self.resource,
            "subscriptionState": f"SUBSCRIPTION_STATE_{state}",
            "lineItems": [
                {
                    "productId": self.product,
                    "expiryTime": google_time(expires),
                    "autoRenewingPlan": {"autoRenewEnabled": auto_renew},
                    "offerDetails": {"basePlanId": "monthly"},
                    "offerPhase": {"basePrice": {}},
                }
            ],
            **fields,
        }
        self.play.subscriptions[self.key] = resource
        return resource

    def notify(self, notification_type: int) -> dict:
        """Google's subscriptionNotification for this token, pushed and processed; its outcome."""
        outcome = self.parity.deliver_google(push.subscription_notification(self.token, notification_type))
        assert outcome["outcome"] in ("applied", "stale"), outcome
        return outcome

    def wait_acknowledged(self) -> None:
        wait_until(lambda: self.resource["acknowledgementState"] == ACK_DONE)


def cause(outcome: dict) -> str:
    return f"play_store:{outcome['eventId']}"


# ------------------------------------------------------------------------------------------ purchase


def test_a_purchase_is_the_users_and_acknowledged_once_even_when_pushed_twice(parity, play_api, ids):
    # GIVEN a user whose appAccountToken the app passed to Play Billing as obfuscatedAccountId
    account = parity.read(ids.user)["appAccountToken"]
    end = now() + 30 * DAY
    sub = PlaySubscription(parity, play_api, account)
    sub.google_says("ACTIVE", end)
    assert sub.resource["acknowledgementState"] == ACK_PENDING
    message_id = push.new_message_id()
    body = push.push_body(push.subscription_notification(sub.token, PURCHASED), message_id=message_id)

    # WHEN Pub/Sub delivers the SUBSCRIPTION_PURCHASED push twice (same messageId: a redelivery)
    first, second = parity.post_google(body), parity.post_google(body)
    assert (first.status, second.status) == (200, 200), (first.raw, second.raw)
    assert (first.json["duplicate"], second.json["duplicate"]) == (False, True)
    outcome = parity.wait_processed(message_id, "play_store")

    # THEN the purchase is the user's, as Google's API says (not as the notification says)
    assert (outcome["outcome"], outcome["eventType"]) == ("applied", "subscriptionNotification:4"), outcome
    body = parity.read(ids.user)
    assert body["entitlements"]["pro"] == {
        "active": True,
        "state": "active",
        "expiresAt": rfc3339(end),
        "gracePeriodExpiresAt": None,
        "willRenew": True,
        "store": "play_store",
        "productId": PLAY_MONTHLY,
        "purchaseId": f"play_store:{sub.token}",
        "environment": "production",
    }
    assert body["purchases"] == [
        {
            "purchaseId": f"play_store:{sub.token}",
            "store": "play_store",
            "productId": PLAY_MONTHLY,
            "state": "active",
            "expiresAt": rfc3339(end),
            "entitlements": ["pro"],
            "ownership": "owner",
            "environment": "production",
            "app": PLAY_PACKAGE,
        }
    ]
    # ... and acknowledged with Google (purchases.subscriptions.acknowledge)
    sub.wait_acknowledged()

    # WHEN Google notifies the purchase again (a new message), after the acknowledgement
    again = parity.deliver_google(push.subscription_notification(sub.token, PURCHASED))
    assert again["outcome"] in ("applied", "stale"), again

    # THEN each message re-fetched the purchase, and the acknowledgement was asked exactly once
    path = f"/androidpublisher/v3/applications/{PLAY_PACKAGE}/purchases/subscriptions/{PLAY_MONTHLY}/tokens/{sub.token}"
    assert acknowledgements(play_api, sub.token) == [("POST", f"{path}:acknowledge")]
    assert len(fetches(play_api, sub.token)) == 2  # the redelivered message was not processed again
    assert pro(parity, ids.user)["active"] is True
    wait_until(lambda: published(parity, ids.user) == [cause(outcome)])


# ------------------------------------------------------------------------------------------ lifecycle


def test_grace_on_hold_recovery_and_revocation_follow_googles_state(parity, play_api, ids):
    account = parity.read(ids.user)["appAccountToken"]
    sub = PlaySubscription(parity, play_api, account)
    causes: list[str] = []

    def step(state: str, expires: int, notification_type: int, **fields) -> dict:
        sub.google_says(state, expires, **fields)
        outcome = sub.notify(notification_type)
        assert outcome["outcome"] == "applied", outcome
        causes.append(cause(outcome))
        return pro(parity, ids.user)

    # SUBSCRIPTION_PURCHASED → active
    first_end = now() + 30 * DAY
    entitlement = step("ACTIVE", first_end, PURCHASED)
    assert (entitlement["active"], entitlement["state"]) == (True, "active")
    assert entitlement["expiresAt"] == rfc3339(first_end)
    sub.wait_acknowledged()

    # the renewal failed: IN_GRACE_PERIOD, Play extends expiryTime to the grace end → grace_period, access
    grace_end = now() + 3 * DAY
    entitlement = step("IN_GRACE_PERIOD", grace_end, IN_GRACE_PERIOD)
    assert (entitlement["active"], entitlement["state"]) == (True, "grace_period")
    assert entitlement["gracePeriodExpiresAt"] == entitlement["expiresAt"] == rfc3339(grace_end)
    assert entitlement["willRenew"] is True

    # the grace ended unpaid: ON_HOLD (account hold), the period is over → on_hold, no access
    held_since = now() - 60
    entitlement = step("ON_HOLD", held_since, ON_HOLD)
    assert (entitlement["active"], entitlement["state"]) == (False, "on_hold")
    assert entitlement["purchaseId"] == f"play_store:{sub.token}"

    # the payment method was fixed: ACTIVE again with a new period (SUBSCRIPTION_RECOVERED) → active
    recovered_end = now() + 30 * DAY
    entitlement = step("ACTIVE", recovered_end, RECOVERED)
    assert (entitlement["active"], entitlement["state"]) == (True, "active")
    assert (entitlement["expiresAt"], entitlement["gracePeriodExpiresAt"]) == (rfc3339(recovered_end), None)

    # the developer revoked it: the API reads EXPIRED at the revocation, SUBSCRIPTION_REVOKED → revoked
    revoked_at = now()
    entitlement = step(
        "EXPIRED", revoked_at, REVOKED, auto_renew=False, canceledStateContext={"developerInitiatedCancellation": {}}
    )
    assert (entitlement["active"], entitlement["state"]) == (False, "revoked")
    assert entitlement["purchaseId"] == f"play_store:{sub.token}"

    # Acknowledged once for the whole lifecycle; every push changed the entitlement, published in order.
    assert len(acknowledgements(play_api, sub.token)) == 1
    assert len(fetches(play_api, sub.token)) == len(causes)
    wait_until(lambda: published(parity, ids.user) == causes)


def test_a_voided_subscription_is_revoked_and_a_later_push_does_not_reinstate_it(parity, play_api, ids):
    account = parity.read(ids.user)["appAccountToken"]
    end = now() + 30 * DAY
    sub = PlaySubscription(parity, play_api, account)
    sub.google_says("ACTIVE", end)
    sub.notify(PURCHASED)
    sub.wait_acknowledged()
    assert pro(parity, ids.user)["active"] is True

    # WHEN Google reports the order refunded (a voidedPurchaseNotification, and its voided purchases
    # list, which confirms it); its API still reads ACTIVE
    play_api.add_voided(sub.token, int(time.time() * 1000), package=PLAY_PACKAGE, orderId=sub.order_id)
    voided = parity.deliver_google(
        push.voided_purchase_notification(sub.token, order_id=sub.order_id, product_type=1, refund_type=1)
    )

    # THEN the period that order paid for is revoked
    assert (voided["outcome"], voided["eventType"]) == ("applied", "voidedPurchaseNotification"), voided
    entitlement = pro(parity, ids.user)
    assert (entitlement["active"], entitlement["state"]) == (False, "revoked")
    assert entitlement["purchaseId"] == f"play_store:{sub.token}"

    # ... and a later push re-fetching the same (refunded) period does not grant it again
    sub.notify(RENEWED)
    entitlement = pro(parity, ids.user)
    assert (entitlement["active"], entitlement["state"]) == (False, "revoked")


# ------------------------------------------------------------------------------------------ chains


def test_an_upgrade_replaces_the_token_in_one_purchase(parity, play_api, ids):
    account = parity.read(ids.user)["appAccountToken"]
    monthly_end = now() + 20 * DAY
    old = PlaySubscription(parity, play_api, account)
    old.google_says("ACTIVE", monthly_end)
    old.notify(PURCHASED)
    old.wait_acknowledged()

    # WHEN the user upgrades to the yearly plan: Google issues a new token naming the old one, and the
    # old token ends as replaced (canceledStateContext.replacementCancellation)
    yearly_end = now() + 365 * DAY
    new = PlaySubscription(parity, play_api, account, product=PLAY_YEARLY, linkedPurchaseToken=old.token)
    new.google_says("ACTIVE", yearly_end)
    old.google_says("EXPIRED", now(), auto_renew=False, canceledStateContext={"replacementCancellation": {}})
    new.notify(PURCHASED)
    old.notify(CANCELED)  # the old token's notification, processed after the new one's

    # THEN one purchase (keyed by the first token) carries the yearly plan, and stays active
    body = parity.read(ids.user)
    assert [(p["purchaseId"], p["productId"], p["state"]) for p in body["purchases"]] == [
        (f"play_store:{old.token}", PLAY_YEARLY, "active")
    ]
    entitlement = body["entitlements"]["pro"]
    assert (entitlement["active"], entitlement["state"], entitlement["willRenew"]) == (True, "active", True)
    assert (entitlement["expiresAt"], entitlement["purchaseId"]) == (rfc3339(yearly_end), f"play_store:{old.token}")

    # ... the new token was acknowledged too (once), and its later notifications land on the same purchase
    new.wait_acknowledged()
    renewed_end = yearly_end + 365 * DAY
    new.google_says("ACTIVE", renewed_end)
    new.notify(RENEWED)
    body = parity.read(ids.user)
    assert [p["purchaseId"] for p in body["purchases"]] == [f"play_store:{old.token}"]
    assert body["entitlements"]["pro"]["expiresAt"] == rfc3339(renewed_end)
    assert len(acknowledgements(play_api, old.token)) == 1
    assert len(acknowledgements(play_api, new.token)) == 1
    [(_, acknowledged)] = acknowledgements(play_api, new.token)
    assert acknowledged.endswith(f"/subscriptions/{PLAY_YEARLY}/tokens/{new.token}:acknowledge")  # the new product


# ---------------------------------------------------------------------------------- delivery order


def test_reordered_pushes_converge_on_what_google_says_now(parity, play_api, ids):
    account = parity.read(ids.user)["appAccountToken"]
    first_end = now() + 2 * DAY
    sub = PlaySubscription(parity, play_api, account)
    sub.google_says("ACTIVE", first_end)
    purchased = sub.notify(PURCHASED)
    sub.wait_acknowledged()

    # GIVEN Google renewed the subscription, then the user canceled it (no more renewals)
    renewed_end = first_end + 30 * DAY
    sub.google_says("ACTIVE", renewed_end, latestOrderId=f"{sub.order_id}..0")  # SUBSCRIPTION_RENEWED sent
    sub.google_says(
        "CANCELED",
        renewed_end,
        auto_renew=False,
        canceledStateContext={"userInitiatedCancellation": {"cancelTime": google_time(now())}},
    )  # SUBSCRIPTION_CANCELED sent

    # WHEN the CANCELED push arrives first and the RENEWED push late
    canceled = sub.notify(CANCELED)
    after_cancel = pro(parity, ids.user)
    late = sub.notify(RENEWED)

    # THEN both re-fetched today's truth: access until the renewed period's end, not renewing
    def seen(entitlement: dict) -> tuple:
        return entitlement["active"], entitlement["state"], entitlement["expiresAt"], entitlement["willRenew"]

    assert seen(after_cancel) == seen(pro(parity, ids.user)) == (True, "active", rfc3339(renewed_end), False)
    assert canceled["outcome"] == "applied" and late["outcome"] in ("applied", "stale")

    # ... and the late push changed nothing that was published
    assert len(fetches(play_api, sub.token)) == 3
    wait_until(lambda: published(parity, ids.user) == [cause(purchased), cause(canceled)])
    assert cause(late) not in published(parity, ids.user)


def test_a_stale_grace_push_after_recovery_leaves_the_subscription_active(parity, play_api, ids):
    account = parity.read(ids.user)["appAccountToken"]
    sub = PlaySubscription(parity, play_api, account, acknowledgementState=ACK_DONE)
    # Google: the renewal failed (IN_GRACE_PERIOD sent), then the payment went through (RECOVERED sent)
    end = now() + 30 * DAY
    sub.google_says("ACTIVE", end)

    # WHEN the RECOVERED push is processed before the IN_GRACE_PERIOD push
    sub.notify(RECOVERED)
    sub.notify(IN_GRACE_PERIOD)

    # THEN the late grace push re-fetched ACTIVE: no grace period
    entitlement = pro(parity, ids.user)
    assert (entitlement["active"], entitlement["state"], entitlement["gracePeriodExpiresAt"]) == (True, "active", None)
    assert entitlement["expiresAt"] == rfc3339(end)
    assert acknowledgements(play_api, sub.token) == []  # Google said it was acknowledged already


# ------------------------------------------------------------------------------------------ one-time


def test_a_lifetime_product_is_active_without_end_and_acknowledged(parity, play_api, ids):
    account = parity.read(ids.user)["appAccountToken"]
    token = push.purchase_token()
    bought = play_api.add_product(token, product_id=PLAY_LIFETIME, obfuscatedExternalAccountId=account)
    assert bought["acknowledgementState"] == 0

    outcome = parity.deliver_google(push.one_time_product_notification(token, 1, sku=PLAY_LIFETIME))

    assert (outcome["outcome"], outcome["eventType"]) == ("applied", "oneTimeProductNotification:1"), outcome
    body = parity.read(ids.user)
    granted = {
        "active": True,
        "state": "active",
        "expiresAt": None,
        "gracePeriodExpiresAt": None,
        "willRenew": False,
        "store": "play_store",
        "productId": PLAY_LIFETIME,
        "purchaseId": f"play_store:{token}",
        "environment": "sandbox",  # purchaseType 0: a license tester's (test) purchase
    }
    assert body["entitlements"] == {"pro": granted, "lifetime": granted}
    assert [(p["purchaseId"], p["state"], p["expiresAt"]) for p in body["purchases"]] == [
        (f"play_store:{token}", "active", None)
    ]
    # purchases.products.get, then purchases.products.acknowledge, once
    wait_until(lambda: play_api.products[(PLAY_PACKAGE, PLAY_LIFETIME, token)]["acknowledgementState"] == 1)
    path = f"/androidpublisher/v3/applications/{PLAY_PACKAGE}/purchases/products/{PLAY_LIFETIME}/tokens/{token}"
    assert calls_for(play_api, token) == [("GET", path), ("POST", f"{path}:acknowledge")]


def test_a_refunded_one_time_product_is_revoked(parity, play_api, ids):
    account = parity.read(ids.user)["appAccountToken"]
    token = push.purchase_token()
    bought = play_api.add_product(
        token, product_id=PLAY_LIFETIME, obfuscatedExternalAccountId=account, acknowledgementState=1
    )
    parity.deliver_google(push.one_time_product_notification(token, 1, sku=PLAY_LIFETIME))
    assert pro(parity, ids.user)["active"] is True

    play_api.add_voided(token, int(time.time() * 1000), subscription=False, package=PLAY_PACKAGE, orderId=bought["orderId"])
    voided = parity.deliver_google(
        push.voided_purchase_notification(token, order_id=bought["orderId"], product_type=2, refund_type=1)
    )

    assert voided["outcome"] == "applied", voided
    entitlements = parity.read(ids.user)["entitlements"]
    assert {name: (e["active"], e["state"]) for name, e in entitlements.items()} == {
        "pro": (False, "revoked"),
        "lifetime": (False, "revoked"),
    }


# ------------------------------------------------------------------------------------------ refusals


def _other_key_token() -> str:
    return push.mint_token(push.signing_key("not-published-by-google"))


@pytest.mark.parametrize(
    ("authorization", "status", "code"),
    [
        pytest.param(lambda: None, 401, "missing_token", id="no-token"),
        pytest.param(lambda: "Basic cHVic3ViOnB1c2g=", 401, "missing_token", id="not-bearer"),
        pytest.param(
            lambda: push.bearer(push.mint_token(audience="https://elsewhere.example.com")),
            401,
            "invalid_token",
            id="another-audience",
        ),
        pytest.param(lambda: push.bearer(_other_key_token()), 401, "invalid_token", id="unpublished-key"),
        pytest.param(
            lambda: push.bearer(push.mint_token(issued_at=now() - 7200, lifetime=3600)),
            401,
            "invalid_token",
            id="expired",
        ),
        pytest.param(lambda: push.bearer(push.unsigned_token()), 401, "invalid_token", id="alg-none"),
        pytest.param(
            lambda: push.bearer(push.mint_token(email="someone@evil.example.com")),
            403,
            "forbidden_sender",
            id="another-sender",
        ),
    ],
)
def test_an_unauthenticated_push_is_refused_and_nothing_is_stored(parity, play_api, ids, authorization, status, code):
    account = parity.read(ids.user)["appAccountToken"]
    sub = PlaySubscription(parity, play_api, account)
    sub.google_says("ACTIVE", now() + 30 * DAY)
    message_id = push.new_message_id()

    reply = parity.post_google(
        push.push_body(push.subscription_notification(sub.token, PURCHASED), message_id=message_id),
        authorization(),
    )

    reply.assert_error(status, code)
    parity.stored_event(message_id, "play_store").assert_error(404, "not_found")
    assert calls_for(play_api, sub.token) == []  # Google was never asked
    assert parity.read(ids.user)["entitlements"] == {}


@pytest.mark.parametrize(
    ("body", "code"),
    [
        pytest.param(
            lambda token: push.push_body(push.subscription_notification(token, package="com.example.other")),
            "wrong_package",
            id="another-package",
        ),
        pytest.param(lambda token: b"this is not json", None, id="not-json"),
        pytest.param(lambda token: b'{"message": {"messageId": "1"}}', None, id="no-data"),
        pytest.param(lambda token: push.push_body(b"not json either"), None, id="data-not-json"),
    ],
)
def test_a_malformed_push_is_refused_with_400(parity, play_api, body, code):
    token = push.purchase_token()

    parity.post_google(body(token)).assert_error(400, code)
    assert calls_for(play_api, token) == []


def test_a_test_notification_is_acknowledged_and_not_stored(parity):
    message_id = push.new_message_id()

    reply = parity.post_google(push.push_body(push.test_notification(), message_id=message_id))

    assert reply.status == 200, reply.raw
    parity.stored_event(message_id, "play_store").assert_error(404, "not_found")
