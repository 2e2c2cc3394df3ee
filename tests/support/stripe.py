"""Stripe test fixtures: events built like Stripe's (basil shapes), signed at test time.

`sign` implements Stripe's scheme (HMAC-SHA256 over `<t>.<body>`); a unit test proves that the
official stripe-python library accepts what it produces, so the fixtures cannot drift from Stripe.
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import time
from typing import Any

SECRET = "whsec_test_secret"
DAY = 86400
_ids = itertools.count(1)


def sign(body: bytes, secret: str = SECRET, timestamp: int | None = None) -> str:
    """A `Stripe-Signature` header value for `body`."""
    t = int(time.time()) if timestamp is None else timestamp
    digest = hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={t},v1={digest}"


def encode(event: dict) -> bytes:
    return json.dumps(event, separators=(",", ":")).encode()


def event(event_type: str, obj: dict, created: int | None = None, event_id: str | None = None) -> dict:
    return {
        "id": event_id or f"evt_{next(_ids):06d}",
        "object": "event",
        "api_version": "2025-03-31.basil",
        "type": event_type,
        "created": int(time.time()) if created is None else created,
        "livemode": False,
        "data": {"object": obj},
    }


def subscription(
    sub_id: str = "sub_1",
    status: str = "active",
    period_end: int | None = None,
    price: str = "price_pro_monthly",
    product: str = "prod_pro",
    customer: str = "cus_1",
    user_id: str | None = "u_1",
    cancel_at_period_end: bool = False,
    **extra: Any,
) -> dict:
    """A basil subscription: the period end lives on the item."""
    end = int(time.time()) + 30 * DAY if period_end is None else period_end
    return {
        "id": sub_id,
        "object": "subscription",
        "status": status,
        "customer": customer,
        "livemode": False,
        "cancel_at_period_end": cancel_at_period_end,
        "cancel_at": None,
        "ended_at": None,
        "metadata": {"user_id": user_id} if user_id else {},
        "items": {
            "object": "list",
            "data": [
                {
                    "id": f"si_{sub_id}",
                    "object": "subscription_item",
                    "current_period_start": end - 30 * DAY,
                    "current_period_end": end,
                    "price": {"id": price, "object": "price", "product": product},
                }
            ],
        },
        **extra,
    }


def checkout_session(
    user_id: str | None = "u_1",
    mode: str = "subscription",
    subscription_id: str | None = "sub_1",
    payment_intent: str | None = None,
    customer: str = "cus_1",
    **extra: Any,
) -> dict:
    return {
        "id": f"cs_test_{next(_ids):06d}",
        "object": "checkout.session",
        "mode": mode,
        "client_reference_id": user_id,
        "customer": customer,
        "subscription": subscription_id if mode == "subscription" else None,
        "payment_intent": payment_intent,
        "payment_status": "paid",
        "status": "complete",
        "livemode": False,
        "metadata": {},
        **extra,
    }


def invoice(
    invoice_id: str = "in_1",
    sub_id: str = "sub_1",
    period_end: int | None = None,
    customer: str = "cus_1",
    status: str = "paid",
    user_id: str | None = None,
) -> dict:
    """A basil invoice: its subscription is named in parent.subscription_details."""
    end = int(time.time()) + 30 * DAY if period_end is None else period_end
    return {
        "id": invoice_id,
        "object": "invoice",
        "status": status,
        "customer": customer,
        "livemode": False,
        "parent": {
            "type": "subscription_details",
            "subscription_details": {"subscription": sub_id, "metadata": {"user_id": user_id} if user_id else {}},
        },
        "lines": {"object": "list", "data": [{"id": f"il_{invoice_id}", "period": {"start": end - 30 * DAY, "end": end}}]},
        "period_end": end - 30 * DAY,
    }


def invoice_payment(invoice_id: str = "in_1", payment_intent: str = "pi_1", charge: str | None = None) -> dict:
    """Basil: the link between an invoice and the payment (intent) that paid it."""
    return {
        "id": f"inpay_{next(_ids):06d}",
        "object": "invoice_payment",
        "invoice": invoice_id,
        "status": "paid",
        "payment": {"type": "payment_intent", "payment_intent": payment_intent, "charge": charge},
    }


def charge(
    charge_id: str = "ch_1",
    payment_intent: str = "pi_1",
    amount: int = 999,
    amount_refunded: int = 999,
    customer: str = "cus_1",
    invoice: str | None = None,
) -> dict:
    body = {
        "id": charge_id,
        "object": "charge",
        "amount": amount,
        "amount_refunded": amount_refunded,
        "refunded": amount_refunded >= amount,
        "payment_intent": payment_intent,
        "customer": customer,
        "livemode": False,
    }
    if invoice:
        body["invoice"] = invoice  # pre-basil shape
    return body


def dispute(dispute_id: str = "dp_1", charge_id: str = "ch_1", payment_intent: str = "pi_1", status: str = "needs_response") -> dict:
    return {
        "id": dispute_id,
        "object": "dispute",
        "charge": charge_id,
        "payment_intent": payment_intent,
        "status": status,
        "amount": 999,
        "livemode": False,
    }


def customer(customer_id: str = "cus_1", email: str = "a@example.com", user_id: str | None = "u_1") -> dict:
    return {
        "id": customer_id,
        "object": "customer",
        "email": email,
        "metadata": {"user_id": user_id} if user_id else {},
        "livemode": False,
    }


def paid_invoice(invoice_id: str, sub_id: str, period_end: int, price: str = "price_pro_monthly") -> dict:
    """A basil invoice as Stripe sends it: amount paid, and each line's price under pricing.price_details."""
    paid = invoice(invoice_id, sub_id, period_end)
    paid["amount_paid"] = 999
    for line in paid["lines"]["data"]:
        line["pricing"] = {"type": "price_details", "price_details": {"price": price, "product": "prod_pro"}}
    return paid


def refund(refund_id: str, charge_obj: dict, created: int, status: str = "succeeded", amount: int | None = None) -> dict:
    """A refund as `GET /v1/refunds?expand[]=data.charge` lists it: its charge expanded."""
    return {
        "id": refund_id,
        "object": "refund",
        "amount": charge_obj["amount_refunded"] if amount is None else amount,
        "charge": charge_obj,
        "payment_intent": charge_obj.get("payment_intent"),
        "status": status,
        "created": created,
    }


def listed_dispute(dispute_id: str, created: int, status: str = "needs_response", **fields: Any) -> dict:
    """A dispute as `GET /v1/disputes` lists it."""
    return {**dispute(dispute_id, status=status, **fields), "created": created}
