"""App Store (App Store Server Notifications V2, StoreKit 2 transactions) → normalized purchase facts (pure).

The input is already verified. The webhook checked the notification's JWS (x5c chain up to a trusted
Apple root, Apple's OIDs, bundle id, environment) and the signed transaction and renewal info inside it,
then decoded all three into a `VerifiedNotification`. The receipts path hands `normalize_transaction` a
verified StoreKit 2 transaction, with the renewal info and subscription status from the App Store
Server API when it could ask for them. Nothing here checks a signature or reads the network.

Entry points: `normalize` (a notification), `normalize_transaction` (the receipts path), both
→ `AppleFacts`, whose `update_for` gives the `PurchaseUpdate` of `app_store:<originalTransactionId>`.

How the App Store's facts become Parity's: docs/stores/app_store.md.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..names import on_first_use

if TYPE_CHECKING:
    from .facts import AppleFacts
    from .notification import normalize
    from .transaction import latest_per_purchase, normalize_transaction
    from .verified import VerifiedNotification
    from .vocabulary import (
        CONSUMABLE,
        NO_PURCHASE_TYPES,
        NOTIFICATION_SUBTYPES,
        RECEIPT,
        SNAPSHOT_TYPES,
        TRANSACTION_TYPES,
    )

# Where each name lives; names resolve on first use (PEP 562), so the webhook, which needs only
# `verified`, does not load the normalizer's facts and the purchase model.
_MODULE_OF = {
    "AppleFacts": "facts",
    "VerifiedNotification": "verified",
    "normalize": "notification",
    **dict.fromkeys(("latest_per_purchase", "normalize_transaction"), "transaction"),
    **dict.fromkeys(
        ("CONSUMABLE", "NO_PURCHASE_TYPES", "NOTIFICATION_SUBTYPES", "RECEIPT", "SNAPSHOT_TYPES", "TRANSACTION_TYPES"),
        "vocabulary",
    ),
}
__all__ = [
    "CONSUMABLE",
    "NO_PURCHASE_TYPES",
    "NOTIFICATION_SUBTYPES",
    "RECEIPT",
    "SNAPSHOT_TYPES",
    "TRANSACTION_TYPES",
    "AppleFacts",
    "VerifiedNotification",
    "latest_per_purchase",
    "normalize",
    "normalize_transaction",
]


__getattr__ = on_first_use(__name__, _MODULE_OF)
