"""Who may use which purchase, over HTTP on the local stack: the claim strategies across stores, manual
association, user merge, email changes, the refund-abuse flag, the double-billing report, and the
operator's report of the events behind a purchase.

The session's stack runs the default strategy (LAST; the audit trail says so); this module starts one
stack per other strategy (FIRST, ALL), configured like the session's (App Store, Google Play, Stripe
webhooks), plus a Stripe API key and the Stripe API imitation so that Stripe receipts can be claimed.
Each user of a test is fresh, so tests never see each other's state.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from types import SimpleNamespace
from urllib.parse import quote

import pytest

from tests.e2e.conftest import (
    APPLE_MONTHLY,
    PLAY_LIFETIME,
    PLAY_MONTHLY,
    PLAY_PACKAGE,
    Parity,
    local_stack,
    stripe_event,
    wait_until,
)
from tests.support import apple
from tests.support import google as push
from tests.support import stripe as s
from tests.support.stripe_api import StripeApiState, stripe_api_server

pytestmark = pytest.mark.e2e

MINUTE = 60_000
APPLE_DAY = apple.DAY_MS
DAY = s.DAY
OWNED_BY_ANOTHER = "purchase_owned_by_another_user"
FLAGGED = "user.flagged_for_review"
DOUBLE_BILLING = "billing.double_billing_detected"


# ------------------------------------------------------------------------------------------ stacks


@pytest.fixture(scope="module")
def stripe_api() -> Iterator[StripeApiState]:
    with stripe_api_server() as state:
        yield state


def _strategy_stack(strategy, tmp_path_factory, idp, apple_signer, google_certs, play_api, stripe_api):
    """A stack like the session's (same stores, same fakes), under another ENTITLEMENT_STRATEGY."""
    workdir = tmp_path_factory.mktemp(f"stack-{strategy.lower()}")
    return local_stack(
        workdir,
        idp,
        ENTITLEMENT_STRATEGY=strategy,
        APPLE_BUNDLE_ID=apple_signer.bundle_id,
        APPLE_ENVIRONMENT="Sandbox",
        APPLE_ROOT_CERTS=str(apple_signer.chain.write_root(workdir)),
        GOOGLE_PACKAGE_NAME=PLAY_PACKAGE,
        GOOGLE_PUBSUB_AUDIENCE=push.AUDIENCE,
        GOOGLE_PUBSUB_SERVICE_ACCOUNT=push.SERVICE_ACCOUNT,
        GOOGLE_OIDC_CERTS_URL=google_certs.url,
        GOOGLE_API_BASE=play_api.base_url,
        GOOGLE_SERVICE_ACCOUNT_FILE=str(play_api.write_service_account(workdir / "play-service-account.json")),
        STRIPE_API_KEY="sk_test_parity_e2e_ownership",
        STRIPE_API_BASE=stripe_api.base_url,
    )


@pytest.fixture(scope="module")
def first_stack(tmp_path_factory, idp, apple_signer, google_certs, play_api, stripe_api) -> Iterator[Parity]:
    with _strategy_stack("FIRST", tmp_path_factory, idp, apple_signer, google_certs, play_api, stripe_api) as stack:
        yield stack


@pytest.fixture(scope="module")
def all_stack(tmp_path_factory, idp, apple_signer, google_certs, play_api, stripe_api) -> Iterator[Parity]:
    with _strategy_stack("ALL", tmp_path_factory, idp, apple_signer, google_certs, play_api, stripe_api) as stack:
        yield stack


STACK_OF = {"LAST": "parity", "FIRST": "first_stack", "ALL": "all_stack"}


@pytest.fixture(params=["LAST", "FIRST", "ALL"])
def strategy(request) -> str:
    return request.param


@pytest.fixture
def stack(request, strategy) -> Parity:
    """The stack running `strategy`: LAST is the session's (the default strategy)."""
    return request.getfixturevalue(STACK_OF[strategy])


@pytest.fixture
def users() -> SimpleNamespace:
    tag = uuid.uuid4().hex[:10]
    return SimpleNamespace(a=f"u_a_{tag}", b=f"u_b_{tag}", c=f"u_c_{tag}", x=f"u_x_{tag}")


def stripe_ids() -> SimpleNamespace:
    tag = uuid.uuid4().hex[:12]
    return SimpleNamespace(
        sub=f"sub_{tag}",
        customer=f"cus_{tag}",
        invoice=f"in_{tag}",
        payment_intent=f"pi_{tag}",
        charge=f"ch_{tag}",
        dispute=f"dp_{tag}",
    )


# ------------------------------------------------------------------------------------------ helpers


def whole_second(millis: int) -> int:
    return millis - millis % 1000


def new_original_transaction_id() -> str:
    return str(3_000_000_000_000_000 + uuid.uuid4().int % 10**15)


def storekit_transaction(signer: apple.AppleSigner, token: str | None = None, original: str | None = None) -> dict:
    """A StoreKit 2 transaction of a monthly subscription bought two minutes ago, running for a month."""
    now = whole_second(apple.now_ms())
    original = original or new_original_transaction_id()
    return signer.transaction(
        transactionId=original,
        originalTransactionId=original,
        productId=APPLE_MONTHLY,
        purchaseDate=now - 2 * MINUTE,
        originalPurchaseDate=now - 2 * MINUTE,
        expiresDate=now + 30 * APPLE_DAY,
        signedDate=now - 2 * MINUTE,
        appAccountToken=token,
    )


def apple_notification(
    signer: apple.AppleSigner,
    transaction: dict,
    token: str | None,
    notification_type: str = "SUBSCRIBED",
    subtype: str | None = "INITIAL_BUY",
    signed: int | None = None,
) -> dict:
    """A decoded App Store Server Notification about `transaction`'s subscription, carrying `token` as
    the appAccountToken (a claim by its user), signed at `signed` (default: the transaction's time)."""
    signed = transaction["signedDate"] if signed is None else signed
    transaction = {**transaction, "appAccountToken": token, "signedDate": signed}
    renewal = signer.renewal_info(
        originalTransactionId=transaction["originalTransactionId"],
        productId=APPLE_MONTHLY,
        autoRenewProductId=APPLE_MONTHLY,
        signedDate=signed,
        recentSubscriptionStartDate=transaction["originalPurchaseDate"],
        renewalDate=transaction["expiresDate"],
        appAccountToken=token,
    )
    renewal = {name: value for name, value in renewal.items() if value is not None}
    return signer.notification(
        notification_type, subtype, transaction=transaction, renewal_info=renewal, data={"status": 1}, signedDate=signed
    )


def apple_subscribed(parity: Parity, signer: apple.AppleSigner, user_id: str) -> tuple[str, dict]:
    """A user's App Store subscription, bought with their appAccountToken: (purchase id, the processed
    notification's outcome)."""
    token = parity.read(user_id)["appAccountToken"]
    transaction = storekit_transaction(signer, token)
    outcome = parity.deliver_apple(apple_notification(signer, transaction, token), signer)
    assert outcome["outcome"] == "applied", outcome
    return f"app_store:{transaction['originalTransactionId']}", outcome


def stripe_subscribed(parity: Parity, user_id: str, ids: SimpleNamespace, t0: int, **subscription) -> str:
    """A paid basil Stripe subscription of `user_id` (metadata.user_id), its payment traceable to the
    charge; its purchase id."""
    end = int(time.time()) + 30 * DAY
    sub = s.subscription(ids.sub, "active", end, customer=ids.customer, user_id=user_id, **subscription)
    parity.deliver(stripe_event("customer.subscription.created", sub, t0))
    parity.deliver(stripe_event("invoice.paid", s.invoice(ids.invoice, ids.sub, end, ids.customer), t0 + 1))
    parity.deliver(
        stripe_event("invoice_payment.paid", s.invoice_payment(ids.invoice, ids.payment_intent, ids.charge), t0 + 2)
    )
    return f"stripe:{ids.sub}"


def purchase_ids(body: dict) -> list[str]:
    return [p["purchaseId"] for p in body["purchases"]]


def ownership(body: dict, purchase_id: str) -> str | None:
    return next((p["ownership"] for p in body["purchases"] if p["purchaseId"] == purchase_id), None)


def has_access(parity: Parity, user_id: str, entitlement: str = "pro") -> bool:
    found = parity.read(user_id)["entitlements"].get(entitlement)
    return bool(found and found["active"])


def audit(report: dict, key: str, purchase_id: str | None = None) -> list[tuple]:
    """(action, userId, otherUserIds, strategy) of a report's claims or refusals, for one purchase."""
    return [
        (r["action"], r["userId"], sorted(r["otherUserIds"]), r["strategy"])
        for r in report[key]
        if purchase_id is None or r["purchaseId"] == purchase_id
    ]


def assert_claim_outcome(parity: Parity, strategy: str, a: str, b: str, purchase_id: str, second: int) -> None:
    """What each strategy makes of a purchase claimed by `a`, then by `b` (whose claim answered `second`)."""
    body_a, body_b = parity.read(a), parity.read(b)
    report_a, report_b = parity.admin_report(a), parity.admin_report(b)
    if strategy == "FIRST":
        assert second == 409
        assert (has_access(parity, a), purchase_ids(body_a), ownership(body_a, purchase_id)) == (
            True,
            [purchase_id],
            "owner",
        )
        assert (body_b["entitlements"], body_b["purchases"]) == ({}, [])
        assert ("refused", b, [a], "FIRST") in audit(report_b, "refusals", purchase_id)
        assert ("claim_refused", a, [b], "FIRST") in audit(report_a, "refusals", purchase_id)
    elif strategy == "LAST":
        assert second == 200
        assert (has_access(parity, b), purchase_ids(body_b), ownership(body_b, purchase_id)) == (
            True,
            [purchase_id],
            "owner",
        )
        assert has_access(parity, a) is False and purchase_id not in purchase_ids(body_a)
        # the previous owner's loss of access was published
        wait_until(
            lambda: [
                c for c in parity.changes(a) if (c["old"] or {}).get("active") and not (c["new"] or {}).get("active")
            ]
        )
        assert ("took_over", b, [a], "LAST") in audit(report_b, "claims", purchase_id)
        assert ("lost", a, [b], "LAST") in audit(report_a, "claims", purchase_id)
    else:
        assert second == 200
        assert has_access(parity, a) and has_access(parity, b)
        assert (ownership(body_a, purchase_id), ownership(body_b, purchase_id)) == ("owner", "shared")
        assert ("shared", b, [a], "ALL") in audit(report_b, "claims", purchase_id)
        assert report_b["refusals"] == []
    [row] = [p for p in report_b["purchases"] if p["purchaseId"] == purchase_id] or [
        p for p in report_a["purchases"] if p["purchaseId"] == purchase_id
    ]
    assert row["ownerIds"] == {"FIRST": [a], "LAST": [b], "ALL": [a, b]}[strategy]


# ------------------------------------------------------------------------------ strategies × stores


def test_an_app_store_transaction_submitted_by_two_users(stack, strategy, users, apple_signer):
    # GIVEN a StoreKit 2 transaction bought without an appAccountToken, claimed first by user A
    transaction = storekit_transaction(apple_signer, token=None)
    purchase_id = f"app_store:{transaction['originalTransactionId']}"
    receipt = {"store": "app_store", "signedTransaction": apple_signer.sign(transaction)}
    first = stack.submit_receipt(users.a, receipt)
    assert first.status == 200, first.raw
    assert first.json["entitlements"]["pro"]["active"] is True

    # WHEN user B submits the same transaction
    second = stack.submit_receipt(users.b, receipt)

    # THEN the strategy decides: FIRST refuses B (409), LAST moves it to B, ALL shares it
    if second.status == 409:
        second.assert_error(409, OWNED_BY_ANOTHER)
    else:
        assert second.status == 200, second.raw
        assert second.json["entitlements"]["pro"]["active"] is True  # the answer already reflects the claim
    assert_claim_outcome(stack, strategy, users.a, users.b, purchase_id, second.status)


def test_a_play_purchase_submitted_by_two_users(stack, strategy, users, play_api):
    # GIVEN a Play subscription bought without an obfuscated account id, claimed first by user A
    token = push.purchase_token()
    play_api.add_subscription(token, product_id=PLAY_MONTHLY)
    purchase_id = f"play_store:{token}"
    receipt = {"store": "play_store", "packageName": PLAY_PACKAGE, "productId": PLAY_MONTHLY, "purchaseToken": token}
    first = stack.submit_receipt(users.a, receipt)
    assert first.status == 200, first.raw
    assert purchase_ids(first.json) == [purchase_id]

    # WHEN user B submits the same purchase token
    second = stack.submit_receipt(users.b, receipt)

    # THEN the strategy decides
    if second.status == 409:
        second.assert_error(409, OWNED_BY_ANOTHER)
    else:
        assert second.status == 200, second.raw
    assert_claim_outcome(stack, strategy, users.a, users.b, purchase_id, second.status)


def test_a_stripe_checkout_for_one_user_then_a_subscription_naming_another(stack, strategy, users, stripe_api):
    """A claim by notification: the checkout's client_reference_id names A, a later subscription event
    carries B in metadata.user_id. A refused notification claim is recorded (no HTTP caller to tell)."""
    ids = stripe_ids()
    t0 = int(time.time()) - 300
    end = int(time.time()) + 30 * DAY
    purchase_id = f"stripe:{ids.sub}"
    # What the Stripe API says (read back by the stacks with a Stripe API key), as the events say it.
    stripe_api.subscriptions[ids.sub] = s.subscription(ids.sub, "active", end, customer=ids.customer, user_id=None)
    checkout = s.checkout_session(user_id=users.a, subscription_id=ids.sub, customer=ids.customer)
    stack.deliver(stripe_event("checkout.session.completed", checkout, t0))
    created = s.subscription(ids.sub, "active", end, customer=ids.customer, user_id=None)
    stack.deliver(stripe_event("customer.subscription.created", created, t0 + 1))
    assert has_access(stack, users.a) and ownership(stack.read(users.a), purchase_id) == "owner"

    # WHEN a subscription event names user B (metadata.user_id)
    named = s.subscription(ids.sub, "active", end, customer=ids.customer, user_id=users.b, cancel_at_period_end=True)
    stripe_api.subscriptions[ids.sub] = named
    outcome = stack.deliver(stripe_event("customer.subscription.updated", named, t0 + 2))

    # THEN the strategy decides, as for a receipt (a refusal is recorded, the event still applied)
    assert outcome["outcome"] == ("claim_refused" if strategy == "FIRST" else "applied"), outcome
    assert_claim_outcome(stack, strategy, users.a, users.b, purchase_id, 409 if strategy == "FIRST" else 200)
    holder = users.a if strategy == "FIRST" else users.b
    assert stack.read(holder)["entitlements"]["pro"]["willRenew"] is False  # the event's facts applied


@pytest.mark.parametrize("strategy", ["FIRST", "ALL"])
def test_a_stripe_checkout_session_submitted_by_two_users(stack, strategy, users, stripe_api):
    """The receipts' stripe branch (the session made for nobody in particular): only the stacks with a
    Stripe API key read sessions."""
    ids = stripe_ids()
    end = int(time.time()) + 30 * DAY
    stripe_api.subscriptions[ids.sub] = s.subscription(ids.sub, "active", end, customer=ids.customer, user_id=None)
    session = s.checkout_session(user_id=None, subscription_id=ids.sub, customer=ids.customer)
    stripe_api.checkout_sessions[session["id"]] = session
    receipt = {"store": "stripe", "checkoutSessionId": session["id"]}
    first = stack.submit_receipt(users.a, receipt)
    assert first.status == 200, first.raw

    second = stack.submit_receipt(users.b, receipt)

    if strategy == "FIRST":
        second.assert_error(409, OWNED_BY_ANOTHER)
    else:
        assert second.status == 200, second.raw
    assert_claim_outcome(stack, strategy, users.a, users.b, f"stripe:{ids.sub}", second.status)


@pytest.mark.parametrize("strategy", ["FIRST", "ALL"])
def test_a_checkout_session_made_for_another_user_is_refused_under_any_strategy(stack, strategy, users, stripe_api):
    ids = stripe_ids()
    end = int(time.time()) + 30 * DAY
    stripe_api.subscriptions[ids.sub] = s.subscription(ids.sub, "active", end, customer=ids.customer, user_id=None)
    session = s.checkout_session(user_id=users.a, subscription_id=ids.sub, customer=ids.customer)
    stripe_api.checkout_sessions[session["id"]] = session

    stack.submit_receipt(users.b, {"store": "stripe", "checkoutSessionId": session["id"]}).assert_error(
        409, OWNED_BY_ANOTHER
    )

    body = stack.read(users.b)
    assert (body["entitlements"], body["purchases"]) == ({}, [])
    assert stack.submit_receipt(users.a, {"store": "stripe", "checkoutSessionId": session["id"]}).status == 200
    assert has_access(stack, users.a)


# ---------------------------------------------------------------------------- manual association


def test_a_manual_association_outranks_last(parity, users, apple_signer):
    # GIVEN an App Store purchase claimed by X through a receipt (the session's stack runs LAST)
    transaction = storekit_transaction(apple_signer, token=None)
    purchase_id = f"app_store:{transaction['originalTransactionId']}"
    receipt = {"store": "app_store", "signedTransaction": apple_signer.sign(transaction)}
    assert parity.submit_receipt(users.x, receipt).status == 200

    # WHEN the operator assigns it to A
    assigned = parity.assign_owner(purchase_id, users.a)

    # THEN A alone holds it, manually; X lost it
    assert assigned.status == 200, assigned.raw
    assert assigned.json == {
        "purchaseId": purchase_id,
        "ownerIds": [users.a],
        "ownership": "manual",
        "previousOwnerIds": [users.x],
    }
    body_a = parity.read(users.a)
    assert body_a["entitlements"]["pro"]["active"] is True
    assert ownership(body_a, purchase_id) == "manual"
    assert has_access(parity, users.x) is False and purchase_ids(parity.read(users.x)) == []

    # WHEN B claims it with the same receipt (LAST would hand it over): 409, A keeps it
    parity.submit_receipt(users.b, receipt).assert_error(409, OWNED_BY_ANOTHER)
    assert has_access(parity, users.a) and not has_access(parity, users.b)

    # ... and X, its former owner, cannot take it back either
    parity.submit_receipt(users.x, receipt).assert_error(409, OWNED_BY_ANOTHER)

    # ... nor does a notification carrying B's appAccountToken move it: it is recorded as refused
    token_b = parity.read(users.b)["appAccountToken"]
    later = whole_second(apple.now_ms())
    outcome = parity.deliver_apple(
        apple_notification(
            apple_signer, transaction, token_b, "DID_CHANGE_RENEWAL_STATUS", "AUTO_RENEW_ENABLED", later
        ),
        apple_signer,
    )
    assert outcome["outcome"] == "claim_refused", outcome
    assert has_access(parity, users.a) and not has_access(parity, users.b)
    assert ("refused", users.b, [users.a], "LAST") in audit(parity.admin_report(users.b), "refusals", purchase_id)

    # ... while A's own claim is accepted
    assert parity.submit_receipt(users.a, receipt).status == 200

    # WHEN the operator assigns it to B (percent-encoded purchase id in the path)
    reassigned = parity.assign_owner(quote(purchase_id, safe=""), users.b)

    # THEN B has it, A lost it
    assert reassigned.status == 200, reassigned.raw
    assert (reassigned.json["ownerIds"], reassigned.json["previousOwnerIds"]) == ([users.b], [users.a])
    body_b = parity.read(users.b)
    assert body_b["entitlements"]["pro"]["active"] is True and ownership(body_b, purchase_id) == "manual"
    assert has_access(parity, users.a) is False and purchase_id not in purchase_ids(parity.read(users.a))
    parity.submit_receipt(users.a, receipt).assert_error(409, OWNED_BY_ANOTHER)

    # The operator's report: the manual owner, and the assignments in the audit trail
    report = parity.admin_report(users.b)
    [row] = [p for p in report["purchases"] if p["purchaseId"] == purchase_id]
    assert (row["ownerIds"], row["manualOwner"], row["ownership"]) == ([users.b], True, "manual")
    assigned_b = [c for c in report["claims"] if c["action"] == "assigned" and c["purchaseId"] == purchase_id]
    assert len(assigned_b) == 1 and assigned_b[0]["actor"] and assigned_b[0]["source"] == "admin"
    assert ("lost", users.a, [users.b], None) in audit(parity.admin_report(users.a), "claims", purchase_id)


def test_assigning_an_unknown_purchase_is_404(parity, users):
    parity.assign_owner("app_store:1999999999999999", users.a).assert_error(404, "purchase_not_found")
    parity.admin("PUT", "/v1/admin/purchases/app_store:1999999999999999/owner", {"nobody": 1}).assert_error(422)
    parity.admin("PUT", "/v1/admin/purchases/app_store:1999999999999999/owner", b"{not json").assert_error(400)


# ------------------------------------------------------------------------------------------ merge


def test_a_merged_user_is_read_through_both_ids(parity, users, apple_signer):
    old, merged = users.a, users.b
    # GIVEN each id holds an App Store subscription, bought with its own appAccountToken
    old_purchase, _ = apple_subscribed(parity, apple_signer, old)
    merged_purchase, _ = apple_subscribed(parity, apple_signer, merged)
    old_token, merged_token = parity.read(old)["appAccountToken"], parity.read(merged)["appAccountToken"]

    # WHEN the operator merges the old id into the other
    reply = parity.merge(merged, old)

    # THEN both ids read the merged user's entitlements (each with its own user's token)
    assert reply.status == 200, reply.raw
    assert reply.json == {"userId": merged, "fromUserId": old, "purchasesMoved": 1, "merged": True}
    via_old, via_merged = parity.read(old), parity.read(merged)
    for body in (via_old, via_merged):
        assert body["userId"] == merged
        assert sorted(purchase_ids(body)) == sorted([old_purchase, merged_purchase])
        assert body["entitlements"]["pro"]["active"] is True
    assert via_old["entitlements"] == via_merged["entitlements"]
    assert via_old["purchases"] == via_merged["purchases"]
    assert via_merged["appAccountToken"] == merged_token

    # ... a store notification carrying the old id's appAccountToken lands on the merged user
    later_purchase, _ = apple_subscribed_with_token(parity, apple_signer, old_token)
    assert later_purchase in purchase_ids(parity.read(merged))

    # ... and so does a Stripe subscription naming the old id in metadata.user_id
    other = stripe_ids()
    t0 = int(time.time()) - 300
    parity.deliver(
        stripe_event(
            "customer.subscription.created", s.subscription(other.sub, customer=other.customer, user_id=old), t0
        )
    )
    assert f"stripe:{other.sub}" in purchase_ids(parity.read(merged))
    assert parity.read(old)["purchases"] == parity.read(merged)["purchases"]

    # Merging again changes nothing (200); merging back would make a cycle (409); into itself: 400
    again = parity.merge(merged, old)
    assert again.status == 200, again.raw
    assert (again.json["userId"], again.json["merged"], again.json["purchasesMoved"]) == (merged, True, 0)
    parity.merge(old, merged).assert_error(409, "merge_cycle")
    parity.merge(merged, merged).assert_error(400, "invalid_merge")
    assert len(purchase_ids(parity.read(merged))) == 4

    # The merged user's report names the alias and the merge; the alias reports the merged user
    report = parity.admin_report(merged)
    assert report["aliases"] == [old]
    merges = [(c["action"], c["otherUserIds"], c["source"]) for c in report["claims"] if c["action"] == "merged_from"]
    assert merges == [("merged_from", [old], "admin")]
    assert parity.admin_report(old)["userId"] == merged
    wait_until(lambda: parity.bus_events("user.merged", merged))


def apple_subscribed_with_token(parity: Parity, signer: apple.AppleSigner, token: str) -> tuple[str, dict]:
    transaction = storekit_transaction(signer, token)
    outcome = parity.deliver_apple(apple_notification(signer, transaction, token), signer)
    assert outcome["outcome"] == "applied", outcome
    return f"app_store:{transaction['originalTransactionId']}", outcome


def test_merging_refuses_unknown_users_and_users_merged_elsewhere(parity, users):
    parity.merge(users.a, f"u_never_seen_{uuid.uuid4().hex[:8]}").assert_error(404, "user_not_found")
    for user in (users.a, users.b, users.c):
        parity.read(user)
    assert parity.merge(users.b, users.a).status == 200
    parity.merge(users.c, users.a).assert_error(409, "already_merged")


# ------------------------------------------------------------------------------------- email change


def test_a_changed_email_changes_no_link(parity, users):
    ids, elsewhere = stripe_ids(), stripe_ids()
    t0 = int(time.time()) - 300
    old_email, new_email = f"old-{ids.customer}@example.com", f"new-{ids.customer}@example.org"
    # GIVEN A's Stripe customer and subscription, and C, a Stripe customer whose email is A's new one
    parity.deliver(stripe_event("customer.created", s.customer(ids.customer, old_email, users.a), t0))
    purchase_id = stripe_subscribed(parity, users.a, ids, t0 + 1)
    parity.deliver(stripe_event("customer.created", s.customer(elsewhere.customer, new_email, users.c), t0 + 5))
    before_a, report_before = parity.read(users.a), parity.admin_report(users.a)

    # WHEN A's customer changes only its email (to C's)
    parity.deliver(stripe_event("customer.updated", s.customer(ids.customer, new_email, users.a), t0 + 6))

    # THEN A keeps the purchase, no one else gains it, no claim was made
    after_a = parity.read(users.a)
    assert (after_a["entitlements"], after_a["purchases"]) == (before_a["entitlements"], before_a["purchases"])
    assert after_a["entitlements"]["pro"]["active"] is True
    body_c = parity.read(users.c)
    assert (body_c["entitlements"], body_c["purchases"]) == ({}, [])
    assert parity.admin_report(users.a)["claims"] == report_before["claims"]

    # ... and later events of A's customer that name no user still land on A, never on C
    later = stripe_ids()
    unnamed = s.subscription(later.sub, customer=ids.customer, user_id=None)
    parity.deliver(stripe_event("customer.subscription.created", unnamed, t0 + 7))
    updated = s.subscription(ids.sub, customer=ids.customer, user_id=None, cancel_at_period_end=True)
    parity.deliver(stripe_event("customer.subscription.updated", updated, t0 + 8))
    assert sorted(purchase_ids(parity.read(users.a))) == sorted([purchase_id, f"stripe:{later.sub}"])
    assert parity.read(users.c)["purchases"] == []


# ----------------------------------------------------------------------------------- refund abuse


def test_three_full_refunds_flag_the_user_for_review_without_revoking(parity, users):
    t0 = int(time.time()) - 300
    # GIVEN a user with a paid subscription that is never refunded
    kept = stripe_ids()
    kept_purchase = stripe_subscribed(parity, users.a, kept, t0)
    kept_before = parity.read(users.a)["entitlements"]["pro"]
    assert kept_before["active"] is True

    # WHEN three other paid subscriptions of theirs are fully refunded, one after another
    for n in range(3):
        ids = stripe_ids()
        start = t0 + 10 * (n + 1)
        stripe_subscribed(parity, users.a, ids, start)
        full = s.charge(ids.charge, ids.payment_intent, amount=999, amount_refunded=999, customer=ids.customer)
        parity.deliver(stripe_event("charge.refunded", full, start + 3))
        assert [p["state"] for p in parity.read(users.a)["purchases"] if p["purchaseId"] == f"stripe:{ids.sub}"] == [
            "revoked"
        ]
        refund_abuse = parity.admin_report(users.a)["flags"]["refundAbuse"]
        assert (refund_abuse["refunds"], refund_abuse["flagged"]) == (n + 1, n == 2), refund_abuse

    # THEN the user is flagged for review (report, change event) ...
    flag = parity.admin_report(users.a)["flags"]["refundAbuse"]
    assert flag["flagged"] is True and flag["flaggedAt"] and (flag["refunds"], flag["threshold"]) == (3, 3)
    events = wait_until(lambda: parity.bus_events(FLAGGED, users.a))
    assert len({e["changeId"] for e in events}) == 1, events  # once (redeliveries keep the changeId)
    assert (events[0]["userId"], events[0]["refunds"], events[0]["threshold"]) == (users.a, 3, 3)

    # ... and the unrefunded purchase still gives access, unchanged
    entitlement = parity.read(users.a)["entitlements"]["pro"]
    assert entitlement == kept_before and entitlement["purchaseId"] == kept_purchase
    [kept_row] = [p for p in parity.read(users.a)["purchases"] if p["purchaseId"] == kept_purchase]
    assert (kept_row["state"], kept_row["ownership"]) == ("active", "owner")


def test_refunds_and_chargebacks_count_across_stores(parity, users, apple_signer):
    t0 = int(time.time()) - 300
    # a Stripe refund, a Stripe chargeback (dispute), an App Store refund
    refunded, disputed = stripe_ids(), stripe_ids()
    stripe_subscribed(parity, users.a, refunded, t0)
    full = s.charge(
        refunded.charge, refunded.payment_intent, amount=999, amount_refunded=999, customer=refunded.customer
    )
    parity.deliver(stripe_event("charge.refunded", full, t0 + 3))
    stripe_subscribed(parity, users.a, disputed, t0 + 10)
    dispute = s.dispute(disputed.dispute, disputed.charge, disputed.payment_intent)
    parity.deliver(stripe_event("charge.dispute.created", dispute, t0 + 13))
    assert parity.admin_report(users.a)["flags"]["refundAbuse"]["flagged"] is False

    token = parity.read(users.a)["appAccountToken"]
    transaction = storekit_transaction(apple_signer, token)
    parity.deliver_apple(apple_notification(apple_signer, transaction, token), apple_signer)
    now = whole_second(apple.now_ms())
    refund = {**transaction, "revocationDate": now - 1000, "revocationReason": 0}
    outcome = parity.deliver_apple(apple_notification(apple_signer, refund, token, "REFUND", None, now), apple_signer)
    assert outcome["outcome"] == "applied", outcome

    flag = parity.admin_report(users.a)["flags"]["refundAbuse"]
    assert (flag["flagged"], flag["refunds"]) == (True, 3), flag
    wait_until(lambda: parity.bus_events(FLAGGED, users.a))


# ---------------------------------------------------------------------------------- double billing


def test_paying_for_one_entitlement_in_two_stores_is_reported(parity, users, apple_signer):
    t0 = int(time.time()) - 300
    # GIVEN a Stripe subscription to pro
    stripe_purchase = stripe_subscribed(parity, users.a, stripe_ids(), t0)
    assert parity.admin_report(users.a)["flags"]["doubleBilling"] == []

    # WHEN the same user also subscribes to pro on the App Store
    app_purchase, _ = apple_subscribed(parity, apple_signer, users.a)

    # THEN the operator's report lists both purchases, and the change bus says so
    both = sorted([stripe_purchase, app_purchase])
    assert parity.admin_report(users.a)["flags"]["doubleBilling"] == [{"entitlement": "pro", "purchaseIds": both}]
    events = wait_until(lambda: parity.bus_events(DOUBLE_BILLING, users.a))
    assert len({e["changeId"] for e in events}) == 1, events
    assert (events[0]["entitlement"], sorted(events[0]["purchaseIds"])) == ("pro", both)
    # access is unchanged by the detection
    assert parity.read(users.a)["entitlements"]["pro"]["active"] is True


# ------------------------------------------------------------------------------- events in report


def test_the_report_lists_the_stored_events_behind_a_purchase(parity, users, apple_signer):
    t0 = int(time.time()) - 300
    ids = stripe_ids()
    created = stripe_event(
        "customer.subscription.created", s.subscription(ids.sub, customer=ids.customer, user_id=users.a), t0
    )
    parity.deliver(created)
    paid = stripe_event("invoice.paid", s.invoice(ids.invoice, ids.sub, customer=ids.customer), t0 + 1)
    parity.deliver(paid)
    app_purchase, apple_outcome = apple_subscribed(parity, apple_signer, users.a)

    report = parity.admin_report(users.a)
    rows = {p["purchaseId"]: p for p in report["purchases"]}
    stripe_events = {(e["source"], e["eventId"]): e for e in rows[f"stripe:{ids.sub}"]["events"]}
    assert {("stripe", created["id"]), ("stripe", paid["id"])} <= set(stripe_events)
    event = stripe_events[("stripe", created["id"])]
    assert (event["eventType"], event["outcome"]) == ("customer.subscription.created", "applied")
    assert event["receivedAt"] and event["processedAt"]
    app_events = {(e["source"], e["eventId"]) for e in rows[app_purchase]["events"]}
    assert ("app_store", apple_outcome["eventId"]) in app_events
    # the claim behind each purchase names its event
    claimed = {(c["purchaseId"], c["source"], c["eventId"]) for c in report["claims"] if c["action"] == "claimed"}
    assert (f"stripe:{ids.sub}", "stripe", created["id"]) in claimed
    assert (app_purchase, "app_store", apple_outcome["eventId"]) in claimed


# ----------------------------------------------------------------------- several audit lines at once


def test_merging_users_who_pay_in_two_stores_reports_double_billing(parity, users, apple_signer):
    """The very case merges exist for: one person subscribed on iOS with one account, on the web with
    another (the merge and the double billing are two audit lines of one user in one commit)."""
    old, merged = users.a, users.b
    app_purchase, _ = apple_subscribed(parity, apple_signer, old)
    stripe_purchase = stripe_subscribed(parity, merged, stripe_ids(), int(time.time()) - 300)

    reply = parity.merge(merged, old)

    assert reply.status == 200, reply.raw
    both = sorted([app_purchase, stripe_purchase])
    assert sorted(purchase_ids(parity.read(old))) == both
    assert parity.admin_report(merged)["flags"]["doubleBilling"] == [{"entitlement": "pro", "purchaseIds": both}]


def test_a_purchase_double_billing_two_entitlements_is_applied_and_reported(parity, users, play_api):
    """A Stripe subscription to `price_lifetime` (pro + lifetime), then a Play lifetime product (pro +
    lifetime): double billing of two entitlements detected by one event."""
    stripe_purchase = stripe_subscribed(
        parity, users.a, stripe_ids(), int(time.time()) - 300, price="price_lifetime", product="prod_lifetime"
    )
    account = parity.read(users.a)["appAccountToken"]
    token = push.purchase_token()
    play_api.add_product(token, product_id=PLAY_LIFETIME, obfuscatedExternalAccountId=account, acknowledgementState=1)
    message_id = push.new_message_id()
    reply = parity.post_google(
        push.push_body(push.one_time_product_notification(token, 1, sku=PLAY_LIFETIME), message_id=message_id)
    )
    assert reply.status == 200, reply.raw

    def processed():
        stored = parity.stored_event(message_id, "play_store")
        return stored.status == 200 and stored.json.get("processedAt") and stored.json

    wait_until(processed, timeout=3)
    assert f"play_store:{token}" in purchase_ids(parity.read(users.a))
    both = sorted([stripe_purchase, f"play_store:{token}"])
    assert parity.admin_report(users.a)["flags"]["doubleBilling"] == [
        {"entitlement": "lifetime", "purchaseIds": both},
        {"entitlement": "pro", "purchaseIds": both},
    ]


# ------------------------------------------------------------------- claims honour verified links


def test_a_transaction_carrying_another_users_token_is_refused_and_takes_nothing(parity, users, apple_signer, play_api):
    # GIVEN user A's App Store and Play purchases, bought with A's appAccountToken, claimed by A
    token = parity.read(users.a)["appAccountToken"]
    receipt = {"store": "app_store", "signedTransaction": apple_signer.sign(storekit_transaction(apple_signer, token))}
    assert parity.submit_receipt(users.a, receipt).status == 200
    play_token = push.purchase_token()
    play_api.add_subscription(
        play_token, product_id=PLAY_MONTHLY, externalAccountIdentifiers={"obfuscatedExternalAccountId": token}
    )
    play = {"store": "play_store", "packageName": PLAY_PACKAGE, "productId": PLAY_MONTHLY, "purchaseToken": play_token}
    assert parity.submit_receipt(users.a, play).status == 200

    # WHEN user B posts them (the default strategy, LAST, would hand an unlinked purchase over)
    answers = [parity.submit_receipt(users.b, body) for body in (receipt, play)]

    # THEN both are refused, A keeps access, and B has nothing
    for answer in answers:
        answer.assert_error(409, OWNED_BY_ANOTHER)
    assert has_access(parity, users.a) and not has_access(parity, users.b)
    assert parity.read(users.b)["purchases"] == []
