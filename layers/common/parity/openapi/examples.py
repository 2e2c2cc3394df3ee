"""The OpenAPI document's examples: real outputs of `parity.views` for one made-up user, at a fixed time,
signed with a published example key (RFC 6979 signatures: the document is the same on every build).

The example key is derived from a public string: it verifies the example and nothing else."""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta, timezone
from functools import cache

from .. import views
from ..domain.catalog import Catalog
from ..domain.entitlements import cache_until, compute_entitlements
from ..domain.grants import end_grant, manual_grant
from ..domain.model import Purchase, State, Store
from ..domain.ownership import Action, AuditRecord, Strategy
from ..domain.users import UserState
from ..operator_results import Assignment, MergeResult, UserReport
from ..ports.events import EventSummary
from ..results import ReceiptOutcome, Restored, UserEntitlements
from ..signing import EntitlementSigner, SigningKey

NOW = datetime(2026, 11, 22, 10, 0, tzinfo=timezone.utc)
USER = "u_123"
TOKEN = "6f1c0c3e-3b7e-4e5b-9a57-7f8a2f0c1d11"
CATALOG = Catalog({"com.example.pro.monthly": ("pro",), "price_lifetime": ("pro", "lifetime")})
OPERATOR = "arn:aws:iam::123456789012:user/operator"


@cache
def example_signer() -> EntitlementSigner:
    from cryptography.hazmat.primitives.asymmetric import ec

    order = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551  # P-256's group order
    secret = int.from_bytes(hashlib.sha256(b"parity openapi example key").digest(), "big") % order
    return EntitlementSigner([SigningKey.of(ec.derive_private_key(secret, ec.SECP256R1()))], deterministic=True)


def _purchases() -> tuple[Purchase, ...]:
    in_grace = Purchase(
        store=Store.APP_STORE,
        store_key="2000000123456789",
        product_id="com.example.pro.monthly",
        store_state=State.GRACE_PERIOD,
        expires_at=NOW + timedelta(days=9, hours=14),
        event_time=NOW - timedelta(days=1),
        grace_ends_at=NOW + timedelta(days=25, hours=14),
        will_renew=True,
        owner_ids=(USER,),
    )
    refunded = Purchase(
        store=Store.STRIPE,
        store_key="pi_3PqExample",
        product_id="price_lifetime",
        store_state=State.REVOKED,
        expires_at=None,
        event_time=NOW - timedelta(days=40),
        environment="sandbox",
        owner_ids=(USER,),
    )
    return in_grace, refunded


def read() -> UserEntitlements:
    purchases = _purchases()
    entitlements = compute_entitlements(purchases, CATALOG, NOW)
    return UserEntitlements(
        USER, TOKEN, entitlements, purchases, CATALOG, NOW, cache_until(entitlements.values(), NOW, timedelta(days=1))
    )


def entitlements() -> dict:
    return views.entitlements_response(read(), example_signer())


def restored() -> dict:
    outcome = ReceiptOutcome(read(), restored=Restored(("app_store:2000000000000001",), ("app_store:2000000000000002",)))
    return views.receipt_response(outcome, example_signer())[1]


def signed_claims() -> dict:
    return views.signed_claims(read())


def pending() -> dict:
    return views.receipt_response(ReceiptOutcome(None), example_signer())[1]


def error(code: str, message: str) -> dict:
    return views.error_body(code, message)


def jwks() -> dict:
    return example_signer().jwks()


def webhook() -> dict:
    return views.webhook_view("evt_1QExample", False)


def assignment() -> dict:
    purchase = _purchases()[0].with_changes(owner_ids=("u_456",), manual_owner=True)
    return views.assignment_view(Assignment(purchase, (USER,)))


def merge() -> dict:
    return views.merge_view(MergeResult(USER, "u_old_456", 2))


def admin_user() -> dict:
    purchases = _purchases()
    user = UserState(USER, TOKEN, version=3, purchases=purchases, refunds=1, aliases=("u_old_456",))
    claim = AuditRecord(
        USER, Action.CLAIMED, NOW - timedelta(days=30), "app_store", "receipt:2000000123456789:1", purchases[0].purchase_id,
        strategy=Strategy.LAST,
    )
    refusal = AuditRecord(
        USER, Action.CLAIM_REFUSED, NOW - timedelta(days=2), "app_store", "receipt:2000000123456789:2",
        purchases[0].purchase_id, ("u_789",), Strategy.FIRST,
    )  # fmt: skip
    event = EventSummary(
        "app_store", "0f1e2d3c-example", "DID_FAIL_TO_RENEW", NOW - timedelta(days=1), NOW - timedelta(days=1),
        "applied", purchases[0].purchase_id,
    )  # fmt: skip
    report = UserReport(
        user=user,
        entitlements=compute_entitlements(purchases, CATALOG, NOW),
        events={purchases[0].purchase_id: (event,)},
        claims=(claim,),
        refusals=(refusal,),
        double_billing={},
        refund_threshold=3,
        catalog=CATALOG,
        now=NOW,
        flag_history=(flag_cleared(),),
    )
    return views.admin_user_view(report)


def flag_cleared() -> AuditRecord:
    return AuditRecord(
        USER, Action.FLAG_CLEARED, NOW - timedelta(days=5), "admin", "flag-cleared:5b0e7c1d9a2f4e3b8c6d1a0f2e4b6c8d",
        actor=OPERATOR, detail="refunds explained by a billing bug",
    )  # fmt: skip


GRANT_ID = "9f86d081884c4d659a2feaa0c55ad015"


def grant_purchase() -> Purchase:
    """A manual grant of `pro` for 30 days, made a day ago."""
    return manual_grant(GRANT_ID, "pro", USER, NOW + timedelta(days=29), NOW - timedelta(days=1))


def grant() -> dict:
    granted = grant_purchase()
    return views.grant_view(granted, granted.owner_ids[0], CATALOG, granted.event_time)


def revoked_grant() -> dict:
    ended = end_grant(grant_purchase(), NOW)
    return views.grant_view(ended, ended.owner_ids[0], CATALOG, ended.event_time)


def flag() -> dict:
    """The flag after it was cleared: the refunds stay counted."""
    return views.flag_view(UserState(USER, TOKEN, version=4, refunds=3, flagged_at=None), 3)
