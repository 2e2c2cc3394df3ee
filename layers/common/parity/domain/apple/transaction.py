"""The receipts path: a verified StoreKit 2 transaction → `AppleFacts` (pure; docs/stores/app_store.md)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from ..purchases import EPOCH
from ..readers import enum, millis, text_or_number
from ..timeutil import to_epoch_ms
from .facts import AppleFacts, Event, environment, purchase_facts
from .vocabulary import RECEIPT, SUBSCRIPTION_STATUSES


def normalize_transaction(
    transaction: Mapping[str, Any],
    renewal: Mapping[str, Any] | None = None,
    status: int | None = None,
) -> AppleFacts:
    """A verified StoreKit 2 transaction (+ its renewal info and subscription status from the App Store
    Server API, when known) → facts as of the transaction's `signedDate`.

    A lone auto-renewable transaction whose period already ended cannot tell "expired" from "renewed
    since": it carries no snapshot and sets `needs_status` (ask Get All Subscription Statuses).
    """
    warnings: list[str] = []
    tx = transaction if isinstance(transaction, Mapping) else {}
    renewal = renewal if isinstance(renewal, Mapping) else None
    signed = millis(tx.get("signedDate"), "signedDate", warnings)
    if signed is None:
        warnings.append("transaction without signedDate: ordered before everything")
        signed = EPOCH
    event = Event(
        event_id=f"receipt:{text_or_number(tx.get('transactionId'))}:{to_epoch_ms(signed)}",
        event_type=RECEIPT,
        subtype=None,
        occurred_at=signed,
        environment=environment(tx.get("environment"), (renewal or {}).get("environment"), warnings=warnings),
        bundle_id=text_or_number(tx.get("bundleId")),
    )
    status = enum(status, SUBSCRIPTION_STATUSES, "status", warnings)
    return purchase_facts(event, tx, renewal, status, "receipt", warnings)


def latest_per_purchase(history: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """An account's transaction history (verified) → the latest transaction of each purchase (one per
    originalTransactionId: a subscription's renewals are one purchase), oldest purchase first. What a
    restore claims; a transaction naming no purchase is left out."""
    latest: dict[str, Mapping[str, Any]] = {}
    for tx in history:
        original = text_or_number(tx.get("originalTransactionId")) if isinstance(tx, Mapping) else None
        if original is None:
            continue
        if original not in latest or _recency(tx) >= _recency(latest[original]):
            latest[original] = tx
    return sorted(latest.values(), key=lambda tx: (_number(tx.get("originalPurchaseDate")), _recency(tx)))


def _recency(tx: Mapping[str, Any]) -> tuple[int, int]:
    return _number(tx.get("purchaseDate")), _number(tx.get("signedDate"))


def _number(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0
