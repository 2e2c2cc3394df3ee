"""A fetched ProductPurchase (or ProductPurchaseV2) → `GoogleFacts` (pure; docs/stores/play_store.md)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, NamedTuple

from ..model import State
from ..readers import enum, integer, millis, text, timestamp
from .facts import Fetched, GoogleFacts, acknowledgement_state
from .vocabulary import (
    ACK_PENDING,
    ONE_TIME_PRODUCT,
    PRODUCT_ACKNOWLEDGEMENT_STATES,
    PRODUCT_PURCHASE_STATES,
    PRODUCT_PURCHASE_STATES_V2,
    PURCHASE_TYPES,
)


class ProductPurchase(NamedTuple):
    """What either version of a one-time purchase resource says, in one shape."""

    state: State | None
    raw_state: str | None
    acknowledgement_state: str | None
    acknowledgement_pending: bool
    test: bool
    products: tuple[str | None, ...]
    consumed: bool | None
    quantity: int | None
    refundable_quantity: int | None


def product_facts(
    purchase_token: str,
    product_id: str | None,
    resource: Mapping[str, Any],
    as_of: datetime,
    event_id: str,
    notification_type: int | None = None,
    *,
    event_time: datetime | None = None,
) -> GoogleFacts:
    """A ProductPurchase (`purchases.products.get`; a ProductPurchaseV2 is read too) fetched at
    `as_of` → facts: purchased → active without end (lifetime), pending → pending, canceled → expired.

    `product_id`: the notification's `sku` or the receipt's product id (the resource may omit it).
    Consumed products stay active: what a product grants is the catalog's business (map consumables to
    no entitlement); `consumed` and the quantities are exposed.
    """
    fetched = Fetched.read(ONE_TIME_PRODUCT, purchase_token, resource, as_of, event_id, notification_type, event_time)
    res, warnings = fetched.resource, fetched.warnings
    version_2 = "purchaseStateContext" in res or "productLineItem" in res
    read = _read_v2(res, warnings) if version_2 else _read_v1(res, warnings)
    products = tuple(dict.fromkeys(p for p in (text(product_id), *read.products) if p))
    environment = "sandbox" if read.test else "production"
    snapshot = None
    if read.state is not None:
        snapshot = fetched.snapshot(
            read.state, products, expires_at=None, will_renew=False, raw_state=read.raw_state, environment=environment
        )
    elif fetched.answered_object:
        warnings.append("one-time purchase without purchaseState: no state change")
    if not products:
        warnings.append("one-time purchase without product id: the catalog cannot map it")
    return fetched.facts(
        products,
        environment=environment,
        app_account_token=text(res.get("obfuscatedExternalAccountId")),
        profile_token=text(res.get("obfuscatedExternalProfileId")),
        raw_state=read.raw_state,
        snapshot=snapshot,
        will_renew=False,
        acknowledgement_state=read.acknowledgement_state,
        needs_acknowledgement=read.acknowledgement_pending and read.state is State.ACTIVE,
        order_id=text(res.get("orderId")),
        start_time=millis(res.get("purchaseTimeMillis"), "purchaseTimeMillis", warnings)
        or timestamp(res.get("purchaseCompletionTime"), "purchaseCompletionTime", warnings),
        consumed=read.consumed,
        quantity=read.quantity,
        refundable_quantity=read.refundable_quantity,
    )


def _read_v1(res: Mapping, warnings: list[str]) -> ProductPurchase:
    """ProductPurchase (`purchases.products.get`): integer codes."""
    raw = res.get("purchaseState")
    code = integer(raw, "purchaseState", warnings) if raw is not None else None
    state = raw_state = None
    if code is not None:
        state, raw_state = PRODUCT_PURCHASE_STATES.get(code, (None, None))
        if state is None:
            warnings.append(f"unknown purchaseState {code} kept raw: read as pending")
            state, raw_state = State.PENDING, f"purchaseState={code}"
    ack_code = integer(res.get("acknowledgementState"), "acknowledgementState", warnings)
    ack = PRODUCT_ACKNOWLEDGEMENT_STATES.get(ack_code) if ack_code is not None else None
    if ack_code is not None and ack is None:
        warnings.append(f"unknown acknowledgementState {ack_code} kept raw (not acknowledged by Parity)")
        ack = f"acknowledgementState={ack_code}"
    consumption = integer(res.get("consumptionState"), "consumptionState", warnings)
    if consumption is not None and consumption not in (0, 1):
        warnings.append(f"unknown consumptionState {consumption} kept raw")
    purchase_type = enum(res.get("purchaseType"), PURCHASE_TYPES, "purchaseType", warnings)
    return ProductPurchase(
        state=state,
        raw_state=raw_state,
        acknowledgement_state=ack,
        acknowledgement_pending=ack_code == 0,
        test=purchase_type == 0,  # a license tester's purchase
        products=(text(res.get("productId")),),
        consumed=None if consumption is None else consumption == 1,
        quantity=integer(res.get("quantity"), "quantity", warnings),
        refundable_quantity=integer(res.get("refundableQuantity"), "refundableQuantity", warnings),
    )


def _read_v2(res: Mapping, warnings: list[str]) -> ProductPurchase:
    """ProductPurchaseV2: named states, and quantities on each line item's offer."""
    context = res.get("purchaseStateContext")
    raw_state = text(context.get("purchaseState")) if isinstance(context, Mapping) else None
    state = None
    if raw_state is not None:
        state = PRODUCT_PURCHASE_STATES_V2.get(raw_state)
        if state is None:
            warnings.append(f"unknown purchaseState {raw_state!r} kept raw: read as pending")
            state = State.PENDING
    ack = acknowledgement_state(res, warnings)
    items = [item for item in res.get("productLineItem") or [] if isinstance(item, Mapping)]
    details = [item.get("productOfferDetails") for item in items]
    offers = [offer for offer in details if isinstance(offer, Mapping)]
    consumption = [text(offer.get("consumptionState")) for offer in offers]
    consumed = None
    if any(consumption):
        consumed = all(value == "CONSUMPTION_STATE_CONSUMED" for value in consumption if value)
    quantities = [integer(offer.get("quantity"), "quantity", warnings) for offer in offers]
    refundables = [integer(offer.get("refundableQuantity"), "refundableQuantity", warnings) for offer in offers]
    return ProductPurchase(
        state=state,
        raw_state=raw_state,
        acknowledgement_state=ack,
        acknowledgement_pending=ack == ACK_PENDING,
        test=res.get("testPurchaseContext") is not None,
        products=tuple(text(item.get("productId")) for item in items),
        consumed=consumed,
        quantity=_total(quantities),
        refundable_quantity=_total(refundables),
    )


def _total(counts: list[int | None]) -> int | None:
    """The sum of the counts given, or None when none is."""
    known = [count for count in counts if count is not None]
    return sum(known) if known else None
