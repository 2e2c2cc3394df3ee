"""The Stripe API, read-only: the subscription truth behind an event (stripe-python, imported lazily)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

# Pinned so that payload shapes match the normalizer's reference shapes.
STRIPE_API_VERSION = "2025-03-31.basil"


class StripeApiClient:
    def __init__(self, api_key: str, base_url: str | None = None, client: Any = None) -> None:
        if client is None:
            import stripe

            client = stripe.StripeClient(
                api_key,
                stripe_version=STRIPE_API_VERSION,
                base_addresses={"api": base_url} if base_url else None,
                max_network_retries=2,
            )
        self._client = client

    def subscription(self, subscription_id: str) -> Mapping:
        return self._client.v1.subscriptions.retrieve(subscription_id).to_dict()

    def subscription_for_payment(self, payment_intent_id: str) -> str | None:
        payments = self._client.v1.invoice_payments.list(
            params={"payment": {"type": "payment_intent", "payment_intent": payment_intent_id}, "limit": 1}
        )
        for payment in payments.data:
            invoice = self._client.v1.invoices.retrieve(payment.invoice).to_dict()
            details = (invoice.get("parent") or {}).get("subscription_details") or {}
            return details.get("subscription") or invoice.get("subscription")
        return None
