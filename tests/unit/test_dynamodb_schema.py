"""The table's schema module lists every attribute the DynamoDB adapter writes: the codecs agree with it,
and each item type round-trips through its codec."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from parity.adapters.dynamodb import codecs, schema, table
from parity.domain.entitlements import Entitlement
from parity.domain.model import PaymentRef, Purchase, Revocation, State, Store
from parity.domain.ownership import Action, AuditRecord, Strategy
from parity.ports import UserWrite

NOW = datetime(2024, 5, 1, 12, 0, tzinfo=timezone.utc)


def every_field_set_purchase() -> Purchase:
    return Purchase(
        store=Store.STRIPE,
        store_key="sub_1",
        product_id="price_pro",
        store_state=State.ACTIVE,
        expires_at=NOW + timedelta(days=30),
        event_time=NOW,
        grace_ends_at=NOW + timedelta(days=33),
        will_renew=True,
        environment="sandbox",
        raw_state="active",
        product_refs=("prod_pro",),
        app="com.example.app",
        owner_ids=("u_1", "u_2"),
        manual_owner=True,
        linked_user="u_1",
        revocations=(Revocation("in_1", NOW, True, NOW, False),),
        customer_ref="cus_1",
        snapshot_at=NOW,
        checked_at=NOW,
        version=3,
        pending_users=("u_2",),
    )


def test_a_purchase_item_holds_the_declared_attributes_and_reads_back_the_same():
    # GIVEN a purchase with every field set
    purchase = every_field_set_purchase()
    # WHEN it is written as an item
    item = codecs.purchase_to_item(purchase)
    # THEN every attribute is declared, and reading the item gives the purchase back
    assert set(item) == schema.PURCHASE_ATTRIBUTES
    assert set(item["revocations"][0]) == schema.REVOCATION_ATTRIBUTES
    assert codecs.item_to_purchase(table.load_item(table.dump_item(item))) == purchase


def test_entitlement_and_audit_items_hold_the_declared_attributes_and_read_back_the_same():
    entitlement = Entitlement(
        "pro", True, State.ACTIVE, NOW, NOW, True, Store.STRIPE, "price_pro", "stripe:sub_1", environment="sandbox"
    )
    audit = AuditRecord("u_1", Action.MERGED_FROM, NOW, "admin", "evt_1", "stripe:sub_1", ("u_2",), Strategy.LAST, "ops", "x")

    assert set(codecs.entitlement_to_item(entitlement)) == schema.ENTITLEMENT_ATTRIBUTES
    assert codecs.item_to_entitlement(codecs.entitlement_to_item(entitlement)) == entitlement
    assert set(codecs.audit_to_item(audit)) == schema.AUDIT_ATTRIBUTES
    assert codecs.item_to_audit(codecs.audit_to_item(audit)) == audit


def test_items_written_before_environment_and_app_existed_read_as_production_with_no_app():
    purchase_item = codecs.purchase_to_item(every_field_set_purchase())
    del purchase_item["environment"], purchase_item["app"]
    entitlement_item = codecs.entitlement_to_item(
        Entitlement("pro", True, State.ACTIVE, NOW, None, True, Store.STRIPE, "price_pro", "stripe:sub_1")
    )
    del entitlement_item["environment"]
    old = codecs.item_to_purchase(table.load_item(table.dump_item(purchase_item)))
    assert (old.environment, old.app) == ("production", None)
    assert codecs.item_to_entitlement(entitlement_item).environment == "production"


def test_profile_and_payment_ref_items_hold_the_declared_attributes():
    user = UserWrite("u_1", 0, "tok", refunds_added=1, flagged_at=NOW, merged_into="u_0", aliases_added=("u_9",))
    ref = PaymentRef("in_1", "stripe:sub_1", NOW, ("u_1",))

    assert set(codecs.new_profile_to_item("u_1", "tok", user)) == schema.PROFILE_ATTRIBUTES
    assert set(codecs.payment_ref_to_item(ref, ref.owner_ids)) == schema.PAYREF_ATTRIBUTES
    assert codecs.item_to_payment_ref(codecs.payment_ref_to_item(ref, ref.owner_ids)) == ref


def test_keys_follow_the_documented_patterns():
    audit = AuditRecord("u_1", Action.MERGED_FROM, NOW, "admin", "evt_1")

    assert schema.event_key("stripe", "evt_1") == {"PK": {"S": "EVENT#stripe#evt_1"}, "SK": {"S": "EVENT"}}
    assert schema.event_id_of("EVENT#play_store#a#b") == ("play_store", "a#b")
    assert schema.purchase_key("stripe:sub_1")["PK"] == {"S": "PURCHASE#stripe:sub_1"}
    assert schema.user_purchase_key("u_1", "stripe:sub_1")["SK"] == {"S": "PURCHASE#stripe:sub_1"}
    assert schema.audit_key(audit, 2)["SK"] == {"S": f"{NOW.isoformat()}#admin#evt_1#merged_from#002"}
