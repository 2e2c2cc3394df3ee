"""The store ports: the store APIs Parity asks for the truth, and the verifiers of what stores send.

Every API call raises `domain.errors.StoreApiError` when the store does not answer with what was asked:
`retryable` for an outage or throttling (try again later), not for a refusal (an unknown id, bad
credentials), where `unknown_at_store` says the store does not know the purchase.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from ..domain.apple import VerifiedNotification


class AppStoreApi(Protocol):
    """The App Store Server API calls Parity makes (`parity.adapters.app_store_api.AppStoreApiClient`)."""

    def current_transaction(
        self,
        transaction_id: str | None,
        transaction: Mapping[str, Any] | None = None,
        app: str | None = None,
        environment: str | None = None,
    ) -> tuple[Mapping[str, Any], Mapping[str, Any] | None, int | None]:
        """(transaction, renewal info, subscription status) as Apple knows them now, verified: the
        transaction is looked up by id unless given (in `app` and `environment` when known, else in each
        configured app and accepted environment); the renewal info and status are those of its
        subscription, asked in the transaction's own app and environment; None for anything else."""

    def iter_transaction_history(
        self, transaction_id: str, *, app: str | None = None, environment: str | None = None
    ) -> Iterator[Mapping[str, Any]]:
        """Get Transaction History (v2): every transaction of the App Store account that made
        `transaction_id`, in `app` and `environment` (default: the first app, the stack's environment),
        page after page (`revision`, `hasMore`), each verified."""


class PlayApi(Protocol):
    """The Play Developer API calls Parity makes (`parity.adapters.play_api.PlayDeveloperApi`)."""

    def get_subscription_v2(self, package_name: str, token: str) -> dict:
        """`purchases.subscriptionsv2.get`: the subscription purchase of a token."""

    def acknowledge_subscription(self, package_name: str, subscription_id: str, token: str) -> None:
        """`purchases.subscriptions.acknowledge` (Google refunds a purchase left unacknowledged for three
        days); `subscription_id` is the purchased product's id."""

    def get_product(self, package_name: str, product_id: str, token: str) -> dict:
        """`purchases.products.get`: the one-time product purchase of a token."""

    def acknowledge_product(self, package_name: str, product_id: str, token: str) -> None:
        """`purchases.products.acknowledge`, for one-time products."""

    def iter_voided_purchases(
        self, package_name: str, start_time: datetime | int | None = None, end_time: datetime | int | None = None
    ) -> Iterator[Mapping]:
        """`purchases.voidedpurchases.list` (subscriptions included, quantity-based partial refunds not),
        every page of the window; the window filters on when Google's systems saw the purchase voided."""


class StripeApi(Protocol):
    """The few Stripe API reads Parity makes to converge on Stripe's truth."""

    def subscription(self, subscription_id: str) -> Mapping:
        """The subscription as Stripe knows it now."""

    def checkout_line_items(self, session_id: str) -> list[Mapping]:
        """The line items of a Checkout Session (webhooks do not carry them)."""

    def subscription_for_payment(self, payment_intent_id: str) -> str | None:
        """The subscription paid by this payment intent (through its invoice payment), if any."""

    def checkout_session(self, session_id: str) -> Mapping:
        """A Checkout Session with its subscription and line items expanded (a Stripe receipt)."""

    def refunds_since(self, created_from: datetime) -> Iterator[Mapping]:
        """Every refund created at or after `created_from` (`GET /v1/refunds?created[gte]=`, paged with
        `starting_after`), each with its charge expanded (how much of it is refunded now)."""

    def disputes_since(self, created_from: datetime) -> Iterator[Mapping]:
        """Every dispute created at or after `created_from` (`GET /v1/disputes?created[gte]=`, paged)."""


class AppleVerifier(Protocol):
    """Apple's signed data (JWS) checked against Apple's root for one app in one environment
    (`parity.webhooks.apple.SignedDataVerifier`); anything that does not verify raises RejectedWebhook."""

    def verify_and_decode_notification_body(self, body: bytes) -> VerifiedNotification:
        """A notification request body (`{"signedPayload": "<JWS>"}`) with the signed items inside it,
        verified and decoded."""

    def verify_and_decode_signed_transaction(self, signed_transaction: str) -> Mapping[str, Any]:
        """A signed transaction (a StoreKit 2 `jwsRepresentation`, say), verified and decoded."""


class PushVerifier(Protocol):
    """The authentication of Google's Pub/Sub pushes (`parity.webhooks.google.PubSubPushVerifier`)."""

    def verify(self, authorization: str | None) -> Mapping[str, Any]:
        """The verified claims of the push's `Authorization` token; raises RejectedWebhook (carrying the
        status Pub/Sub expects) for a token that is missing, invalid or from another sender."""
