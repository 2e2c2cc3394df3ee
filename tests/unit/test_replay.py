"""The replay step: its JSON round trip, and the fold of a purchase from its steps."""

from __future__ import annotations

import json

from parity.domain.model import PaymentRef, PurchaseUpdate, Revocation, Snapshot, State, Store
from parity.domain.ownership import Strategy
from parity.domain.replay import Step, decode, differences, encode, rebuild
from tests.support.domain import day


def update(event_id: str, as_of: int, state: State = State.ACTIVE, until: int = 30, **fields) -> PurchaseUpdate:
    return PurchaseUpdate(
        Store.APP_STORE, "2000000000000001", event_id, day(as_of),
        snapshot=Snapshot(state, day(until), day(as_of), product_id="pro_monthly", product_refs=("pro_monthly",)),
        **fields,
    )  # fmt: skip


def test_a_step_survives_its_json_round_trip():
    step = Step(
        "app_store:2000000000000001", 3,
        update("n_1", 1, payment_refs=(PaymentRef("pi_1", "app_store:2000000000000001", day(30)),
                                       PaymentRef("tok_1", "app_store:2000000000000001", None)),
               revocation=Revocation("pi_1", day(30), True, day(2))),
        claimant="u_1", strategy=Strategy.FIRST,
    )  # fmt: skip
    assert decode(Step, json.loads(json.dumps(encode(step)))) == step


def test_the_fold_goes_by_version_and_decides_claims_as_recorded():
    pid = "app_store:2000000000000001"
    steps = [
        Step(pid, 3, update("n_3", 5, until=60), claimant="u_2", strategy=Strategy.FIRST),  # refused
        Step(pid, 1, update("n_1", 1), claimant="u_1", strategy=Strategy.FIRST),
        Step(pid, 2, update("n_2", 0, State.EXPIRED)),  # older than n_1: stale, nothing changes
        Step(pid, 4, assigned_owner="u_3"),
    ]
    purchase = rebuild(steps)
    assert (purchase.owner_ids, purchase.manual_owner, purchase.version) == (("u_3",), True, 4)
    assert (purchase.state, purchase.expires_at) == (State.ACTIVE, day(60))
    assert rebuild(steps, aliases={"u_3": "u_9"}).owner_ids == ("u_9",)  # merged since


def test_the_fold_refuses_a_claim_past_the_bound_on_sharing_recorded_in_its_step():
    pid = "app_store:2000000000000001"
    steps = [
        Step(pid, n, update(f"n_{n}", n), claimant=f"u_{n}", strategy=Strategy.ALL, max_owners=2) for n in (1, 2, 3)
    ]
    assert rebuild(steps).owner_ids == ("u_1", "u_2")  # u_3 was refused: too many owners
    unbounded = [Step(pid, s.version, s.update, s.claimant, strategy=Strategy.ALL) for s in steps]
    assert rebuild(unbounded).owner_ids == ("u_1", "u_2", "u_3")  # steps recorded before the bound
    assert decode(Step, json.loads(json.dumps(encode(steps[0])))) == steps[0]


def test_differences_name_the_fields_and_ignore_bookkeeping():
    purchase = rebuild([Step("app_store:2000000000000001", 1, update("n_1", 1), claimant="u_1")])
    assert differences(purchase, purchase.with_changes(version=9, checked_at=day(3), pending_users=("u_2",))) == {}
    assert differences(purchase, purchase.with_changes(store_state=State.REVOKED)) == {
        "store_state": (State.ACTIVE, State.REVOKED)
    }


def test_the_fold_keeps_the_link_the_store_data_made_and_refuses_others_as_processing_did():
    pid = "app_store:2000000000000001"
    steps = [
        Step(pid, 1, update("n_1", 1), claimant="u_1", strategy=Strategy.LAST, linked_user="u_1"),
        Step(pid, 2, update("n_2", 2, until=60), claimant="u_2", strategy=Strategy.LAST),  # refused: linked to u_1
        Step(pid, 3, update("n_3", 3, until=90, id_only_claim=True), claimant="u_3", strategy=Strategy.ALL),
    ]
    step = steps[2]
    assert decode(Step, json.loads(json.dumps(encode(step)))) == step

    purchase = rebuild(steps)

    assert (purchase.owner_ids, purchase.linked_user, purchase.expires_at) == (("u_1",), "u_1", day(90))
