"""Who may use a purchase, against moto: strategies, manual association, merges, the audit trail,
refund abuse and double billing, through the processor and the admin function."""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from parity.domain.model import PurchaseUpdate, Snapshot, State, Store
from tests.support import stripe
from tests.support.harness import Response, load_function, running_stack
from tests.support.lambda_events import LambdaContext, admin_event
from tests.unit.test_ownership import predicted_owners

APPLE_KEY = "2000000000000001"
APPLE_PURCHASE = f"app_store:{APPLE_KEY}"
_ids = itertools.count(1)


def claim(stack, user: str | None, t0: int, store_key: str = APPLE_KEY, token: str | None = None, days: int = 30):
    """A store update for one App Store purchase claimed by `user` (or by whoever `token` names)."""
    as_of = datetime.fromtimestamp(t0, tz=timezone.utc)
    update = PurchaseUpdate(
        store=Store.APP_STORE,
        store_key=store_key,
        event_id=f"n_{next(_ids)}",
        occurred_at=as_of,
        snapshot=Snapshot(State.ACTIVE, as_of + timedelta(days=days), as_of, product_id="price_pro_monthly"),
        claimant=user,
        app_account_token=token,
    )
    return stack.processor.service.apply(update, source="app_store")


def owners(stack, purchase_id: str = APPLE_PURCHASE) -> list[str]:
    return list(stack.purchase_item(purchase_id).get("ownerIds") or [])


def has_pro(stack, user: str) -> bool:
    pro = stack.read(user).body["entitlements"].get("pro")
    return bool(pro and pro["active"])


def strategy_stack(tmp_path, strategy: str, **env: str):
    return running_stack(catalog_dir=tmp_path, env={"ENTITLEMENT_STRATEGY": strategy, **env})


# ----------------------------------------------------------------------------------------- strategies


def test_under_first_a_later_claim_is_refused_and_recorded_for_both_users(tmp_path, t0):
    with strategy_stack(tmp_path, "FIRST") as stack:
        # GIVEN u_first claimed the purchase
        assert claim(stack, "u_first", t0).status == "applied"

        # WHEN u_second claims it
        outcome = claim(stack, "u_second", t0 + 1)

        # THEN the claim is refused, u_first keeps it, and both users' trails say so
        assert outcome.claim_refused
        assert owners(stack) == ["u_first"]
        assert has_pro(stack, "u_first") and not has_pro(stack, "u_second")
        refused = stack.user_report("u_first").body["refusals"]
        assert [(r["action"], r["otherUserIds"], r["strategy"]) for r in refused] == [("claim_refused", ["u_second"], "FIRST")]
        mine = stack.user_report("u_second").body["refusals"]
        assert [(r["action"], r["otherUserIds"], r["purchaseId"]) for r in mine] == [("refused", ["u_first"], APPLE_PURCHASE)]


def test_under_last_the_latest_claimant_takes_over_and_the_previous_owner_is_told(stack, t0):
    claim(stack, "u_old", t0)
    stack.changes()

    claim(stack, "u_new", t0 + 1)

    assert owners(stack) == ["u_new"]
    assert has_pro(stack, "u_new") and not has_pro(stack, "u_old")
    lost = [c for c in stack.changes() if c["userId"] == "u_old"]
    assert [(c["entitlement"], c["old"]["active"], c["new"]["active"]) for c in lost] == [("pro", True, False)]
    claims = stack.user_report("u_new").body["claims"]
    assert [(c["action"], c["otherUserIds"]) for c in claims] == [("took_over", ["u_old"])]
    assert [c["action"] for c in stack.user_report("u_old").body["claims"]] == ["lost", "claimed"]


def test_under_all_every_claimant_has_access(tmp_path, t0):
    with strategy_stack(tmp_path, "ALL") as stack:
        for offset, user in enumerate(["u_1", "u_2", "u_3"]):
            claim(stack, user, t0 + offset)
        assert owners(stack) == ["u_1", "u_2", "u_3"]
        assert all(has_pro(stack, user) for user in ["u_1", "u_2", "u_3"])
        ownership = {u: stack.read(u).body["purchases"][0]["ownership"] for u in ["u_1", "u_2"]}
        assert ownership == {"u_1": "owner", "u_2": "shared"}


def test_concurrent_claims_under_first_leave_exactly_one_owner(tmp_path, t0, monkeypatch):
    with strategy_stack(tmp_path, "FIRST") as stack:
        service = stack.processor.service
        other_container = load_function("event_processor").service
        repo, real_commit, raced = service._repo, service._repo.commit, []

        # GIVEN another container commits u_them's claim while this one is between its read and its write
        def racing_commit(commit):
            if not raced:
                raced.append(True)
                as_of = datetime.fromtimestamp(t0, tz=timezone.utc)
                theirs = PurchaseUpdate(
                    Store.APP_STORE, APPLE_KEY, "n_theirs", as_of,
                    Snapshot(State.ACTIVE, as_of + timedelta(days=30), as_of, product_id="price_pro_monthly"),
                    claimant="u_them",
                )  # fmt: skip
                assert not other_container.apply(theirs, source="app_store").claim_refused
            real_commit(commit)

        monkeypatch.setattr(repo, "commit", racing_commit)

        # WHEN this container's claim by u_us commits
        outcome = claim(stack, "u_us", t0)

        # THEN its conditional write lost, the retry saw u_them's claim, and u_us was refused
        assert outcome.claim_refused
        assert owners(stack) == ["u_them"]
        assert not has_pro(stack, "u_us")


def test_a_claim_by_the_owner_again_records_nothing(stack, t0):
    claim(stack, "u_1", t0)
    assert claim(stack, "u_1", t0).status == "stale"
    assert [c["action"] for c in stack.user_report("u_1").body["claims"]] == ["claimed"]


# ------------------------------------------------------------------------------- manual association


def test_a_manual_association_outranks_later_claims_under_last(stack, t0):
    claim(stack, "u_claimant", t0)

    # WHEN an operator associates the purchase with u_chosen
    answer = stack.assign_owner(APPLE_PURCHASE, "u_chosen")

    # THEN u_chosen alone has it, and later claims by anyone else are refused
    assert answer.status == 200
    assert answer.body == {
        "purchaseId": APPLE_PURCHASE,
        "ownerIds": ["u_chosen"],
        "ownership": "manual",
        "previousOwnerIds": ["u_claimant"],
    }
    assert has_pro(stack, "u_chosen") and not has_pro(stack, "u_claimant")
    assert claim(stack, "u_claimant", t0 + 10).claim_refused
    assert owners(stack) == ["u_chosen"]
    assert stack.read("u_chosen").body["purchases"][0]["ownership"] == "manual"

    # AND only another manual association moves it
    stack.assign_owner(APPLE_PURCHASE, "u_claimant")
    assert owners(stack) == ["u_claimant"] and not has_pro(stack, "u_chosen")
    assigned = stack.user_report("u_claimant").body["claims"][0]
    assert (assigned["action"], assigned["actor"]) == ("assigned", "arn:aws:iam::123456789012:user/operator")


def test_a_manual_association_is_in_the_event_log_and_repeating_it_changes_nothing(stack, t0):
    claim(stack, "u_1", t0)
    stack.assign_owner(APPLE_PURCHASE, "u_2")
    version = stack.purchase_item(APPLE_PURCHASE)["version"]

    assert stack.assign_owner(APPLE_PURCHASE, "u_2").status == 200
    assert stack.purchase_item(APPLE_PURCHASE)["version"] == version
    events = stack.user_report("u_2").body["purchases"][0]["events"]
    assert [e["eventType"] for e in events if e["source"] == "admin"] == ["purchase.owner_assigned"] * 2


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        (b"not json", 400, "malformed_body"),
        (b'{"user": "u_1"}', 422, "invalid_request"),
        (b'{"userId": ""}', 400, "invalid_user_id"),
        (b'{"userId": "has spaces"}', 400, "invalid_user_id"),
    ],
)
def test_a_malformed_association_is_refused_and_changes_nothing(stack, t0, body, status, code):
    claim(stack, "u_1", t0)
    event = admin_event("PUT", "/v1/admin/purchases/{purchaseId}/owner", {"purchaseId": APPLE_PURCHASE})
    event["body"] = body.decode()
    answer = Response.of(stack.function("admin").lambda_handler(event, LambdaContext("parity-admin")))
    assert (answer.status, answer.body["error"]["code"]) == (status, code)
    assert owners(stack) == ["u_1"]


def test_an_unknown_purchase_is_a_404(stack):
    answer = stack.assign_owner("app_store:999", "u_1")
    assert (answer.status, answer.body["error"]["code"]) == (404, "purchase_not_found")


def test_an_admin_request_without_an_iam_identity_is_refused(stack, t0):
    claim(stack, "u_1", t0)
    answer = stack.admin("PUT", "/v1/admin/purchases/{purchaseId}/owner", {"userId": "u_2"}, iam=False, purchaseId=APPLE_PURCHASE)
    assert (answer.status, answer.body["error"]["code"]) == (403, "forbidden")
    assert owners(stack) == ["u_1"]


def test_a_percent_encoded_purchase_id_names_the_same_purchase(stack, t0):
    claim(stack, "u_1", t0)
    answer = stack.assign_owner(APPLE_PURCHASE.replace(":", "%3A"), "u_2")
    assert answer.status == 200 and owners(stack) == ["u_2"]


# --------------------------------------------------------------------------------------------- merge


def test_after_a_merge_both_ids_read_the_merged_entitlements(stack, t0):
    # GIVEN u_old holds an App Store purchase and u_new a Stripe one for another entitlement
    claim(stack, "u_old", t0)
    stack.deliver(stripe.event(
        "customer.subscription.created",
        stripe.subscription("sub_team", "active", t0 + 30 * stripe.DAY, price="price_team", product="prod_team", user_id="u_new"),
        created=t0,
    ))  # fmt: skip
    assert not stack.drain().failed
    old_token = stack.read("u_old").body["appAccountToken"]

    # WHEN u_old is merged into u_new
    answer = stack.merge("u_new", "u_old")

    # THEN both ids read the same entitlements, the merged user's
    assert answer.status == 200 and answer.body["purchasesMoved"] == 1
    merged, alias = stack.read("u_new").body, stack.read("u_old").body
    assert alias["entitlements"] == merged["entitlements"]
    assert set(merged["entitlements"]) == {"pro", "team"} and merged["userId"] == alias["userId"] == "u_new"
    assert owners(stack) == ["u_new"]

    # AND a store event carrying the old user's token, or naming the old user, lands on the merged user
    claim(stack, None, t0 + 5, store_key="2000000000000002", token=old_token)
    assert owners(stack, "app_store:2000000000000002") == ["u_new"]
    claim(stack, "u_old", t0 + 6, store_key="2000000000000003")
    assert owners(stack, "app_store:2000000000000003") == ["u_new"]

    # AND the merge is in both users' trails, with the alias listed
    report = stack.user_report("u_old").body
    assert report["userId"] == "u_new" and report["aliases"] == ["u_old"]
    assert {c["action"] for c in report["claims"]} >= {"merged_from", "merged_into"}
    assert [n["type"] for n in stack.notices()] == ["user.merged"]


def test_merging_is_idempotent_and_refuses_cycles_and_self_merges(stack, t0):
    claim(stack, "u_a", t0)
    stack.read("u_b")
    assert stack.merge("u_b", "u_a").status == 200
    version = stack.item("USER#u_b", "PROFILE")["version"]

    again = stack.merge("u_b", "u_a")
    assert (again.status, again.body["purchasesMoved"]) == (200, 0)
    assert stack.item("USER#u_b", "PROFILE")["version"] == version

    back = stack.merge("u_a", "u_b")
    assert (back.status, back.body["error"]["code"]) == (409, "merge_cycle")
    itself = stack.merge("u_b", "u_b")
    assert (itself.status, itself.body["error"]["code"]) == (400, "invalid_merge")
    stack.read("u_c")
    elsewhere = stack.merge("u_c", "u_a")
    assert (elsewhere.status, elsewhere.body["error"]["code"]) == (409, "already_merged")
    unknown = stack.merge("u_b", "u_nobody")
    assert (unknown.status, unknown.body["error"]["code"]) == (404, "user_not_found")


def test_aliases_never_chain(stack, t0):
    # GIVEN u_1 merged into u_2
    claim(stack, "u_1", t0)
    token_1 = stack.read("u_1").body["appAccountToken"]
    stack.read("u_2")
    stack.merge("u_2", "u_1")

    # WHEN u_2 is merged into u_3
    stack.read("u_3")
    stack.merge("u_3", "u_2")

    # THEN u_1 resolves to u_3 directly, and so does its token
    assert stack.item("USER#u_1", "PROFILE")["mergedInto"] == "u_3"
    assert stack.item(f"TOKEN#{token_1}", "TOKEN")["userId"] == "u_3"
    assert stack.read("u_1").body["userId"] == "u_3" and has_pro(stack, "u_1")
    assert sorted(stack.user_report("u_3").body["aliases"]) == ["u_1", "u_2"]


def test_a_merge_of_many_purchases_moves_them_all(stack, t0):
    for n in range(20):  # more than one transaction's worth
        claim(stack, "u_many", t0, store_key=f"30000000000000{n:02d}")
    stack.read("u_target")

    answer = stack.merge("u_target", "u_many")

    assert answer.body["purchasesMoved"] == 20
    assert len(stack.read("u_target").body["purchases"]) == 20
    assert stack.read("u_many").body["purchases"] == stack.read("u_target").body["purchases"]
    assert not [i for i in stack.table_items() if i["PK"] == "USER#u_many" and i["SK"] != "PROFILE"]


def test_a_merge_into_a_user_never_seen_issues_them_a_token(stack, t0):
    claim(stack, "u_old", t0)
    assert stack.merge("u_brand_new", "u_old").status == 200
    body = stack.read("u_brand_new").body
    assert body["appAccountToken"] and has_pro(stack, "u_brand_new")


# ----------------------------------------------------------------------------------------- identity


def test_a_changed_email_on_stripe_changes_no_link(stack, t0):
    # GIVEN u_mail's customer and subscription
    stack.deliver(stripe.event("customer.created", stripe.customer("cus_mail", "old@example.com", "u_mail"), created=t0))
    sub = stripe.subscription("sub_mail", "active", t0 + 30 * stripe.DAY, customer="cus_mail", user_id=None)
    stack.deliver(stripe.event("customer.subscription.created", sub, created=t0 + 1))
    assert not stack.drain().failed
    assert owners(stack, "stripe:sub_mail") == ["u_mail"]

    # WHEN the customer's email changes, even to another user's address
    changed = stripe.customer("cus_mail", "someone.else@example.com", None)
    stack.deliver(stripe.event("customer.updated", changed, created=t0 + 2))
    stack.deliver(stripe.event("customer.subscription.updated", sub, created=t0 + 3))
    assert not stack.drain().failed

    # THEN the purchase and the link stay with u_mail
    assert owners(stack, "stripe:sub_mail") == ["u_mail"]
    assert stack.item("CUSTOMER#stripe:cus_mail", "LINK")["userId"] == "u_mail"
    assert has_pro(stack, "u_mail")


# ---------------------------------------------------------------------------- refunds, double billing


def refund(stack, user: str, n: int, t0: int) -> None:
    """A one-time Stripe purchase by `user`, fully refunded."""
    session = stripe.checkout_session(user, mode="payment", payment_intent=f"pi_{n}", metadata={"price_id": "price_lifetime"})
    stack.deliver(stripe.event("checkout.session.completed", session, created=t0 + n))
    stack.deliver(stripe.event("charge.refunded", stripe.charge(f"ch_{n}", payment_intent=f"pi_{n}"), created=t0 + n + 1))
    assert not stack.drain().failed


def flag_notices(stack) -> list[dict]:
    return [n for n in stack.notices() if n["type"] == "user.flagged_for_review"]


def test_repeated_refunds_flag_the_user_for_review_without_revoking(tmp_path, t0):
    with running_stack(catalog_dir=tmp_path, env={"REFUND_ABUSE_THRESHOLD": "2"}) as stack:
        claim(stack, "u_refunder", t0)  # a purchase never refunded
        refund(stack, "u_refunder", 1, t0)
        assert not stack.user_report("u_refunder").body["flags"]["refundAbuse"]["flagged"]
        assert not flag_notices(stack)

        refund(stack, "u_refunder", 3, t0)

        flags = stack.user_report("u_refunder").body["flags"]["refundAbuse"]
        assert (flags["flagged"], flags["refunds"], flags["threshold"]) == (True, 2, 2)
        assert [(n["userId"], n["refunds"]) for n in flag_notices(stack)] == [("u_refunder", 2)]
        assert has_pro(stack, "u_refunder")  # the unrefunded purchase still grants
        refund(stack, "u_refunder", 5, t0)
        assert not flag_notices(stack)  # flagged once


def test_a_redelivered_refund_counts_once(stack, t0):
    refund(stack, "u_once", 1, t0)
    stack.deliver(stripe.event("charge.refunded", stripe.charge("ch_1", payment_intent="pi_1"), created=t0 + 9))
    assert not stack.drain().failed
    assert stack.user_report("u_once").body["flags"]["refundAbuse"]["refunds"] == 1


def test_paying_for_one_entitlement_in_two_stores_is_reported(stack, t0):
    # GIVEN u_twice pays for pro on the web
    stack.deliver(stripe.event(
        "customer.subscription.created", stripe.subscription("sub_web", "active", t0 + 30 * stripe.DAY, user_id="u_twice"), created=t0
    ))  # fmt: skip
    assert not stack.drain().failed
    assert stack.notices() == []

    # WHEN they also subscribe in the App Store
    claim(stack, "u_twice", t0 + 1)

    # THEN the double billing is reported: a notice, and the admin route
    expected = ["app_store:2000000000000001", "stripe:sub_web"]
    assert [(n["type"], n["entitlement"], n["purchaseIds"]) for n in stack.notices()] == [
        ("billing.double_billing_detected", "pro", expected)
    ]
    assert stack.user_report("u_twice").body["flags"]["doubleBilling"] == [{"entitlement": "pro", "purchaseIds": expected}]


def test_the_admin_report_lists_the_events_behind_each_purchase(stack, t0):
    created = stripe.event("customer.subscription.created", stripe.subscription("sub_ev", user_id="u_ev"), created=t0)
    renewed = stripe.event("customer.subscription.updated", stripe.subscription("sub_ev", user_id="u_ev"), created=t0 + 1)
    stack.deliver(created, renewed)
    assert not stack.drain().failed

    purchase = stack.user_report("u_ev").body["purchases"][0]

    assert purchase["ownerIds"] == ["u_ev"]
    assert {(e["eventId"], e["source"]) for e in purchase["events"]} == {(created["id"], "stripe"), (renewed["id"], "stripe")}


# -------------------------------------------------------------------------------------------- property

STEPS = st.lists(st.tuples(st.sampled_from(["claim", "assign"]), st.sampled_from(["u_a", "u_b", "u_c"])), min_size=1, max_size=6)


@pytest.mark.parametrize("strategy", ["ALL", "FIRST", "LAST"])
def test_any_interleaving_of_claims_and_associations_ends_as_the_rules_predict(tmp_path, strategy):
    from parity.domain.ownership import Strategy

    with strategy_stack(tmp_path, strategy) as stack:
        t0 = 1_790_000_000
        keys = itertools.count(1)

        @settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
        @given(steps=STEPS)
        def run(steps):
            key = f"4{next(keys):015d}"
            for offset, (kind, user) in enumerate(steps):
                if kind == "assign":
                    if stack.purchase_item(f"app_store:{key}") is None:
                        claim(stack, None, t0, store_key=key)  # the purchase must exist to be associated
                    assert stack.assign_owner(f"app_store:{key}", user).status == 200
                else:
                    claim(stack, user, t0 + offset, store_key=key)
            expected = predicted_owners(steps, Strategy(strategy))
            assert set(owners(stack, f"app_store:{key}")) == expected
            for user in ["u_a", "u_b", "u_c"]:
                held = {p["purchaseId"] for p in stack.read(user).body["purchases"]}
                assert (f"app_store:{key}" in held) == (user in expected)

        run()


def test_a_merge_that_also_finds_double_billing_writes_both_audit_lines(stack, t0):
    # GIVEN one person: u_ios subscribed in the App Store, u_web on the web
    claim(stack, "u_ios", t0)
    stack.deliver(stripe.event(
        "customer.subscription.created", stripe.subscription("sub_web", "active", t0 + 30 * stripe.DAY, user_id="u_web"), created=t0
    ))  # fmt: skip
    assert not stack.drain().failed

    # WHEN the accounts are merged (two audit lines of u_web in one transaction)
    assert stack.merge("u_web", "u_ios").status == 200

    # THEN the double billing is reported next to the merge
    report = stack.user_report("u_web").body
    assert report["flags"]["doubleBilling"] == [{"entitlement": "pro", "purchaseIds": [APPLE_PURCHASE, "stripe:sub_web"]}]
    assert {"merged_from"} <= {c["action"] for c in report["claims"]}
    assert {n["type"] for n in stack.notices()} == {"user.merged", "billing.double_billing_detected"}


def test_refunds_counted_on_a_merged_id_carry_over_and_can_flag_the_merged_user(tmp_path, t0):
    with running_stack(catalog_dir=tmp_path, env={"REFUND_ABUSE_THRESHOLD": "2"}) as stack:
        refund(stack, "u_old_account", 1, t0)
        refund(stack, "u_new_account", 3, t0)
        assert not flag_notices(stack)

        assert stack.merge("u_new_account", "u_old_account").status == 200

        flags = stack.user_report("u_new_account").body["flags"]["refundAbuse"]
        assert (flags["flagged"], flags["refunds"]) == (True, 2)
        assert [(n["userId"], n["refunds"]) for n in flag_notices(stack)] == [("u_new_account", 2)]
