"""Google Play (Real-time developer notifications + Play Developer API resources) → purchase facts (pure).

The input is already verified and fetched: the webhook checked the Pub/Sub push token and decoded
`message.data` into a DeveloperNotification; the processor (or the receipts route) then asked the Play
Developer API for the purchase. A notification is only a trigger: every state is read from the fetched
resource, never from the notification type. Nothing here checks a signature or reads the network.

Entry points: `parse_notification` (what a DeveloperNotification is about and what to fetch),
`subscription_facts`, `product_facts`, `voided_facts` (→ `GoogleFacts`), `GoogleFacts.update_for`
(→ `PurchaseUpdate` of `play_store:<store key>`), `chain_key` (which lifecycle a token belongs to).

How Google Play's states map onto Parity's, and the rules for ordering, chains, acknowledgement and
revocations: docs/stores/play_store.md.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..names import on_first_use

if TYPE_CHECKING:
    from .facts import GoogleFacts, chain_key
    from .notification import PlayNotification, parse_notification
    from .products import product_facts
    from .subscriptions import subscription_facts
    from .vocabulary import (
        ONE_TIME_PRODUCT,
        PRODUCTS,
        SUBSCRIPTION,
        SUBSCRIPTION_NOTIFICATION_TYPES,
        SUBSCRIPTION_STATES,
        SUBSCRIPTIONS_V2,
        TEST,
        UNSPECIFIED,
        VOIDED_PURCHASE,
    )
    from .voided import voided_facts

# Where each name lives; names resolve on first use (PEP 562): a function loads Play's normalizers at
# its first Play purchase, not at cold start.
_MODULE_OF = {
    **dict.fromkeys(("GoogleFacts", "chain_key"), "facts"),
    **dict.fromkeys(("PlayNotification", "parse_notification"), "notification"),
    "product_facts": "products",
    "subscription_facts": "subscriptions",
    "voided_facts": "voided",
    **dict.fromkeys(
        (
            "ONE_TIME_PRODUCT",
            "PRODUCTS",
            "SUBSCRIPTION",
            "SUBSCRIPTION_NOTIFICATION_TYPES",
            "SUBSCRIPTION_STATES",
            "SUBSCRIPTIONS_V2",
            "TEST",
            "UNSPECIFIED",
            "VOIDED_PURCHASE",
        ),
        "vocabulary",
    ),
}

__all__ = [
    "ONE_TIME_PRODUCT",
    "PRODUCTS",
    "SUBSCRIPTION",
    "SUBSCRIPTION_NOTIFICATION_TYPES",
    "SUBSCRIPTION_STATES",
    "SUBSCRIPTIONS_V2",
    "TEST",
    "UNSPECIFIED",
    "VOIDED_PURCHASE",
    "GoogleFacts",
    "PlayNotification",
    "chain_key",
    "parse_notification",
    "product_facts",
    "subscription_facts",
    "voided_facts",
]

__getattr__ = on_first_use(__name__, _MODULE_OF)
