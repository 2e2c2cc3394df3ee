"""Google Play notifications and Play Developer API resources → normalized facts (`parity.domain.google`).

Every notification kind and type, every subscriptionState and purchaseState is mapped; unknown values
are kept raw with a warning; the ordering rule (`apply_update`) turns the facts into the purchase.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from parity.domain import google
from parity.domain.catalog import Catalog
from parity.domain.entitlements import compute_entitlements
from parity.domain.errors import StaleEventError
from parity.domain.google import (
    GoogleFacts,
    chain_key,
    parse_notification,
    product_facts,
    subscription_facts,
    voided_facts,
)
from parity.domain.model import State, Store
from parity.domain.purchases import apply_update
from tests.support import play_payloads as pp
from tests.support.play_payloads import DAY, HOUR, at

FETCHED = at(1)  # when the Play Developer API answered (the facts' as_of)


def sub(resource=None, notification_type=None, as_of=FETCHED, token=pp.PURCHASE_TOKEN, event_id="m-1", **fields):
    return subscription_facts(
        token, resource if resource is not None else pp.subscription(**fields), as_of, event_id, notification_type
    )


def fold(*facts: GoogleFacts, start=None, **update_args):
    """Apply each fact's update in turn (stale ones skipped), as the processor does."""
    purchase = start
    for item in facts:
        try:
            purchase = apply_update(purchase, item.update_for(**update_args))
        except StaleEventError:
            pass
    return purchase


# --------------------------------------------------------------------------- parse_notification

SUBSCRIPTION_TYPES = [
    (1, "SUBSCRIPTION_RECOVERED"),
    (2, "SUBSCRIPTION_RENEWED"),
    (3, "SUBSCRIPTION_CANCELED"),
    (4, "SUBSCRIPTION_PURCHASED"),
    (5, "SUBSCRIPTION_ON_HOLD"),
    (6, "SUBSCRIPTION_IN_GRACE_PERIOD"),
    (7, "SUBSCRIPTION_RESTARTED"),
    (8, "SUBSCRIPTION_PRICE_CHANGE_CONFIRMED"),
    (9, "SUBSCRIPTION_DEFERRED"),
    (10, "SUBSCRIPTION_PAUSED"),
    (11, "SUBSCRIPTION_PAUSE_SCHEDULE_CHANGED"),
    (12, "SUBSCRIPTION_REVOKED"),
    (13, "SUBSCRIPTION_EXPIRED"),
    (17, "SUBSCRIPTION_ITEMS_CHANGED"),
    (18, "SUBSCRIPTION_CANCELLATION_SCHEDULED"),
    (19, "SUBSCRIPTION_PRICE_CHANGE_UPDATED"),
    (20, "SUBSCRIPTION_PENDING_PURCHASE_CANCELED"),
    (22, "SUBSCRIPTION_PRICE_STEP_UP_CONSENT_UPDATED"),
]
UNKNOWN_SUBSCRIPTION_TYPES = [14, 15, 16, 21, 23, 99]


def test_the_table_covers_every_documented_subscription_notification_type():
    assert dict(SUBSCRIPTION_TYPES) == dict(google.SUBSCRIPTION_NOTIFICATION_TYPES)


@pytest.mark.parametrize(("notification_type", "name"), SUBSCRIPTION_TYPES, ids=[n for _, n in SUBSCRIPTION_TYPES])
def test_every_subscription_notification_type_is_a_trigger_to_fetch_the_subscription(notification_type, name):
    # GIVEN a decoded DeveloperNotification of that type
    body = pp.subscription_notification(notification_type, event_time=at(2) + HOUR)

    # WHEN it is parsed
    parsed = parse_notification(body)

    # THEN it names the token to fetch with subscriptionsv2, and its type, raw and named
    assert (parsed.kind, parsed.notification_type, parsed.type_name) == (google.SUBSCRIPTION, notification_type, name)
    assert (parsed.purchase_token, parsed.fetch, parsed.concerns_purchase) == (
        pp.PURCHASE_TOKEN,
        "subscriptionsv2",
        True,
    )
    assert parsed.event_time == at(2) + HOUR and parsed.package_name == pp.PACKAGE and parsed.version == "1.0"
    assert parsed.product_id is None and parsed.test is False and parsed.warnings == ()


@pytest.mark.parametrize("notification_type", UNKNOWN_SUBSCRIPTION_TYPES)
def test_an_unknown_subscription_notification_type_is_kept_raw_and_still_triggers_a_fetch(notification_type):
    parsed = parse_notification(pp.subscription_notification(notification_type))
    assert (parsed.notification_type, parsed.type_name, parsed.fetch) == (notification_type, None, "subscriptionsv2")
    assert any(f"notificationType {notification_type}" in w for w in parsed.warnings)


def test_the_deprecated_subscription_id_is_not_read():
    # GIVEN an old-style notification naming a subscriptionId
    parsed = parse_notification(pp.subscription_notification(2, subscriptionId="some_other_product"))
    # THEN it names no product: the product ids come from the fetched resource's line items
    assert parsed.product_id is None and parsed.payload["subscriptionId"] == "some_other_product"
    facts = sub(pp.subscription(subscriptionId="some_other_product"), 2)
    assert facts.product_refs == (pp.MONTHLY,) and facts.warnings == ()


@pytest.mark.parametrize(
    ("notification_type", "name"), [(1, "ONE_TIME_PRODUCT_PURCHASED"), (2, "ONE_TIME_PRODUCT_CANCELED")]
)
def test_one_time_product_notifications_name_the_sku_and_the_token(notification_type, name):
    parsed = parse_notification(pp.one_time_notification(notification_type, sku=pp.LIFETIME))
    assert (parsed.kind, parsed.notification_type, parsed.type_name) == (
        google.ONE_TIME_PRODUCT,
        notification_type,
        name,
    )
    assert (parsed.purchase_token, parsed.product_id, parsed.fetch) == (pp.PRODUCT_TOKEN, pp.LIFETIME, "products")
    assert parsed.warnings == ()


def test_an_unknown_one_time_product_notification_type_is_kept_raw():
    parsed = parse_notification(pp.one_time_notification(3))
    assert (parsed.notification_type, parsed.type_name, parsed.fetch) == (3, None, "products")
    assert parsed.warnings


@pytest.mark.parametrize(
    ("product_type", "refund_type", "fetch"),
    [(1, 1, "subscriptionsv2"), (1, 2, "subscriptionsv2"), (2, 1, None), (2, 2, None)],
)
def test_voided_purchase_notifications_carry_order_product_type_and_refund_type(product_type, refund_type, fetch):
    parsed = parse_notification(pp.voided_notification(pp.PURCHASE_TOKEN, pp.ORDER, product_type, refund_type, at(4)))
    assert (parsed.kind, parsed.purchase_token, parsed.order_id) == (
        google.VOIDED_PURCHASE,
        pp.PURCHASE_TOKEN,
        pp.ORDER,
    )
    assert (parsed.product_type, parsed.refund_type, parsed.fetch) == (product_type, refund_type, fetch)
    assert parsed.event_time == at(4) and parsed.warnings == ()


def test_a_test_notification_concerns_no_purchase():
    parsed = parse_notification(pp.test_notification())
    assert (parsed.kind, parsed.test, parsed.concerns_purchase, parsed.fetch) == (google.TEST, True, False, None)
    assert parsed.warnings == ()


def test_an_unknown_notification_kind_is_kept_raw():
    body = pp.developer_notification(at(0), pendingRefundReviewNotification={"purchaseToken": "t", "reason": 7})
    parsed = parse_notification(body)
    assert parsed.kind == "pendingRefundReviewNotification" and not parsed.concerns_purchase and parsed.fetch is None
    assert parsed.payload == {"purchaseToken": "t", "reason": 7} and parsed.warnings


def test_event_time_millis_is_read_as_a_number_or_a_string():
    body = pp.subscription_notification(4, event_time=at(3))
    as_number = {**body, "eventTimeMillis": int(body["eventTimeMillis"])}
    assert parse_notification(body).event_time == parse_notification(as_number).event_time == at(3)


@pytest.mark.parametrize(
    "body",
    [
        None,
        [],
        "not a notification",
        {},
        {"version": "1.0"},
        {"eventTimeMillis": "soon", "subscriptionNotification": {"notificationType": "four"}},
        {"eventTimeMillis": True, "subscriptionNotification": {"notificationType": 4}},
        {"eventTimeMillis": "99999999999999999999", "oneTimeProductNotification": {"notificationType": 1}},
        {"eventTimeMillis": "1", "voidedPurchaseNotification": {"productType": "x", "refundType": 9}},
        {"subscriptionNotification": {"notificationType": 4}, "testNotification": {"version": "1.0"}},
    ],
)
def test_malformed_notifications_are_reported_never_raised(body):
    parsed = parse_notification(body)
    assert parsed.warnings
    assert parsed.fetch is None or parsed.purchase_token


# --------------------------------------------------------------------------- every subscriptionState

# subscriptionState → (state, expires_at, grace end, will_renew) for a subscription whose line item
# expires at day 30, fetched at day 1 (ON_HOLD / EXPIRED: at day 40, after its period).
STATES = [
    ("SUBSCRIPTION_STATE_PENDING", {}, (State.PENDING, at(30), None, True)),
    ("SUBSCRIPTION_STATE_ACTIVE", {}, (State.ACTIVE, at(30), None, True)),
    ("SUBSCRIPTION_STATE_PAUSED", {"resume_at": at(60)}, (State.PAUSED, at(30), None, True)),
    ("SUBSCRIPTION_STATE_IN_GRACE_PERIOD", {}, (State.GRACE_PERIOD, at(30), at(30), True)),
    ("SUBSCRIPTION_STATE_ON_HOLD", {"as_of": at(40)}, (State.ON_HOLD, at(30), None, True)),
    ("SUBSCRIPTION_STATE_CANCELED", {"canceled": "user"}, (State.ACTIVE, at(30), None, False)),
    ("SUBSCRIPTION_STATE_EXPIRED", {"as_of": at(40), "canceled": "system"}, (State.EXPIRED, at(30), None, False)),
    ("SUBSCRIPTION_STATE_PENDING_PURCHASE_CANCELED", {}, (State.EXPIRED, at(30), None, False)),
]


def test_the_table_covers_every_documented_subscription_state():
    documented = {raw for raw, _, _ in STATES} | {"SUBSCRIPTION_STATE_UNSPECIFIED"}
    assert set(google.SUBSCRIPTION_STATES) | {google.UNSPECIFIED} == documented


@pytest.mark.parametrize(("raw", "fields", "expected"), STATES, ids=[raw for raw, _, _ in STATES])
def test_every_subscription_state_maps_as_the_table_says(raw, fields, expected):
    # GIVEN the subscription as the API answers it in that state
    fields = dict(fields)
    as_of = fields.pop("as_of", FETCHED)
    resource = pp.subscription(raw, **fields)

    # WHEN it is normalized
    facts = subscription_facts(pp.PURCHASE_TOKEN, resource, as_of, "m-1", None)

    # THEN the snapshot has the state of the table, as of the fetch, raw state kept
    snapshot = facts.snapshot
    assert (snapshot.store_state, snapshot.expires_at, snapshot.grace_ends_at, snapshot.will_renew) == expected
    assert (snapshot.as_of, snapshot.raw_state, facts.raw_state) == (as_of, raw, raw)
    assert (snapshot.product_id, snapshot.product_refs) == (pp.MONTHLY, (pp.MONTHLY,))
    assert facts.occurred_at == as_of and facts.revocation is None and facts.warnings == ()


@pytest.mark.parametrize("raw", ["SUBSCRIPTION_STATE_UNSPECIFIED", "SUBSCRIPTION_STATE_FROZEN"])
def test_an_unspecified_or_unknown_subscription_state_is_pending_kept_raw_with_a_warning(raw):
    facts = sub(pp.subscription(raw))
    assert (facts.snapshot.store_state, facts.snapshot.raw_state, facts.raw_state) == (State.PENDING, raw, raw)
    assert any(raw in w for w in facts.warnings)
    assert fold(facts).grants_access(at(2)) is False


def test_a_resource_without_subscription_state_changes_no_state():
    resource = pp.subscription()
    del resource["subscriptionState"]
    facts = sub(resource)
    assert facts.snapshot is None and facts.warnings and facts.update_for().snapshot is None


@pytest.mark.parametrize("resource", [None, [], "garbage", {"lineItems": "x"}, {"lineItems": [1, {"expiryTime": 5}]}])
def test_a_malformed_resource_is_reported_never_raised(resource):
    facts = subscription_facts(pp.PURCHASE_TOKEN, resource, FETCHED, "m-1", 4)
    assert facts.warnings and facts.snapshot is None


def test_an_access_state_without_expiry_changes_no_state():
    facts = sub(pp.subscription(expiry=None))
    assert facts.snapshot is None and any("expiryTime" in w for w in facts.warnings)


def test_pausing_exposes_the_auto_resume_time():
    facts = sub(pp.subscription("SUBSCRIPTION_STATE_PAUSED", resume_at=at(60)))
    assert facts.auto_resume_at == at(60) and not fold(facts).grants_access(at(2))


# --------------------------------------------------------------------------- every notification type


@pytest.mark.parametrize(
    "notification_type",
    [t for t, _ in SUBSCRIPTION_TYPES] + UNKNOWN_SUBSCRIPTION_TYPES,
)
def test_the_fetched_resource_decides_the_state_whatever_the_notification_type(notification_type):
    # GIVEN any subscription notification, and the subscription Google answers with (active to day 30)
    facts = sub(pp.subscription(), notification_type)

    # THEN the state is the resource's; only SUBSCRIPTION_REVOKED adds a revocation
    assert facts.notification_type == notification_type
    assert (facts.snapshot.store_state, facts.snapshot.expires_at) == (State.ACTIVE, at(30))
    assert (facts.revocation is not None) is (notification_type == 12)
    known = notification_type in google.SUBSCRIPTION_NOTIFICATION_TYPES
    assert (facts.warnings == ()) is known


def test_revoked_revokes_the_subscription_even_while_the_api_still_reads_active():
    # GIVEN a subscription active to day 30, revoked on day 5: the API may still say ACTIVE for a while
    purchased = sub(pp.subscription(), 4, as_of=at(0))
    revoked_early = sub(pp.subscription(), 12, as_of=at(5), event_id="m-2")
    revoked_late = sub(
        pp.subscription("SUBSCRIPTION_STATE_EXPIRED", expiry=at(5), canceled="developer"),
        12,
        as_of=at(5) + HOUR,
        event_id="m-3",
    )

    # THEN the purchase is revoked whichever fetch arrives, in any order (Google REVOKED → revoked)
    assert revoked_early.revocation.ref == f"revoked:{pp.PURCHASE_TOKEN}"
    for order in (
        [purchased, revoked_early],
        [purchased, revoked_late],
        [revoked_late, purchased, revoked_early],
        [revoked_early, revoked_late, purchased],
    ):
        purchase = fold(*order)
        assert purchase.state is State.REVOKED and not purchase.grants_access(at(6)), order


# --------------------------------------------------------------------------- cancel, trial, line items


def test_canceled_keeps_access_until_the_expiry_without_renewing():
    # GIVEN a subscription the user canceled on day 10, paid to day 30
    facts = sub(pp.subscription("SUBSCRIPTION_STATE_CANCELED", canceled="user"), 3, as_of=at(10))
    purchase = fold(facts)

    # THEN access continues until day 30, then ends; it will not renew
    assert (purchase.state, purchase.will_renew, facts.cancel_reason) == (State.ACTIVE, False, "user")
    assert purchase.grants_access(at(29)) and not purchase.grants_access(at(30) + HOUR)


def test_a_canceled_subscription_fetched_after_its_expiry_is_expired():
    facts = sub(pp.subscription("SUBSCRIPTION_STATE_CANCELED", canceled="user"), as_of=at(31))
    assert (facts.snapshot.store_state, facts.snapshot.raw_state) == (State.EXPIRED, "SUBSCRIPTION_STATE_CANCELED")


@pytest.mark.parametrize(
    ("raw", "phase", "expected"),
    [
        ("SUBSCRIPTION_STATE_ACTIVE", "freeTrial", State.TRIALING),
        ("SUBSCRIPTION_STATE_ACTIVE", "introductoryPrice", State.ACTIVE),
        ("SUBSCRIPTION_STATE_ACTIVE", "basePrice", State.ACTIVE),
        ("SUBSCRIPTION_STATE_ACTIVE", "prorationPeriod", State.ACTIVE),
        ("SUBSCRIPTION_STATE_ACTIVE", None, State.ACTIVE),  # older resources: no offerPhase
        ("SUBSCRIPTION_STATE_CANCELED", "freeTrial", State.TRIALING),  # the trial runs out, not renewed
        ("SUBSCRIPTION_STATE_IN_GRACE_PERIOD", "freeTrial", State.GRACE_PERIOD),
    ],
)
def test_a_free_trial_phase_is_trialing(raw, phase, expected):
    facts = sub(pp.subscription(raw, phase=phase, expiry=at(7)))
    assert facts.snapshot.store_state is expected and facts.free_trial is (phase == "freeTrial")
    assert facts.warnings == ()


def test_free_trial_is_read_from_the_presence_of_the_empty_free_trial_object():
    resource = pp.subscription(phase="freeTrial", expiry=at(7))
    assert resource["lineItems"][0]["offerPhase"] == {"freeTrial": {}}
    assert fold(sub(resource)).state is State.TRIALING


def test_offer_tags_do_not_make_a_trial():
    item = pp.line_item(
        phase="basePrice", offer_id="intro-offer", offerDetails={"basePlanId": "monthly", "offerTags": ["free-trial"]}
    )
    assert sub(pp.subscription(line_items=[item])).snapshot.store_state is State.ACTIVE


def test_an_unknown_offer_phase_is_kept_raw_and_not_a_trial():
    facts = sub(pp.subscription(line_items=[pp.line_item(phase=None, offerPhase={"lunarDiscount": {}})]))
    assert facts.snapshot.store_state is State.ACTIVE and any("lunarDiscount" in w for w in facts.warnings)


def test_several_line_items_each_map_through_the_catalog():
    # GIVEN a base plan (to day 30, in its trial) with an add-on (to day 20, paid)
    items = [
        pp.line_item(pp.MONTHLY, expiry=at(30), phase="freeTrial"),
        pp.line_item(
            pp.STORAGE_ADDON, expiry=at(20), phase="basePrice", auto_renew=False, order_id="GPA.1111-2222-3333-44444"
        ),
    ]
    facts = sub(pp.subscription(line_items=items))
    purchase = fold(facts)

    # THEN every product is a ref, access runs to the latest expiry, and someone pays: active, renewing
    assert (facts.product_refs, facts.product_id, purchase.product_refs) == (
        (pp.MONTHLY, pp.STORAGE_ADDON),
        pp.MONTHLY,
        (pp.MONTHLY, pp.STORAGE_ADDON),
    )
    assert (purchase.expires_at, purchase.state, purchase.will_renew) == (at(30), State.ACTIVE, True)
    catalog = Catalog({pp.MONTHLY: ("pro",), pp.STORAGE_ADDON: ("storage",)})
    entitlements = compute_entitlements([purchase], catalog, at(2))
    assert {eid: e.active for eid, e in entitlements.items()} == {"pro": True, "storage": True}


def test_all_line_items_in_a_free_trial_is_trialing():
    items = [pp.line_item(pp.MONTHLY, phase="freeTrial"), pp.line_item(pp.STORAGE_ADDON, phase="freeTrial")]
    assert sub(pp.subscription(line_items=items)).snapshot.store_state is State.TRIALING


def test_a_prepaid_plan_does_not_renew():
    facts = sub(pp.subscription(line_items=[pp.line_item(prepaid=True, expiry=at(30))]))
    assert (facts.snapshot.store_state, facts.snapshot.will_renew, facts.will_renew) == (State.ACTIVE, False, False)


def test_expiry_times_are_read_with_any_fraction_and_offset():
    items = [
        pp.line_item(pp.MONTHLY, expiryTime="2026-01-31T00:00:00.123456789Z"),
        pp.line_item(pp.YEARLY, expiryTime="2026-01-31T02:00:01+01:00"),
    ]
    facts = sub(pp.subscription(line_items=items))
    assert facts.snapshot.expires_at == datetime.fromisoformat("2026-01-31T01:00:01+00:00") and facts.warnings == ()
    bad = sub(pp.subscription(line_items=[pp.line_item(expiryTime="tomorrow"), pp.line_item(pp.YEARLY)]))
    assert bad.snapshot.expires_at == at(30) and any("tomorrow" in w for w in bad.warnings)


# --------------------------------------------------------------------------- environment, identity


@pytest.mark.parametrize(("test", "environment"), [(True, "sandbox"), (False, "production")])
def test_a_test_purchase_is_sandbox(test, environment):
    facts = sub(pp.subscription(test=test))
    assert facts.environment == facts.snapshot.environment == environment == fold(facts).environment


def test_the_obfuscated_account_id_is_exposed_as_the_app_account_token_and_claims():
    # GIVEN a subscription bought with setObfuscatedAccountId(<the user's appAccountToken>)
    facts = sub(pp.subscription(account=pp.TOKEN, profile=pp.PROFILE))

    # WHEN the service resolves it to u_1 and builds the update
    update = facts.update_for("u_1")

    # THEN the token is exposed, and the update is a claim of play_store:<purchase token> by u_1
    assert (facts.app_account_token, facts.claim_token, facts.profile_token) == (pp.TOKEN, pp.TOKEN, pp.PROFILE)
    assert (update.store, update.store_key, update.claimant, update.app_account_token) == (
        Store.PLAY_STORE,
        pp.PURCHASE_TOKEN,
        "u_1",
        pp.TOKEN,
    )
    assert update.purchase_id == facts.purchase_id == f"play_store:{pp.PURCHASE_TOKEN}"
    assert (update.event_id, update.occurred_at, update.snapshot) == ("m-1", FETCHED, facts.snapshot)
    assert fold(facts).owner_ids == ()  # ownership is decided by the service (decide_claim)


def test_a_purchase_without_identifiers_is_unclaimed():
    facts = sub(pp.subscription(account=None))
    assert facts.claim_token is None and facts.update_for().app_account_token is None


def test_a_resubscription_from_the_play_store_is_claimed_by_the_expired_subscriptions_user():
    resource = pp.subscription(
        account=None,
        outOfAppPurchaseContext={
            "expiredPurchaseToken": "old-token",
            "expiredExternalAccountIdentifiers": {"obfuscatedExternalAccountId": pp.TOKEN},
        },
    )
    facts = sub(resource)
    assert (facts.app_account_token, facts.expired_app_account_token, facts.claim_token) == (None, pp.TOKEN, pp.TOKEN)
    assert facts.expired_purchase_token == "old-token" and facts.linked_purchase_token is None


def test_start_time_and_latest_order_are_exposed():
    facts = sub(pp.subscription(order_id=pp.renewal_order(3)))
    assert (facts.start_time, facts.order_id) == (at(0), f"{pp.ORDER}..3")
    older = pp.subscription(line_items=[pp.line_item(order_id=None)], latestOrderId="GPA.9")
    assert sub(older).order_id == "GPA.9"


# --------------------------------------------------------------------------- chains


def test_the_linked_purchase_token_is_exposed_and_superseded_by_an_active_replacement():
    facts = sub(pp.subscription(linked="old-token"), 4, token="new-token")
    assert (facts.linked_purchase_token, facts.supersedes, facts.describes_lifecycle) == (
        "old-token",
        "old-token",
        True,
    )


def test_a_replaced_token_no_longer_describes_the_lifecycle():
    # GIVEN the old token of an upgrade: expired, replaced by a newer token
    old = sub(
        pp.subscription("SUBSCRIPTION_STATE_EXPIRED", expiry=at(10), canceled="replacement"), 13, token="old-token"
    )

    # THEN its facts are exposed, but its update carries no snapshot (only claims and products)
    assert (old.replaced, old.cancel_reason, old.describes_lifecycle) == (True, "replacement", False)
    update = old.update_for(store_key="old-token")
    assert update.snapshot is None and update.app_account_token == pp.TOKEN and update.product_refs == (pp.MONTHLY,)


@pytest.mark.parametrize("raw", ["SUBSCRIPTION_STATE_PENDING", "SUBSCRIPTION_STATE_PENDING_PURCHASE_CANCELED"])
def test_a_pending_replacement_leaves_the_lifecycle_to_the_old_token(raw):
    # GIVEN an upgrade awaiting payment (or whose payment was canceled), linked to the active old token
    pending = sub(pp.subscription(raw, linked="old-token", product_id=pp.YEARLY), 20, token="new-token")

    # THEN it neither supersedes the old token nor overwrites its state
    assert (pending.supersedes, pending.describes_lifecycle, pending.needs_acknowledgement) == (None, False, False)
    old = sub(pp.subscription(), 4, token="old-token", as_of=at(0))
    purchase = fold(old, pending, store_key="old-token")
    assert (purchase.state, purchase.expires_at, purchase.product_refs) == (State.ACTIVE, at(30), (pp.MONTHLY,))


def test_the_service_may_drop_a_superseded_tokens_snapshot():
    facts = sub(pp.subscription(), 2, token="old-token")
    assert facts.update_for(store_key="root", superseded=True).snapshot is None
    assert facts.update_for(store_key="root").store_key == "root"


def test_chain_key_keys_a_chain_by_the_first_token_parity_knew():
    roots = {"t1": "t1", "t2": "t1"}
    assert chain_key("t1", None, roots.get) == "t1"
    assert chain_key("t2", "t1", roots.get) == "t1"  # recorded
    assert chain_key("t3", "t2", roots.get) == "t1"  # joins its linked token's lifecycle
    assert chain_key("t9", "t8", roots.get) == "t8"  # the linked token was never seen: its key
    assert chain_key("solo", None, roots.get) == "solo"
    assert sub(pp.subscription(linked="t2"), token="t3").chain_key(roots.get) == "t1"


def test_an_upgrade_chain_is_one_purchase_on_the_new_tokens_terms():
    # GIVEN a monthly subscription (t1) upgraded on day 10 to yearly (t2), t1 then replaced
    t1_bought = sub(pp.subscription(), 4, token="t1", as_of=at(0), event_id="a")
    t2_bought = sub(
        pp.subscription(linked="t1", product_id=pp.YEARLY, expiry=at(375)), 4, token="t2", as_of=at(10), event_id="b"
    )
    t1_replaced = sub(
        pp.subscription("SUBSCRIPTION_STATE_EXPIRED", expiry=at(10), canceled="replacement"),
        13,
        token="t1",
        as_of=at(10) + HOUR,
        event_id="c",
    )

    # WHEN the service keys each by the chain
    roots: dict[str, str] = {}

    def key(facts):
        found = facts.chain_key(roots.get)
        roots.setdefault(facts.purchase_token, found)
        if facts.linked_purchase_token:
            roots.setdefault(facts.linked_purchase_token, found)
        return found

    results = []
    for order in (
        [t1_bought, t2_bought, t1_replaced],
        [t1_replaced, t2_bought, t1_bought],
        [t2_bought, t1_replaced, t1_bought],
    ):
        roots.clear()
        purchase = None
        for facts in order:
            try:
                purchase = apply_update(purchase, facts.update_for(store_key=key(facts)))
            except StaleEventError:
                pass
        results.append(purchase)

    # THEN one purchase keyed by t1, active on the yearly terms, whatever the order
    for purchase in results:
        assert (purchase.store_key, purchase.state, purchase.expires_at) == ("t1", State.ACTIVE, at(375))
        assert purchase.product_refs == (pp.YEARLY,)


# --------------------------------------------------------------------------- acknowledgement

ACK_CASES = [
    ("SUBSCRIPTION_STATE_ACTIVE", "ACKNOWLEDGEMENT_STATE_PENDING", True),
    ("SUBSCRIPTION_STATE_ACTIVE", "ACKNOWLEDGEMENT_STATE_ACKNOWLEDGED", False),
    ("SUBSCRIPTION_STATE_CANCELED", "ACKNOWLEDGEMENT_STATE_PENDING", True),  # paid: Google still refunds it
    ("SUBSCRIPTION_STATE_IN_GRACE_PERIOD", "ACKNOWLEDGEMENT_STATE_PENDING", True),
    ("SUBSCRIPTION_STATE_ON_HOLD", "ACKNOWLEDGEMENT_STATE_PENDING", True),
    ("SUBSCRIPTION_STATE_PAUSED", "ACKNOWLEDGEMENT_STATE_PENDING", True),
    ("SUBSCRIPTION_STATE_PENDING", "ACKNOWLEDGEMENT_STATE_PENDING", False),  # not paid yet
    ("SUBSCRIPTION_STATE_PENDING_PURCHASE_CANCELED", "ACKNOWLEDGEMENT_STATE_PENDING", False),
    ("SUBSCRIPTION_STATE_EXPIRED", "ACKNOWLEDGEMENT_STATE_PENDING", False),
    ("SUBSCRIPTION_STATE_ACTIVE", "ACKNOWLEDGEMENT_STATE_UNSPECIFIED", False),
    ("SUBSCRIPTION_STATE_ACTIVE", None, False),
]


@pytest.mark.parametrize(("raw", "ack", "needed"), ACK_CASES)
def test_a_paid_subscription_awaiting_acknowledgement_needs_it(raw, ack, needed):
    facts = sub(pp.subscription(raw, ack=ack))
    assert (facts.needs_acknowledgement, facts.acknowledgement_state) == (needed, ack)
    assert facts.acknowledge_product_id == pp.MONTHLY  # purchases.subscriptions.acknowledge's subscriptionId


def test_an_unknown_acknowledgement_state_is_kept_raw_and_not_acted_on():
    facts = sub(pp.subscription(ack="ACKNOWLEDGEMENT_STATE_MAYBE"))
    assert facts.needs_acknowledgement is False and facts.acknowledgement_state == "ACKNOWLEDGEMENT_STATE_MAYBE"
    assert facts.warnings


def test_once_acknowledged_a_duplicate_fetch_asks_for_nothing():
    first = sub(pp.subscription(ack="ACKNOWLEDGEMENT_STATE_PENDING"), 4)
    again = sub(pp.subscription(ack="ACKNOWLEDGEMENT_STATE_ACKNOWLEDGED"), 4, as_of=at(1) + HOUR)
    assert (first.needs_acknowledgement, again.needs_acknowledgement) == (True, False)


# --------------------------------------------------------------------------- one-time products

PRODUCT_STATES = [
    (0, State.ACTIVE, "PURCHASED"),
    (1, State.EXPIRED, "CANCELED"),
    (2, State.PENDING, "PENDING"),
]


@pytest.mark.parametrize(("code", "state", "raw"), PRODUCT_STATES, ids=[raw for _, _, raw in PRODUCT_STATES])
def test_a_one_time_purchase_maps_its_purchase_state(code, state, raw):
    facts = product_facts(pp.PRODUCT_TOKEN, pp.LIFETIME, pp.product_purchase(code), FETCHED, "m-9", 1)
    purchase = fold(facts)
    assert (facts.kind, facts.snapshot.store_state, facts.snapshot.expires_at, facts.raw_state) == (
        google.ONE_TIME_PRODUCT,
        state,
        None,
        raw,
    )
    assert (purchase.store_key, purchase.product_refs, purchase.will_renew) == (pp.PRODUCT_TOKEN, (pp.LIFETIME,), False)
    # purchased: a lifetime purchase, access without end
    assert purchase.grants_access(at(10_000)) is (state is State.ACTIVE)
    assert facts.warnings == ()


def test_an_unknown_purchase_state_is_pending_kept_raw():
    facts = product_facts(pp.PRODUCT_TOKEN, pp.LIFETIME, pp.product_purchase(7), FETCHED, "m-9")
    assert (facts.snapshot.store_state, facts.raw_state) == (State.PENDING, "purchaseState=7") and facts.warnings


@pytest.mark.parametrize(
    ("code", "ack", "needed"),
    [(0, 0, True), (0, 1, False), (2, 0, False), (1, 0, False), (0, None, False)],
)
def test_a_purchased_product_awaiting_acknowledgement_needs_it(code, ack, needed):
    facts = product_facts(pp.PRODUCT_TOKEN, pp.LIFETIME, pp.product_purchase(code, ack=ack), FETCHED, "m-9")
    assert facts.needs_acknowledgement is needed and facts.acknowledge_product_id == pp.LIFETIME


@pytest.mark.parametrize(
    ("purchase_type", "environment"), [(0, "sandbox"), (1, "production"), (2, "production"), (None, "production")]
)
def test_a_license_tester_purchase_is_sandbox(purchase_type, environment):
    facts = product_facts(pp.PRODUCT_TOKEN, pp.LIFETIME, pp.product_purchase(purchase_type=purchase_type), FETCHED, "m")
    assert facts.environment == facts.snapshot.environment == environment


def test_a_one_time_purchase_exposes_its_account_order_and_consumption():
    resource = pp.product_purchase(consumed=1, quantity=3, refundable=2, purchased=at(0) + HOUR)
    facts = product_facts(pp.PRODUCT_TOKEN, None, {**resource, "productId": pp.COINS}, FETCHED, "m-9")
    assert (facts.app_account_token, facts.claim_token, facts.order_id) == (
        pp.TOKEN,
        pp.TOKEN,
        "GPA.3399-0000-1111-22222",
    )
    assert (facts.consumed, facts.quantity, facts.refundable_quantity) == (True, 3, 2)
    assert (facts.product_id, facts.start_time, facts.update_for("u_1").claimant) == (pp.COINS, at(0) + HOUR, "u_1")


def test_a_product_purchase_v2_is_read_too():
    facts = product_facts(
        pp.PRODUCT_TOKEN, None, pp.product_purchase_v2(ack="ACKNOWLEDGEMENT_STATE_PENDING", test=True), FETCHED, "m-9"
    )
    assert (facts.snapshot.store_state, facts.product_refs, facts.environment) == (
        State.ACTIVE,
        (pp.LIFETIME,),
        "sandbox",
    )
    assert facts.needs_acknowledgement and facts.warnings == ()
    pending = product_facts(pp.PRODUCT_TOKEN, None, pp.product_purchase_v2("PENDING"), FETCHED, "m-9")
    assert pending.snapshot.store_state is State.PENDING


@pytest.mark.parametrize("resource", [None, "x", {}, {"purchaseState": "zero", "acknowledgementState": True}])
def test_a_malformed_product_purchase_is_reported_never_raised(resource):
    facts = product_facts(pp.PRODUCT_TOKEN, pp.LIFETIME, resource, FETCHED, "m-9")
    assert facts.snapshot is None and facts.warnings


# --------------------------------------------------------------------------- voided purchases


def _lifetime_bought():
    return product_facts(pp.PRODUCT_TOKEN, pp.LIFETIME, pp.product_purchase(), at(0), "m-1")


def test_a_fully_refunded_one_time_purchase_is_revoked_for_good_in_either_order():
    # GIVEN a lifetime purchase and its full refund
    void = voided_facts(pp.voided_notification(pp.PRODUCT_TOKEN, "GPA.3399-0000-1111-22222", 2, 1, at(5)), at(5), "m-2")

    # THEN the purchase is revoked, whatever arrives first
    assert void.revocation.ref == "voided:GPA.3399-0000-1111-22222" and void.revocation.covers_until is None
    assert (void.kind, void.product_type, void.refund_type, void.event_time) == (google.VOIDED_PURCHASE, 2, 1, at(5))
    for order in ([_lifetime_bought(), void], [void, _lifetime_bought()]):
        purchase = fold(*order)
        assert purchase.state is State.REVOKED and not purchase.grants_access(at(6))


def test_a_void_is_idempotent():
    void = voided_facts(pp.voided_notification(pp.PRODUCT_TOKEN, "GPA.1", 2, 1, at(5)), at(5), "m-2")
    purchase = fold(_lifetime_bought(), void)
    with pytest.raises(StaleEventError):
        apply_update(purchase, void.update_for())
    assert len(purchase.revocations) == 1


def test_a_quantity_based_partial_refund_does_not_revoke():
    # GIVEN 3 coins bought, one refunded (partial), then the last two (Google reports that as a full refund)
    bought = product_facts(pp.PRODUCT_TOKEN, pp.COINS, pp.product_purchase(quantity=3), at(0), "m-1")
    partial = voided_facts(pp.voided_notification(pp.PRODUCT_TOKEN, "GPA.1", 2, 2, at(5)), at(5), "m-2")
    rest = voided_facts(pp.voided_notification(pp.PRODUCT_TOKEN, "GPA.1", 2, 1, at(6)), at(6), "m-3")

    # THEN the partial refund leaves the purchase active; the full one revokes it
    assert partial.revocation is None and partial.refund_type == 2
    assert fold(bought, partial).state is State.ACTIVE
    assert fold(bought, partial, rest).state is State.REVOKED


def test_voided_purchases_list_items_are_read_too():
    full = voided_facts(pp.voided_list_item(voided_at=at(5), reason=7, source=2), at(5), "v-1")
    partial = voided_facts(pp.voided_list_item(voided_at=at(5), quantity=1), at(5), "v-2")
    assert (full.revocation.ref, full.refund_type, full.voided_reason, full.voided_source) == (
        "voided:GPA.3399-0000-1111-22222",
        1,
        7,
        2,
    )
    assert full.event_time == at(5) and partial.revocation is None and partial.voided_quantity == 1
    # the last units of a partial series: nothing left to refund → revoked
    emptied = pp.product_purchase(quantity=3, refundable=0)
    last = voided_facts(pp.voided_list_item(voided_at=at(6), quantity=2), at(6), "v-3", resource=emptied)
    assert last.refund_type == 1 and last.revocation is not None and last.product_type == 2


def test_a_refund_and_revoke_of_the_current_subscription_period_revokes():
    # GIVEN a subscription renewed to day 60 (order ..0), refunded and revoked on day 35
    renewed = sub(pp.subscription(expiry=at(60), order_id=pp.renewal_order(0)), 2, as_of=at(30))
    after = pp.subscription(
        "SUBSCRIPTION_STATE_EXPIRED", expiry=at(35), order_id=pp.renewal_order(0), canceled="developer"
    )
    void = voided_facts(
        pp.voided_notification(order_id=pp.renewal_order(0), event_time=at(35)),
        at(35),
        "m-2",
        resource=after,
        fetched_at=at(35) + HOUR,
    )

    # THEN the void covers the order's period and carries the fresh truth; revoked in either order
    assert void.revocation.covers_until == at(35) and void.snapshot.store_state is State.EXPIRED
    for order in ([renewed, void], [void, renewed]):
        assert fold(*order).state is State.REVOKED


def test_a_refund_of_the_current_period_without_revoke_is_lifted_by_the_next_renewal():
    # GIVEN a subscription active to day 60 (order ..0) whose order is refunded on day 35, Google keeping it on
    current = pp.subscription(expiry=at(60), order_id=pp.renewal_order(0))
    void = voided_facts(
        pp.voided_notification(order_id=pp.renewal_order(0), event_time=at(35)), at(35), "m-2", resource=current
    )
    renewed = sub(pp.subscription(expiry=at(90), order_id=pp.renewal_order(1)), 2, as_of=at(60))

    # THEN that period is revoked until the next paid period
    assert void.revocation.covers_until == at(60)
    assert fold(sub(current, 2, as_of=at(30)), void).state is State.REVOKED
    assert fold(sub(current, 2, as_of=at(30)), void, renewed).state is State.ACTIVE


def test_a_refund_of_an_older_renewal_revokes_nothing_current():
    # GIVEN a subscription now on order ..1 (to day 90); order ..0 is refunded on day 70
    current = pp.subscription(expiry=at(90), order_id=pp.renewal_order(1))
    void = voided_facts(
        pp.voided_notification(order_id=pp.renewal_order(0), event_time=at(70)), at(70), "m-2", resource=current
    )

    # THEN the void is recorded, the current period stands
    assert void.revocation.active and void.revocation.covers_until == at(70)
    assert fold(sub(current, 2, as_of=at(60)), void).state is State.ACTIVE


def test_a_voided_subscription_without_its_resource_is_reported_and_takes_the_given_period():
    void = voided_facts(pp.voided_notification(event_time=at(5)), at(5), "m-2")
    assert void.revocation.covers_until is None and any("period" in w for w in void.warnings)
    assert void.update_for(period_end=at(30)).revocation.covers_until == at(30)
    assert fold(sub(pp.subscription(), 4, as_of=at(0)), void).state is State.REVOKED


@pytest.mark.parametrize(
    "body",
    [
        None,
        {},
        {"voidedPurchaseNotification": {"productType": 9, "refundType": 7, "purchaseToken": "t"}},
        {"voidedPurchaseNotification": "x"},
    ],
)
def test_a_malformed_void_is_reported_never_raised(body):
    facts = voided_facts(body, at(5), "m-2")
    assert facts.warnings


def test_facts_without_a_token_concern_no_purchase():
    facts = voided_facts({}, at(5), "m-2")
    assert not facts.concerns_purchase and facts.routing_key == "m-2"
    with pytest.raises(ValueError):
        facts.update_for()


# --------------------------------------------------------------------------- ordering


def test_the_newest_fetch_wins_and_an_older_one_is_stale():
    # GIVEN a fetch on day 10 (canceled) and an older fetch on day 2 (active) delivered after it
    newer = sub(pp.subscription("SUBSCRIPTION_STATE_CANCELED", canceled="user"), 3, as_of=at(10))
    older = sub(pp.subscription(), 4, as_of=at(2))

    # THEN the day-10 truth stands, in either order
    assert fold(newer, older).will_renew is False and fold(older, newer).will_renew is False
    with pytest.raises(StaleEventError):
        apply_update(fold(newer), older.update_for())


def test_a_duplicate_notification_refetches_the_same_truth():
    first = sub(pp.subscription(), 2, as_of=at(30))
    again = sub(pp.subscription(), 2, as_of=at(30) + timedelta(minutes=5))
    assert _observable(fold(first, again)) == _observable(fold(again, first)) == _observable(fold(first))


def _observable(purchase):
    return (
        purchase.state,
        purchase.expires_at,
        purchase.grace_ends_at,
        purchase.will_renew,
        purchase.product_refs,
        purchase.raw_state,
        purchase.environment,
    )


def test_grace_keeps_access_until_the_expiry_google_extended():
    # GIVEN a renewal that failed on day 30; Play extended the expiry to the end of its 7-day grace
    facts = sub(pp.subscription("SUBSCRIPTION_STATE_IN_GRACE_PERIOD", expiry=at(37)), 6, as_of=at(30) + HOUR)
    purchase = fold(facts)

    # THEN access continues through the grace period, and ends with it
    assert (purchase.state, purchase.grace_ends_at, purchase.access_ends_at) == (State.GRACE_PERIOD, at(37), at(37))
    assert purchase.grants_access(at(36)) and not purchase.grants_access(at(37) + HOUR)
    # AND once the grace end has passed with no news, reads show the account hold Play puts it on
    assert (purchase.state_at(at(36)), purchase.state_at(at(37) + HOUR)) == (State.GRACE_PERIOD, State.ON_HOLD)


def test_on_hold_grants_nothing_and_recovery_restores_access():
    held = sub(pp.subscription("SUBSCRIPTION_STATE_ON_HOLD", expiry=at(37)), 5, as_of=at(37) + HOUR)
    recovered = sub(pp.subscription(expiry=at(70)), 1, as_of=at(40))
    assert fold(held).state is State.ON_HOLD and not fold(held).grants_access(at(38))
    assert fold(held, recovered).state is State.ACTIVE and fold(recovered, held).grants_access(at(41))
    assert DAY  # (imported for readers of the time scale)
