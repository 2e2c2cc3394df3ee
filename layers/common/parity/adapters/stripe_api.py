"""The Stripe API, read-only: the subscription truth behind an event, the Checkout Session a Stripe
receipt names, and the refunds and disputes the drift scan catches up on (stripe-python, imported
lazily)."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from datetime import datetime
from typing import Any, TypeVar

from ..domain.errors import StoreApiError

T = TypeVar("T")

# Pinned so that payload shapes match the normalizer's reference shapes.
STRIPE_API_VERSION = "2025-03-31.basil"


class StripeApiClient:
    def __init__(
        self,
        api_key: str,
        base_url: str | None = None,
        client: Any = None,
        timeout: float = 3,
        max_network_retries: int = 1,
    ) -> None:
        """Short timeouts: stripe-python's default (80 s) outlasts the functions (receipts 20 s, the
        processor 10 s); what does not fit is retried by the queue (or answered 202 pending)."""
        if client is None:
            import stripe

            client = stripe.StripeClient(
                api_key,
                stripe_version=STRIPE_API_VERSION,
                base_addresses={"api": base_url} if base_url else None,
                max_network_retries=max_network_retries,
                http_client=stripe.RequestsClient(timeout=timeout),
            )
        self._client = client

    def subscription(self, subscription_id: str) -> Mapping:
        return _call(self._client.v1.subscriptions.retrieve, subscription_id).to_dict()

    def checkout_line_items(self, session_id: str) -> list[Mapping]:
        items = _call(self._client.v1.checkout.sessions.line_items.list, session_id, params={"limit": 100})
        return [item.to_dict() for item in items.data]

    def checkout_session(self, session_id: str) -> Mapping:
        """The session as Stripe knows it now, with its subscription and line items (Checkout's
        `line_items` are only returned when expanded)."""
        session = _call(
            self._client.v1.checkout.sessions.retrieve, session_id, params={"expand": ["subscription", "line_items"]}
        )
        return session.to_dict()

    def subscription_for_payment(self, payment_intent_id: str) -> str | None:
        payments = _call(
            self._client.v1.invoice_payments.list,
            params={"payment": {"type": "payment_intent", "payment_intent": payment_intent_id}, "limit": 1},
        )
        for payment in payments.data:
            invoice = _call(self._client.v1.invoices.retrieve, payment.invoice).to_dict()
            details = (invoice.get("parent") or {}).get("subscription_details") or {}
            return details.get("subscription") or invoice.get("subscription")
        return None


    def refunds_since(self, created_from: datetime) -> Iterator[Mapping]:
        return self._list(self._client.v1.refunds.list, created_from, expand=["data.charge"])

    def disputes_since(self, created_from: datetime) -> Iterator[Mapping]:
        return self._list(self._client.v1.disputes.list, created_from)

    @staticmethod
    def _list(request: Callable[..., Any], created_from: datetime, **params: Any) -> Iterator[Mapping]:
        """A Stripe list created since `created_from`, page by page (`starting_after` the last id)."""
        query: dict[str, Any] = {"created": {"gte": int(created_from.timestamp())}, "limit": 100, **params}
        while True:
            page = _call(request, params=query)
            for item in page.data:
                yield item.to_dict()
            if not page.has_more or not page.data:
                return
            query = {**query, "starting_after": page.data[-1].id}


def _call(request: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Stripe's errors as StoreApiError: outages and throttling retry, refusals do not.

    stripe-python has already retried connection errors, 409, 429 and 5xx (`max_network_retries`).
    """
    import stripe

    try:
        return request(*args, **kwargs)
    except (stripe.APIConnectionError, stripe.RateLimitError) as error:
        raise StoreApiError(f"Stripe unreachable: {error.user_message or error}", retryable=True) from error
    except stripe.StripeError as error:
        status = error.http_status or 500
        raise StoreApiError(
            f"Stripe answered {status}: {error.user_message or error}",
            retryable=status >= 500 or status in (409, 429),
            status=status,
        ) from error
