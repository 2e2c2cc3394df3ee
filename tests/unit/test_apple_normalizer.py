"""App Store notifications and transactions → normalized facts (`parity.domain.apple`), on Apple's shapes.

Every notification type and subtype of App Store Server Notifications V2 is mapped; unknown ones are
kept raw with a warning; the ordering rule (`apply_update`) turns the facts into the purchase.
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from parity.domain import apple
from parity.domain.apple import (
    NOTIFICATION_SUBTYPES,
    AppleFacts,
    VerifiedNotification,
    normalize,
    normalize_transaction,
)
from parity.domain.catalog import Catalog
from parity.domain.entitlements import compute_entitlements
from parity.domain.errors import StaleEventError
from parity.domain.model import Delivery, Revocation, State, Store
from parity.domain.purchases import apply_update
from tests.support import apple_payloads as ap
from tests.support.apple_payloads import HOUR_MS, at, moment

TOKEN_USERS = {ap.TOKEN: "u_1"}


def fold(*notifications, start=None):
    """Normalize each notification and apply it (stale ones skipped), as the processor does."""
    purchase = start
    for item in notifications:
        facts = item if isinstance(item, AppleFacts) else normalize(item)
        if not facts.concerns_purchase:
            continue
        try:
            purchase = apply_update(purchase, facts.update_for(TOKEN_USERS.get(facts.claim_token)))
        except StaleEventError:
            pass
    return purchase


# --------------------------------------------------------------------------- every type and subtype

T1 = "2000000000000002"  # the first transaction: bought at day 0, runs to day 30
T2 = "2000000000000003"  # its renewal: day 30 to day 60


def _first(**fields):
    return ap.transaction(T1, purchase=at(0), **fields)


def _renewed(**fields):
    fields.setdefault("reason", "RENEWAL")
    return ap.transaction(T2, purchase=at(30), **fields)


def _case(notification_type, subtype=None, transaction=None, renewal=None, signed=None, **data):
    return ap.notification(
        notification_type,
        subtype,
        transaction=transaction if transaction is not None else _first(),
        renewal=renewal if renewal is not None else ap.renewal(),
        signed=signed if signed is not None else at(1),
        **data,
    )


ACTIVE_TO_DAY_30 = (State.ACTIVE, at(30), None)
NO_SNAPSHOT = None

# (type, subtype) → the notification, and what it must give: (store state, expiresDate, grace end) of
# its snapshot (None: no snapshot), whether its revocation is active (None: no revocation), and
# whether it concerns a purchase at all.
MAPPING = [
    ("SUBSCRIBED", "INITIAL_BUY", lambda: _case("SUBSCRIBED", "INITIAL_BUY", signed=at(0)), ACTIVE_TO_DAY_30),
    ("SUBSCRIBED", "RESUBSCRIBE", lambda: _case("SUBSCRIBED", "RESUBSCRIBE"), ACTIVE_TO_DAY_30),
    (
        "DID_RENEW",
        None,
        lambda: _case("DID_RENEW", transaction=_renewed(), signed=at(30)),
        (State.ACTIVE, at(60), None),
    ),
    (
        "DID_RENEW",
        "BILLING_RECOVERY",
        lambda: _case(
            "DID_RENEW",
            "BILLING_RECOVERY",
            transaction=ap.transaction(T2, purchase=at(35), reason="RENEWAL"),
            signed=at(35),
        ),
        (State.ACTIVE, at(65), None),
    ),
    (
        "DID_CHANGE_RENEWAL_STATUS",
        "AUTO_RENEW_ENABLED",
        lambda: _case("DID_CHANGE_RENEWAL_STATUS", "AUTO_RENEW_ENABLED"),
        ACTIVE_TO_DAY_30,
    ),
    (
        "DID_CHANGE_RENEWAL_STATUS",
        "AUTO_RENEW_DISABLED",
        lambda: _case("DID_CHANGE_RENEWAL_STATUS", "AUTO_RENEW_DISABLED", renewal=ap.renewal(auto_renew=0)),
        ACTIVE_TO_DAY_30,
    ),
    (
        "DID_CHANGE_RENEWAL_PREF",
        "UPGRADE",
        lambda: _case(
            "DID_CHANGE_RENEWAL_PREF",
            "UPGRADE",
            transaction=ap.transaction(T2, product_id=ap.YEARLY, purchase=at(1), expires=at(366)),
            renewal=ap.renewal(product_id=ap.YEARLY),
        ),
        (State.ACTIVE, at(366), None),
    ),
    (
        "DID_CHANGE_RENEWAL_PREF",
        "DOWNGRADE",
        lambda: _case(
            "DID_CHANGE_RENEWAL_PREF",
            "DOWNGRADE",
            transaction=_first(product_id=ap.YEARLY),
            renewal=ap.renewal(product_id=ap.YEARLY, auto_renew_product_id=ap.MONTHLY),
        ),
        ACTIVE_TO_DAY_30,
    ),
    ("DID_CHANGE_RENEWAL_PREF", None, lambda: _case("DID_CHANGE_RENEWAL_PREF"), ACTIVE_TO_DAY_30),
    ("OFFER_REDEEMED", None, lambda: _case("OFFER_REDEEMED", transaction=_first(offer_type=2)), ACTIVE_TO_DAY_30),
    ("OFFER_REDEEMED", "INITIAL_BUY", lambda: _case("OFFER_REDEEMED", "INITIAL_BUY"), ACTIVE_TO_DAY_30),
    ("OFFER_REDEEMED", "RESUBSCRIBE", lambda: _case("OFFER_REDEEMED", "RESUBSCRIBE"), ACTIVE_TO_DAY_30),
    ("OFFER_REDEEMED", "UPGRADE", lambda: _case("OFFER_REDEEMED", "UPGRADE"), ACTIVE_TO_DAY_30),
    ("OFFER_REDEEMED", "DOWNGRADE", lambda: _case("OFFER_REDEEMED", "DOWNGRADE"), ACTIVE_TO_DAY_30),
    (
        "DID_FAIL_TO_RENEW",
        "GRACE_PERIOD",
        lambda: _case(
            "DID_FAIL_TO_RENEW",
            "GRACE_PERIOD",
            renewal=ap.renewal(retrying=True, grace_expires=at(46)),
            signed=at(30) + HOUR_MS,
            status=4,
        ),
        (State.GRACE_PERIOD, at(30), at(46)),
    ),
    (
        "DID_FAIL_TO_RENEW",
        None,
        lambda: _case("DID_FAIL_TO_RENEW", renewal=ap.renewal(retrying=True), signed=at(30) + HOUR_MS, status=3),
        (State.BILLING_RETRY, at(30), None),
    ),
    (
        "GRACE_PERIOD_EXPIRED",
        None,
        lambda: _case(
            "GRACE_PERIOD_EXPIRED",
            renewal=ap.renewal(retrying=True, grace_expires=at(46)),
            signed=at(46) + HOUR_MS,
            status=3,
        ),
        (State.BILLING_RETRY, at(30), None),
    ),
    *[
        (
            "EXPIRED",
            subtype,
            lambda subtype=subtype, intent=intent: _case(
                "EXPIRED",
                subtype,
                renewal=ap.renewal(auto_renew=0, expiration_intent=intent),
                signed=at(30) + HOUR_MS,
                status=2,
            ),
            (State.EXPIRED, at(30), None),
        )
        for subtype, intent in [
            ("VOLUNTARY", 1),
            ("BILLING_RETRY", 2),
            ("PRICE_INCREASE", 3),
            ("PRODUCT_NOT_FOR_SALE", 4),
        ]
    ],
    *[
        (
            "PRICE_INCREASE",
            subtype,
            lambda subtype=subtype, consent=consent: _case(
                "PRICE_INCREASE", subtype, renewal=ap.renewal(priceIncreaseStatus=consent)
            ),
            ACTIVE_TO_DAY_30,
        )
        for subtype, consent in [("PENDING", 0), ("ACCEPTED", 1)]
    ],
    (
        "REFUND",
        None,
        lambda: _case("REFUND", transaction=_first(revoked=at(10), revocation_reason=1), signed=at(10)),
        NO_SNAPSHOT,
    ),
    ("REFUND_DECLINED", None, lambda: _case("REFUND_DECLINED", signed=at(10)), NO_SNAPSHOT),
    ("REFUND_REVERSED", None, lambda: _case("REFUND_REVERSED", signed=at(12)), NO_SNAPSHOT),
    (
        "REVOKE",
        None,
        lambda: _case(
            "REVOKE",
            transaction=_first(ownership="FAMILY_SHARED", token=None, revoked=at(10)),
            signed=at(10),
        ),
        NO_SNAPSHOT,
    ),
    (
        "CONSUMPTION_REQUEST",
        None,
        lambda: _case("CONSUMPTION_REQUEST", signed=at(5), consumptionRequestReason="UNINTENDED_PURCHASE"),
        NO_SNAPSHOT,
    ),
    (
        "RENEWAL_EXTENDED",
        None,
        lambda: _case("RENEWAL_EXTENDED", transaction=_first(expires=at(37)), signed=at(20)),
        (State.ACTIVE, at(37), None),
    ),
    ("RENEWAL_EXTENSION", "SUMMARY", ap.summary_notification, "no purchase"),
    (
        "RENEWAL_EXTENSION",
        "FAILURE",
        lambda: _case("RENEWAL_EXTENSION", "FAILURE"),
        ACTIVE_TO_DAY_30,
    ),
    (
        "ONE_TIME_CHARGE",
        None,
        lambda: _case(
            "ONE_TIME_CHARGE",
            transaction=ap.transaction(
                "2000000000000100",
                original_transaction_id="2000000000000100",
                product_id=ap.LIFETIME,
                product_type=ap.NON_CONSUMABLE,
            ),
            renewal={},
        ),
        (State.ACTIVE, None, None),
    ),
    ("METADATA_UPDATE", None, lambda: _case("METADATA_UPDATE"), ACTIVE_TO_DAY_30),
    ("MIGRATION", None, lambda: _case("MIGRATION"), ACTIVE_TO_DAY_30),
    ("PRICE_CHANGE", None, lambda: _case("PRICE_CHANGE"), ACTIVE_TO_DAY_30),
    *[
        ("EXTERNAL_PURCHASE_TOKEN", subtype, lambda subtype=subtype: ap.external_purchase_token_notification(subtype),
         "no purchase")
        for subtype in ("UNREPORTED", "ACTIVE_TOKEN_REMINDER", "CREATED")
    ],
    ("RESCIND_CONSENT", None, ap.rescind_consent_notification, "no purchase"),
    ("TEST", None, ap.test_notification, "no purchase"),
]

REVOCATIONS = {"REFUND": True, "REVOKE": True, "REFUND_REVERSED": False}


@pytest.mark.parametrize(
    ("notification_type", "subtype", "build", "expected"),
    MAPPING,
    ids=[f"{t}/{s}" if s else t for t, s, _, _ in MAPPING],
)
def test_every_notification_type_and_subtype_maps_as_the_table_says(notification_type, subtype, build, expected):
    # GIVEN a verified notification of that type and subtype, with Apple's facts for it
    notification = build()

    # WHEN it is normalized
    facts = normalize(notification)

    # THEN it concerns the purchase (or none), with the state of the table
    assert (facts.event_type, facts.subtype) == (notification_type, subtype)
    assert facts.warnings == ()
    if expected == "no purchase":
        assert not facts.concerns_purchase and facts.snapshot is None and facts.revocation is None
        with pytest.raises(ValueError):
            facts.update_for()
        return
    assert facts.concerns_purchase
    if expected is NO_SNAPSHOT:
        assert facts.snapshot is None
    else:
        state, expires, grace = expected
        snapshot = facts.snapshot
        assert (snapshot.store_state, snapshot.expires_at, snapshot.grace_ends_at) == (
            state,
            moment(expires) if expires else None,
            moment(grace) if grace else None,
        )
        assert snapshot.as_of == moment(notification.payload["signedDate"])
        assert snapshot.raw_state == (f"{notification_type}/{subtype}" if subtype else notification_type)
    active = REVOCATIONS.get(notification_type)
    assert (facts.revocation.active if facts.revocation else None) is active


def test_the_mapping_covers_every_documented_type_and_subtype():
    documented = {
        "SUBSCRIBED", "DID_RENEW", "DID_CHANGE_RENEWAL_STATUS", "DID_CHANGE_RENEWAL_PREF", "OFFER_REDEEMED",
        "DID_FAIL_TO_RENEW", "GRACE_PERIOD_EXPIRED", "EXPIRED", "PRICE_INCREASE", "REFUND", "REFUND_DECLINED",
        "REFUND_REVERSED", "REVOKE", "CONSUMPTION_REQUEST", "RENEWAL_EXTENDED", "RENEWAL_EXTENSION",
        "ONE_TIME_CHARGE", "METADATA_UPDATE", "MIGRATION", "PRICE_CHANGE", "EXTERNAL_PURCHASE_TOKEN",
        "RESCIND_CONSENT", "TEST",
    }  # fmt: skip
    assert set(NOTIFICATION_SUBTYPES) == documented
    table = {(t, s) for t, subtypes in NOTIFICATION_SUBTYPES.items() for s in subtypes}
    assert {(t, s) for t, s, _, _ in MAPPING} == table
    # each type has exactly one role: a snapshot of the purchase, a fact about one transaction, or none
    roles = [apple.SNAPSHOT_TYPES, apple.TRANSACTION_TYPES, apple.NO_PURCHASE_TYPES]
    assert all(sum(t in role for role in roles) == 1 for t in documented)


# --------------------------------------------------------------------------- identity, claim, environment


def test_the_purchase_is_keyed_by_the_original_transaction_and_exposes_the_app_account_token():
    facts = normalize(_case("DID_RENEW", transaction=_renewed(), signed=at(30)))

    assert (facts.original_transaction_id, facts.transaction_id) == (ap.ORIGINAL, T2)
    assert facts.purchase_id == f"app_store:{ap.ORIGINAL}" and facts.routing_key == ap.ORIGINAL
    assert facts.app_account_token == ap.TOKEN and facts.claim_token == ap.TOKEN
    assert (facts.product_id, facts.product_refs, facts.product_type) == (ap.MONTHLY, (ap.MONTHLY,), ap.AUTO_RENEWABLE)
    assert facts.bundle_id == ap.BUNDLE_ID and facts.app_transaction_id == "704341234567890123"
    assert facts.occurred_at == moment(at(30))


def test_the_update_carries_the_user_the_service_resolved_from_the_token():
    # GIVEN the facts of a purchase, the service having mapped its token to Parity user u_1
    facts = normalize(_case("SUBSCRIBED", "INITIAL_BUY", signed=at(0)))

    # WHEN it builds the update
    update = facts.update_for(TOKEN_USERS[facts.claim_token])

    # THEN the update claims the App Store purchase for that user, with Apple's facts
    assert (update.store, update.store_key, update.claimant) == (Store.APP_STORE, ap.ORIGINAL, "u_1")
    assert update.purchase_id == f"app_store:{ap.ORIGINAL}"
    assert (update.event_id, update.occurred_at) == (facts.event_id, moment(at(0)))
    assert update.snapshot == facts.snapshot and update.product_refs == (ap.MONTHLY,)
    assert fold(facts).owner_ids == ()  # apply_update leaves ownership to decide_claim (the service)


def test_a_notification_without_a_token_is_kept_unclaimed():
    facts = normalize(_case("SUBSCRIBED", "INITIAL_BUY", transaction=_first(token=None), renewal=ap.renewal()))
    assert (facts.app_account_token, facts.claim_token) == (None, None)
    assert facts.update_for().claimant is None and facts.snapshot.store_state is State.ACTIVE


def test_the_token_from_the_renewal_info_is_used_when_the_transaction_has_none():
    facts = normalize(_case("DID_RENEW", transaction=_renewed(token=None), renewal=ap.renewal(appAccountToken="t-2")))
    assert facts.app_account_token == "t-2"


@pytest.mark.parametrize(
    ("raw", "environment"),
    [("Production", "production"), ("Sandbox", "sandbox"), ("Xcode", "xcode"), ("LocalTesting", "local_testing")],
)
def test_the_environment_comes_from_the_payload(raw, environment):
    facts = normalize(_case("SUBSCRIBED", "INITIAL_BUY", environment=raw))
    assert facts.environment == environment and facts.snapshot.environment == environment


def test_the_payload_environment_wins_over_the_transaction_one():
    facts = normalize(_case("DID_RENEW", transaction=_renewed(environment="Sandbox"), environment="Production"))
    assert facts.environment == "production"


def test_the_notification_signed_date_orders_the_snapshot_not_the_transaction_one():
    # GIVEN a DID_CHANGE_RENEWAL_STATUS signed on day 12 about a transaction signed on day 0
    facts = normalize(_case("DID_CHANGE_RENEWAL_STATUS", "AUTO_RENEW_DISABLED", renewal=ap.renewal(auto_renew=0),
                            signed=at(12)))

    # THEN the snapshot is as of the notification's signedDate
    assert facts.occurred_at == facts.snapshot.as_of == moment(at(12))


@pytest.mark.parametrize(
    ("auto_renew", "subtype", "will_renew"),
    [(1, "AUTO_RENEW_ENABLED", True), (0, "AUTO_RENEW_DISABLED", False), (None, "AUTO_RENEW_DISABLED", False),
     (None, "AUTO_RENEW_ENABLED", True)],
)
def test_will_renew_follows_auto_renew_status(auto_renew, subtype, will_renew):
    # (without autoRenewStatus the subtype of DID_CHANGE_RENEWAL_STATUS says it)
    facts = normalize(_case("DID_CHANGE_RENEWAL_STATUS", subtype, renewal=ap.renewal(auto_renew=auto_renew)))
    assert facts.snapshot.will_renew is will_renew and facts.will_renew is will_renew


def test_an_expired_subscription_does_not_renew_even_if_auto_renew_is_on():
    facts = normalize(_case("EXPIRED", "BILLING_RETRY", renewal=ap.renewal(auto_renew=1), signed=at(90)))
    assert facts.snapshot.will_renew is False


def test_billing_retry_keeps_the_renewal_intent():
    facts = normalize(_case("DID_FAIL_TO_RENEW", renewal=ap.renewal(retrying=True), signed=at(31)))
    assert (facts.snapshot.store_state, facts.snapshot.will_renew) == (State.BILLING_RETRY, True)


# --------------------------------------------------------------------------- trials, grace, billing retry


def test_a_free_trial_is_trialing_until_the_trial_ends():
    facts = normalize(_case("SUBSCRIBED", "INITIAL_BUY", transaction=ap.free_trial(T1), signed=at(0)))
    assert (facts.snapshot.store_state, facts.snapshot.expires_at) == (State.TRIALING, moment(at(7)))
    purchase = fold(facts)
    assert purchase.grants_access(moment(at(6))) and not purchase.grants_access(moment(at(7) + 1))


def test_a_trial_from_an_older_payload_is_an_introductory_offer_at_price_zero():
    # GIVEN a transaction from before offerDiscountType existed
    trial = ap.free_trial(T1)
    del trial["offerDiscountType"]
    assert normalize(_case("SUBSCRIBED", "INITIAL_BUY", transaction=trial)).snapshot.store_state is State.TRIALING


@pytest.mark.parametrize("discount", ["PAY_AS_YOU_GO", "PAY_UP_FRONT", "ONE_TIME"])
def test_a_paid_introductory_offer_is_active_not_trialing(discount):
    tx = _first(offer_type=1, offer_discount_type=discount, price=99)
    assert normalize(_case("SUBSCRIBED", "INITIAL_BUY", transaction=tx)).snapshot.store_state is State.ACTIVE


def test_a_trial_that_ended_is_read_like_any_lapsed_period():
    facts = normalize(_case("EXPIRED", "VOLUNTARY", transaction=ap.free_trial(T1), renewal=ap.renewal(auto_renew=0),
                            signed=at(8)))
    assert facts.snapshot.store_state is State.EXPIRED


def test_grace_period_grants_access_until_the_grace_end():
    # GIVEN a renewal failing on day 30 with a 16-day billing grace period
    in_grace = ap.renewal(retrying=True, grace_expires=at(46))
    facts = normalize(_case("DID_FAIL_TO_RENEW", "GRACE_PERIOD", renewal=in_grace, signed=at(30)))

    # WHEN applied
    purchase = fold(facts)

    # THEN the purchase is in grace, gracePeriodExpiresAt = Apple's gracePeriodExpiresDate, access until then
    assert (purchase.state, purchase.expires_at, purchase.grace_ends_at) == (
        State.GRACE_PERIOD,
        moment(at(30)),
        moment(at(46)),
    )
    assert purchase.grants_access(moment(at(45))) and not purchase.grants_access(moment(at(46) + 1))
    # AND once the grace end has passed with no news, reads show Apple's billing retry (as GRACE_PERIOD_EXPIRED would)
    assert purchase.state_at(moment(at(45))) is State.GRACE_PERIOD
    assert purchase.state_at(moment(at(46) + 1)) is State.BILLING_RETRY


def test_grace_is_read_from_the_facts_whatever_the_notification():
    # GIVEN the customer turning auto-renew off while in grace (Apple's facts: lapsed period, grace ahead)
    facts = normalize(_case("DID_CHANGE_RENEWAL_STATUS", "AUTO_RENEW_DISABLED",
                            renewal=ap.renewal(auto_renew=0, retrying=True, grace_expires=at(46)), signed=at(35)))
    assert (facts.snapshot.store_state, facts.snapshot.grace_ends_at) == (State.GRACE_PERIOD, moment(at(46)))


def test_a_grace_end_already_past_is_billing_retry():
    facts = normalize(_case("DID_CHANGE_RENEWAL_STATUS", "AUTO_RENEW_ENABLED",
                            renewal=ap.renewal(retrying=True, grace_expires=at(46)), signed=at(50)))
    assert (facts.snapshot.store_state, facts.snapshot.grace_ends_at) == (State.BILLING_RETRY, None)


def test_grace_period_expired_is_billing_retry_without_access():
    # GIVEN the contract: Apple GRACE_PERIOD_EXPIRED → billing_retry
    purchase = fold(_case("GRACE_PERIOD_EXPIRED", renewal=ap.renewal(retrying=True, grace_expires=at(46)),
                          signed=at(46)))
    assert purchase.state is State.BILLING_RETRY and not purchase.grants_access(moment(at(46)))


def test_a_failed_renewal_signed_before_the_period_ends_keeps_the_paid_period():
    # GIVEN a DID_FAIL_TO_RENEW (no grace) signed a few hours before the paid period ends
    facts = normalize(_case("DID_FAIL_TO_RENEW", renewal=ap.renewal(retrying=True), signed=at(30) - 5 * HOUR_MS))

    # THEN the customer keeps what they paid for until its end, and no longer after it
    purchase = fold(facts)
    assert purchase.state is State.ACTIVE
    assert purchase.grants_access(moment(at(30) - 1)) and not purchase.grants_access(moment(at(30)))


def test_a_lapsed_period_out_of_retry_is_expired():
    facts = normalize(_case("DID_CHANGE_RENEWAL_STATUS", "AUTO_RENEW_DISABLED", renewal=ap.renewal(auto_renew=0),
                            signed=at(31)))
    assert facts.snapshot.store_state is State.EXPIRED


def test_did_fail_to_renew_with_grace_but_no_grace_date_is_grace_with_an_unknown_end():
    facts = normalize(_case("DID_FAIL_TO_RENEW", "GRACE_PERIOD", renewal=ap.renewal(retrying=True), signed=at(30)))
    assert (facts.snapshot.store_state, facts.snapshot.grace_ends_at) == (State.GRACE_PERIOD, None)
    assert any("gracePeriodExpiresDate" in w for w in facts.warnings)


def test_a_subscription_status_that_disagrees_with_the_facts_is_reported():
    facts = normalize(_case("DID_RENEW", transaction=_renewed(), signed=at(30), status=2))
    assert facts.snapshot.store_state is State.ACTIVE  # the facts win
    assert any("status 2" in w for w in facts.warnings)


# --------------------------------------------------------------------------- refunds and revocations


def _subscribed():
    return _case("SUBSCRIBED", "INITIAL_BUY", signed=at(0))


def _renew(number: int, signed_day: float | None = None, **fields):
    """The renewal number `number` (1: days 30-60), its DID_RENEW signed at the period start."""
    start = 30 * number
    tx = ap.transaction(f"20000000000001{number:02d}", purchase=at(start), reason="RENEWAL", **fields)
    return _case("DID_RENEW", transaction=tx, signed=at(start if signed_day is None else signed_day))


def _refund(number: int, day: float):
    start = 30 * number
    tx = ap.transaction(f"20000000000001{number:02d}", purchase=at(start), revoked=at(day), reason="RENEWAL")
    return _case("REFUND", transaction=tx, signed=at(day))


def _reversal(number: int, day: float):
    start = 30 * number
    tx = ap.transaction(f"20000000000001{number:02d}", purchase=at(start), reason="RENEWAL")
    return _case("REFUND_REVERSED", transaction=tx, signed=at(day))


def test_a_refund_revokes_the_refunded_period():
    facts = normalize(_refund(1, 40))
    assert facts.revocation == Revocation("transaction:2000000000000101", moment(at(60)), True, moment(at(40)))
    assert facts.snapshot is None  # an auto-renewable refund may name an older transaction: no snapshot
    purchase = fold(_subscribed(), _renew(1), facts)
    assert purchase.state is State.REVOKED and not purchase.grants_access(moment(at(41)))


def test_a_late_did_renew_does_not_reinstate_a_refunded_transaction_and_a_later_renewal_does():
    # GIVEN a renewal (day 30-60) refunded on day 40
    renewed, refunded = _renew(1), _refund(1, 40)

    # WHEN the refund arrives before the DID_RENEW of the same transaction
    after_late_renew = fold(_subscribed(), refunded, renewed)

    # THEN the late DID_RENEW does not reinstate it
    assert after_late_renew.state is State.REVOKED
    assert not after_late_renew.grants_access(moment(at(45)))

    # AND a later renewal (a new transaction ending later) lifts the revocation
    reinstated = fold(_renew(2), start=after_late_renew)
    assert (reinstated.state, reinstated.expires_at) == (State.ACTIVE, moment(at(90)))
    assert reinstated.grants_access(moment(at(61)))


def test_a_refund_of_an_older_period_does_not_revoke_the_current_one():
    purchase = fold(_subscribed(), _renew(1), _renew(2), _refund(1, 70))
    assert purchase.state is State.ACTIVE and purchase.grants_access(moment(at(75)))
    assert purchase.revocations[0].active  # recorded all the same


def test_a_refund_reversed_reinstates_the_period_in_either_order():
    events = [_subscribed(), _renew(1), _refund(1, 40), _reversal(1, 45)]
    in_order, reversal_first = fold(*events), fold(events[0], events[1], events[3], events[2])
    for purchase in (in_order, reversal_first):
        assert purchase.state is State.ACTIVE and purchase.grants_access(moment(at(50)))
        assert {(r.ref, r.active) for r in purchase.revocations} == {("transaction:2000000000000101", False)}


def test_a_notification_carrying_a_revoked_transaction_revokes_it_too():
    # GIVEN Apple turning auto-renew off after the refund: its latest transaction is the refunded one
    tx = ap.transaction("2000000000000101", purchase=at(30), revoked=at(40), reason="RENEWAL")
    disabled = _case("DID_CHANGE_RENEWAL_STATUS", "AUTO_RENEW_DISABLED", transaction=tx,
                     renewal=ap.renewal(auto_renew=0), signed=at(40) + 1000)

    facts = normalize(disabled)

    # THEN its snapshot says what the period is and its revocation says it is revoked
    assert facts.snapshot.store_state is State.ACTIVE
    assert facts.revocation == Revocation("transaction:2000000000000101", moment(at(60)), True, moment(at(40) + 1000))
    purchase = fold(_subscribed(), _renew(1), disabled)
    assert purchase.state is State.REVOKED
    # AND a reversal signed later still lifts it, whatever the order
    assert fold(_subscribed(), _renew(1), _reversal(1, 45), disabled).state is State.ACTIVE


def test_refund_declined_and_consumption_request_change_no_state():
    start = fold(_subscribed(), _renew(1))
    for notification in (_case("REFUND_DECLINED", signed=at(41)), _case("CONSUMPTION_REQUEST", signed=at(41))):
        facts = normalize(notification)
        assert (facts.snapshot, facts.revocation) == (None, None)
        assert fold(facts, start=start) == start


def test_a_consumption_request_exposes_its_reason():
    facts = normalize(_case("CONSUMPTION_REQUEST", consumptionRequestReason="UNINTENDED_PURCHASE"))
    assert facts.consumption_request_reason == "UNINTENDED_PURCHASE"


def test_a_refund_as_the_first_notification_keeps_the_purchase_revoked_with_its_product():
    purchase = fold(_refund(1, 40))
    assert purchase.state is State.REVOKED and purchase.product_id == ap.MONTHLY
    assert fold(_renew(1), start=purchase).state is State.REVOKED  # its late DID_RENEW
    assert fold(_renew(2), start=purchase).state is State.ACTIVE


def test_revocation_reason_is_exposed():
    assert normalize(_refund(1, 40)).revocation_reason == 0


# --------------------------------------------------------------------------- family sharing


def test_a_family_shared_transaction_is_flagged_and_never_claims_with_a_token():
    # GIVEN a family member's transaction (Apple gives family members their own transactions)
    tx = ap.transaction("2000000000000900", original_transaction_id="2000000000000900", ownership="FAMILY_SHARED",
                        token="purchaser-token")
    facts = normalize(_case("SUBSCRIBED", "INITIAL_BUY", transaction=tx,
                            renewal=ap.renewal(original_transaction_id="2000000000000900")))

    # THEN it grants like any subscription, is flagged, and its token (if any) claims nothing
    assert (facts.family_shared, facts.ownership_type) == (True, "FAMILY_SHARED")
    assert facts.app_account_token == "purchaser-token" and facts.claim_token is None
    assert facts.snapshot.store_state is State.ACTIVE and facts.purchase_key == "2000000000000900"


def test_revoke_ends_a_family_members_access():
    tx = _first(ownership="FAMILY_SHARED", token=None)
    revoked = _first(ownership="FAMILY_SHARED", token=None, revoked=at(10))
    purchase = fold(_case("SUBSCRIBED", "INITIAL_BUY", transaction=tx, signed=at(0)),
                    _case("REVOKE", transaction=revoked, signed=at(10)))
    assert purchase.state is State.REVOKED and not purchase.grants_access(moment(at(11)))


# --------------------------------------------------------------------------- one-time purchases


def _one_time(product_type, product_id, transaction_id="2000000000000500", **fields):
    return ap.transaction(transaction_id, original_transaction_id=transaction_id, product_id=product_id,
                          product_type=product_type, purchase=at(3), **fields)


def test_a_non_consumable_grants_without_end():
    facts = normalize(_case("ONE_TIME_CHARGE", transaction=_one_time(ap.NON_CONSUMABLE, ap.LIFETIME), renewal={},
                            signed=at(3)))
    purchase = fold(facts)
    assert (purchase.state, purchase.expires_at, purchase.will_renew) == (State.ACTIVE, None, False)
    assert purchase.grants_access(moment(at(10_000))) and facts.grants_entitlements


def test_a_refunded_non_consumable_is_revoked_and_a_reversal_restores_it():
    bought = _case("ONE_TIME_CHARGE", transaction=_one_time(ap.NON_CONSUMABLE, ap.LIFETIME), renewal={}, signed=at(3))
    refund = _case("REFUND", transaction=_one_time(ap.NON_CONSUMABLE, ap.LIFETIME, revoked=at(9)), renewal={},
                   signed=at(9))
    reversal = _case("REFUND_REVERSED", transaction=_one_time(ap.NON_CONSUMABLE, ap.LIFETIME), renewal={},
                     signed=at(12))

    assert normalize(refund).revocation.covers_until is None  # the whole purchase
    assert normalize(refund).snapshot is not None  # a one-time transaction is its whole purchase
    assert fold(bought, refund).state is State.REVOKED
    assert fold(refund, bought).state is State.REVOKED
    assert fold(bought, reversal, refund).state is State.ACTIVE


def test_a_consumable_is_recorded_but_grants_nothing():
    # GIVEN a consumable bought on day 3, whose product the catalog (wrongly) maps to an entitlement
    facts = normalize(_case("ONE_TIME_CHARGE", transaction=_one_time(ap.CONSUMABLE, ap.COINS, quantity=3), renewal={},
                            signed=at(3)))

    # WHEN it is applied
    purchase = fold(facts)

    # THEN it is recorded (expired at its purchase, a consumable, delivered once) and grants no entitlement
    assert facts.grants_entitlements is False and facts.quantity == 3
    assert (purchase.state, purchase.expires_at, purchase.product_id) == (State.EXPIRED, moment(at(3)), ap.COINS)
    assert purchase.consumable and facts.delivery == Delivery(facts.transaction_id, 3, moment(at(3)))
    assert compute_entitlements([purchase], Catalog({ap.COINS: ("coins",)}), moment(at(3))) == {}


def test_a_refunded_consumable_is_revoked_in_either_order():
    bought = _case("ONE_TIME_CHARGE", transaction=_one_time(ap.CONSUMABLE, ap.COINS), renewal={}, signed=at(3))
    refund = _case("REFUND", transaction=_one_time(ap.CONSUMABLE, ap.COINS, revoked=at(5)), renewal={}, signed=at(5))
    one, other = fold(bought, refund), fold(refund, bought)
    assert one.state is other.state is State.REVOKED and set(one.revocations) == set(other.revocations)


def test_a_non_renewing_subscription_grants_until_its_expiry():
    tx = _one_time(ap.NON_RENEWING, ap.SEASON_PASS, expires=at(93))
    facts = normalize(_case("ONE_TIME_CHARGE", transaction=tx, renewal={}, signed=at(3)))
    assert (facts.snapshot.store_state, facts.snapshot.expires_at, facts.snapshot.will_renew) == (
        State.ACTIVE, moment(at(93)), False)
    assert facts.warnings == ()


def test_a_non_renewing_subscription_without_expiry_is_granted_without_end_and_reported():
    facts = normalize(_case("ONE_TIME_CHARGE", transaction=_one_time(ap.NON_RENEWING, ap.SEASON_PASS), renewal={}))
    assert (facts.snapshot.store_state, facts.snapshot.expires_at) == (State.ACTIVE, None)
    assert any("without expiresDate" in w for w in facts.warnings)


# --------------------------------------------------------------------------- upgrades and downgrades


def test_an_upgrade_switches_the_product_at_once():
    upgraded_from = _first(isUpgraded=True)
    upgrade = ap.transaction(T2, product_id=ap.YEARLY, purchase=at(10), expires=at(375))
    purchase = fold(_subscribed(), _case("DID_CHANGE_RENEWAL_PREF", "UPGRADE", transaction=upgrade, signed=at(10)))
    assert (purchase.product_id, purchase.product_refs, purchase.expires_at) == (ap.YEARLY, (ap.YEARLY,),
                                                                                 moment(at(375)))
    # a notification carrying the superseded transaction (isUpgraded) describes no longer the subscription
    assert normalize(_case("REFUND_DECLINED", transaction=upgraded_from)).snapshot is None
    assert normalize(_case("DID_RENEW", transaction=upgraded_from, signed=at(11))).snapshot is None


def test_a_downgrade_keeps_the_current_product_and_exposes_the_next_one():
    facts = normalize(_case("DID_CHANGE_RENEWAL_PREF", "DOWNGRADE", transaction=_first(product_id=ap.YEARLY),
                            renewal=ap.renewal(product_id=ap.YEARLY, auto_renew_product_id=ap.MONTHLY)))
    assert (facts.snapshot.product_id, facts.auto_renew_product_id) == (ap.YEARLY, ap.MONTHLY)


# --------------------------------------------------------------------------- unknown and malformed


def test_an_unknown_notification_type_is_kept_raw_with_a_warning_and_changes_no_state():
    facts = normalize(_case("SUBSCRIPTION_TELEPORTED", "SOMEWHERE"))
    assert (facts.event_type, facts.subtype) == ("SUBSCRIPTION_TELEPORTED", "SOMEWHERE")
    assert facts.snapshot is None and facts.concerns_purchase  # its claim and products still count
    assert len(facts.warnings) == 1 and "SUBSCRIPTION_TELEPORTED" in facts.warnings[0]


def test_an_unknown_type_with_a_revoked_transaction_still_revokes():
    facts = normalize(_case("NEW_KIND_OF_REFUND", transaction=_first(revoked=at(5)), signed=at(5)))
    assert facts.revocation is not None and facts.revocation.active


def test_an_unknown_subtype_of_a_known_type_is_kept_raw_and_the_facts_decide():
    facts = normalize(_case("DID_RENEW", "SOMETHING_NEW", transaction=_renewed(), signed=at(30)))
    assert facts.subtype == "SOMETHING_NEW" and facts.snapshot.raw_state == "DID_RENEW/SOMETHING_NEW"
    assert facts.snapshot.store_state is State.ACTIVE
    assert len(facts.warnings) == 1 and "SOMETHING_NEW" in facts.warnings[0]


@pytest.mark.parametrize(
    ("where", "field_name", "value"),
    [
        ("transaction", "type", "Subscription Bundle"),
        ("transaction", "inAppOwnershipType", "ORGANIZATION"),
        ("transaction", "offerType", 9),
        ("transaction", "offerDiscountType", "PAY_WHAT_YOU_WANT"),
        ("transaction", "revocationReason", 7),
        ("transaction", "environment", "Staging"),
        ("renewal", "autoRenewStatus", 2),
        ("renewal", "expirationIntent", 42),
        ("data", "status", 9),
        ("data", "environment", "Staging"),
        ("transaction", "expiresDate", "soon"),
        ("renewal", "gracePeriodExpiresDate", {"ms": 1}),
        ("notification", "signedDate", "yesterday"),
        ("transaction", "offerType", "INTRODUCTORY"),
    ],
)
def test_an_unknown_enum_value_is_kept_raw_with_a_warning_and_does_not_crash(where, field_name, value):
    # GIVEN a DID_CHANGE_RENEWAL_STATUS whose field carries a value Apple never documented
    notification = _case("DID_CHANGE_RENEWAL_STATUS", "AUTO_RENEW_ENABLED", transaction=_first(revoked=at(1)),
                         renewal=ap.renewal(expiration_intent=1))
    target = {
        "transaction": notification.transaction,
        "renewal": notification.renewal,
        "data": notification.payload["data"],
        "notification": notification.payload,
    }[where]
    target[field_name] = value

    # WHEN it is normalized, THEN it does not crash and the value is reported
    facts = normalize(notification)
    assert any(repr(value) in warning for warning in facts.warnings), facts.warnings


def test_unknown_raw_values_are_exposed():
    notification = _case("DID_CHANGE_RENEWAL_STATUS", "AUTO_RENEW_ENABLED", status=9)
    notification.transaction["inAppOwnershipType"] = "ORGANIZATION"
    notification.transaction["type"] = "Subscription Bundle"
    notification.payload["data"]["environment"] = "Staging"
    facts = normalize(notification)
    assert (facts.ownership_type, facts.family_shared, facts.product_type) == ("ORGANIZATION", False,
                                                                               "Subscription Bundle")
    assert facts.subscription_status == 9 and facts.environment == "Staging"
    assert facts.snapshot.store_state is State.ACTIVE  # an unknown type with an expiry reads as a subscription


def test_an_unknown_product_type_without_expiry_changes_no_state():
    tx = _one_time("Mystery Box", "com.example.box")
    facts = normalize(_case("ONE_TIME_CHARGE", transaction=tx, renewal={}))
    assert facts.snapshot is None and facts.concerns_purchase and facts.warnings


@pytest.mark.parametrize(
    "payload",
    [
        {},
        {"notificationType": "DID_RENEW"},
        {"notificationType": None, "data": None, "signedDate": None},
        {"notificationType": 7, "subtype": ["x"], "data": "nope", "signedDate": True},
    ],
)
def test_a_malformed_payload_does_not_crash(payload):
    facts = normalize(VerifiedNotification(payload))
    assert not facts.concerns_purchase and facts.warnings


def test_malformed_transaction_and_renewal_do_not_crash():
    facts = normalize(VerifiedNotification({"notificationType": "DID_RENEW", "signedDate": at(1)}, {"junk": 1},
                                           {"autoRenewStatus": "yes"}))
    assert not facts.concerns_purchase and facts.warnings
    facts = normalize(VerifiedNotification({"notificationType": "DID_RENEW", "signedDate": at(1)}, "not a dict", 5))
    assert not facts.concerns_purchase


def test_a_notification_without_uuid_gets_a_deterministic_event_id():
    notification = _case("DID_RENEW", transaction=_renewed(), signed=at(30))
    del notification.payload["notificationUUID"]
    assert normalize(notification).event_id == normalize(notification).event_id
    assert any("notificationUUID" in w for w in normalize(notification).warnings)


def test_renewal_info_alone_names_the_purchase_without_changing_its_state():
    facts = normalize(ap.notification("DID_CHANGE_RENEWAL_STATUS", "AUTO_RENEW_DISABLED",
                                      renewal=ap.renewal(auto_renew=0), signed=at(3)))
    assert facts.concerns_purchase and facts.snapshot is None and facts.will_renew is False


def test_the_stored_document_form_normalizes_the_same():
    notification = _case("DID_FAIL_TO_RENEW", "GRACE_PERIOD", renewal=ap.renewal(retrying=True, grace_expires=at(46)),
                         signed=at(30))
    document = notification.to_document()
    assert normalize(document) == normalize(VerifiedNotification.from_document(document)) == normalize(notification)


# --------------------------------------------------------------------------- the receipts path


def test_a_verified_transaction_alone_is_a_snapshot_as_of_its_signed_date():
    # GIVEN the transaction StoreKit 2 returned for a purchase just made (signed at purchase + 2 s)
    tx = _first(signed=at(0) + 2000)

    # WHEN it is normalized on the receipts path
    facts = normalize_transaction(tx)

    # THEN it is a snapshot of the purchase as of the transaction's signedDate, with the token exposed
    assert (facts.event_type, facts.occurred_at) == (apple.RECEIPT, moment(at(0) + 2000))
    assert (facts.snapshot.store_state, facts.snapshot.as_of) == (State.ACTIVE, moment(at(0) + 2000))
    assert facts.event_id == f"receipt:{T1}:{at(0) + 2000}" and facts.app_account_token == ap.TOKEN
    assert facts.snapshot.will_renew is None and facts.will_renew is None  # unknown without renewal info: kept


def test_a_transaction_with_renewal_info_from_the_api_gives_the_whole_state():
    tx = _first(signed=at(35))
    facts = normalize_transaction(tx, ap.renewal(retrying=True, grace_expires=at(46), signed=at(35)), status=4)
    assert (facts.snapshot.store_state, facts.snapshot.grace_ends_at) == (State.GRACE_PERIOD, moment(at(46)))
    assert facts.snapshot.will_renew is True and facts.warnings == ()


def test_the_api_status_decides_a_lapsed_period_when_no_renewal_info_came():
    facts = normalize_transaction(_first(signed=at(35)), status=3)
    assert facts.snapshot.store_state is State.BILLING_RETRY


def test_a_lone_transaction_whose_period_ended_asks_for_the_status():
    # GIVEN an old transaction fetched today (Get Transaction Info signs it now)
    facts = normalize_transaction(_first(signed=at(200)))

    # THEN it cannot say whether the subscription expired or renewed since: no snapshot, ask the API
    assert facts.snapshot is None and facts.needs_status and facts.concerns_purchase
    # and applying it over a newer renewal changes nothing
    current = fold(_subscribed(), _renew(6, signed_day=180))
    assert fold(facts, start=current) == current


def test_a_receipt_for_a_refunded_transaction_revokes_it():
    facts = normalize_transaction(_first(revoked=at(5), signed=at(6)), ap.renewal(auto_renew=0, signed=at(6)))
    assert facts.revocation == Revocation(f"transaction:{T1}", moment(at(30)), True, moment(at(6)))
    assert fold(facts).state is State.REVOKED


def test_a_receipt_for_a_non_consumable():
    facts = normalize_transaction(_one_time(ap.NON_CONSUMABLE, ap.LIFETIME, signed=at(4)))
    assert (facts.snapshot.store_state, facts.snapshot.expires_at, facts.needs_status) == (State.ACTIVE, None, False)


def test_a_receipt_and_the_notification_of_the_same_moment_converge():
    notification = _subscribed()
    receipt = normalize_transaction(notification.transaction, notification.renewal)
    assert fold(notification, receipt).state == fold(receipt, notification).state == State.ACTIVE
    assert timedelta(0) == fold(notification, receipt).event_time - fold(receipt, notification).event_time
