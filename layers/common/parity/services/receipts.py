"""Receipt validation and claim: an app presents a purchase, the store confirms it, the user claims it.

The entitlements are read after the claim is written (read-your-writes): when the call returns, the
entitlement is readable. A store that cannot be reached leaves the receipt pending with a background
retry, never a false grant; a receipt that does not verify is rejected (ReceiptRejected) and changes nothing.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING

from ..bodies import AppStoreReceipt, PlayStoreReceipt, Receipt, StripeReceipt
from ..domain import apple, google, stripe
from ..domain.errors import (
    NotConfigured,
    OwnershipRefused,
    ReceiptRejected,
    RejectedWebhook,
    StoreApiError,
    TooManyOwners,
)
from ..domain.model import PurchaseUpdate
from ..domain.ownership import Refusal
from ..observability import logger, metrics
from ..ports import StoredEvent
from ..results import ReceiptOutcome, Restored
from .ingest import RECEIPT_RETRY

if TYPE_CHECKING:
    from ..ports import AppleVerifier, AppStoreApi, Clock, EventLog, PlayApi, Queue, StripeApi
    from .entitlements import EntitlementReader
    from .processing import EventProcessor
    from .updates import Outcome


class ReceiptService:
    def __init__(
        self,
        processor: EventProcessor,
        reader: EntitlementReader,
        event_log: EventLog,
        queue: Queue,
        clock: Clock,
        apple_verifier: AppleVerifier | None = None,
        apple_api: AppStoreApi | None = None,
        apple_unavailable: str = "",
        play_api: PlayApi | None = None,
        play_package: str | Sequence[str] | None = None,
        stripe_api: StripeApi | None = None,
    ) -> None:
        self._processor = processor
        self._reader = reader
        self._log = event_log
        self._queue = queue
        self._clock = clock
        self._verifier = apple_verifier
        self._api = apple_api
        self._apple_unavailable = apple_unavailable
        self._play = play_api
        # The apps' package names (GOOGLE_PACKAGE_NAME): a purchase of another app is refused.
        self._play_packages = (play_package,) if isinstance(play_package, str) else tuple(play_package or ())
        self._stripe = stripe_api

    def submit(self, user_id: str, receipt: Receipt, body: bytes, queued: bool = False) -> ReceiptOutcome:
        """Validate `receipt` (parsed from `body`, the bytes the event log keeps) with its store and claim
        it for `user_id`: raises a `RequestRefused` for every refusal (ReceiptRejected, OwnershipRefused,
        NotConfigured).

        `queued`: a retry from the queue (see `_pending`); an unreachable store then raises StoreApiError
        (the message is retried, then dead-lettered) instead of queueing yet another retry.
        """
        if isinstance(receipt, AppStoreReceipt):
            return self._app_store(user_id, receipt, body, queued)
        if isinstance(receipt, PlayStoreReceipt):
            return self._play_store(user_id, receipt, body, queued)
        return self._stripe_checkout(user_id, receipt, body, queued)

    # -- App Store ----------------------------------------------------------------------------------

    def _app_store(self, user_id: str, receipt: AppStoreReceipt, body: bytes, queued: bool) -> ReceiptOutcome:
        if self._verifier is None:
            logger.warning("App Store receipts are not configured", extra={"reason": self._apple_unavailable})
            raise NotConfigured("App Store receipts are not configured.")
        transaction = None
        if receipt.signed_transaction:
            try:
                transaction = self._verifier.verify_and_decode_signed_transaction(receipt.signed_transaction)
            except RejectedWebhook as rejected:
                raise ReceiptRejected(str(rejected), rejected.code) from None
        if receipt.restore:
            return self._restore(user_id, receipt, transaction, body, queued)
        renewal, status = None, None
        if self._api is not None:
            try:
                transaction, renewal, status = self._api.current_transaction(receipt.transaction_id, transaction)
            except StoreApiError as error:
                return self._unconfirmed(user_id, body, queued, error, "The App Store")
        elif transaction is None:
            raise NotConfigured(
                "A transactionId is looked up with the App Store Server API, whose credentials are not configured "
                "(APPLE_KEY_ID, APPLE_ISSUER_ID, APPLE_PRIVATE_KEY_FILE).",
            )
        update = self._app_store_claim(user_id, transaction, renewal, status, id_only=receipt.signed_transaction is None)
        if update is None:
            raise ReceiptRejected("The transaction names no purchase.")
        return self._claim(user_id, update, body)

    def _app_store_claim(
        self, user_id: str, transaction: Mapping, renewal: Mapping | None, status: int | None, id_only: bool
    ) -> PurchaseUpdate | None:
        """The claim by `user_id` of a verified transaction's purchase (None: it names none). `id_only`:
        the caller showed only an id (honoured only where it takes nothing from anyone)."""
        facts = apple.normalize_transaction(transaction, renewal, status)
        for warning in facts.warnings:
            logger.warning(warning)
        if not facts.concerns_purchase:
            return None
        update = replace(facts.update_for(user_id), app_account_token=facts.claim_token, id_only_claim=id_only)
        # Every submission is a claim of its own (the audit trail keeps each; under LAST a repeated one
        # takes the purchase back), so its event id is unique to it.
        submitted = int(self._clock.now().timestamp() * 1000)
        return replace(update, event_id=f"{update.event_id}:{user_id}:{submitted}")

    def _restore(
        self, user_id: str, receipt: AppStoreReceipt, transaction: Mapping | None, body: bytes, queued: bool
    ) -> ReceiptOutcome:
        """`restore: true`: every purchase of the App Store account's transaction history (Get
        Transaction History v2, verified like every signed item) but consumables, each claimed under the
        rules of a single claim made the way this one is (a signed transaction, or an id alone). Refused purchases are
        left to their holders; the answer lists what was claimed and refused (409 when all were refused)."""
        if self._api is None:
            raise NotConfigured(
                "Restoring purchases reads the transaction history with the App Store Server API, whose "
                "credentials are not configured (APPLE_KEY_ID, APPLE_ISSUER_ID, APPLE_PRIVATE_KEY_FILE).",
            )
        anchor = receipt.transaction_id or str((transaction or {}).get("transactionId") or "")
        if not anchor.isdigit():
            raise ReceiptRejected("The transaction names no transactionId to restore from.")
        try:
            if transaction is None:  # an id alone: Apple says in which app and environment it was bought
                transaction = self._api.current_transaction(anchor)[0]
            whole = self._api.iter_transaction_history(
                anchor, app=transaction.get("bundleId"), environment=transaction.get("environment")
            )
            # Consumables are not restored (as StoreKit restores none): each was delivered once, when
            # bought; a restore crediting them again would pay twice for the app's backend.
            history = [tx for tx in apple.latest_per_purchase(whole) if tx.get("type") != apple.CONSUMABLE]
            current = [self._api.current_transaction(None, tx) for tx in history]
        except StoreApiError as error:
            return self._unconfirmed(user_id, body, queued, error, "The App Store")
        claimed: list[str] = []
        refused: list[Outcome] = []
        for tx, renewal, status in current:
            update = self._app_store_claim(user_id, tx, renewal, status, id_only=receipt.signed_transaction is None)
            if update is None:
                continue
            source = update.store.value
            self._log.append(StoredEvent(source, update.event_id, "receipt", update.store_key, self._clock.now(), body))
            outcome = self._processor.apply(update, source=source)
            if outcome.claim_refused:
                refused.append(outcome._replace(purchase_id=update.purchase_id))
            else:
                claimed.append(update.purchase_id)
        metrics.add_metric(name="PurchasesRestored", unit="Count", value=len(claimed))
        if refused and not claimed:
            raise _refused(refused[0])
        restored = Restored(tuple(claimed), tuple(o.purchase_id or "" for o in refused))
        return self._claimed(user_id)._replace(restored=restored)

    # -- Google Play --------------------------------------------------------------------------------

    def _play_store(self, user_id: str, receipt: PlayStoreReceipt, body: bytes, queued: bool) -> ReceiptOutcome:
        if self._play is None:
            raise NotConfigured(
                "Play receipts are checked with the Play Developer API, whose service account is not configured "
                "(GOOGLE_SERVICE_ACCOUNT_FILE).",
            )
        if receipt.package_name not in self._play_packages:
            raise ReceiptRejected(
                f"The purchase is for an app this stack does not serve ({receipt.package_name}).", "wrong_package"
            )
        now = self._clock.now()
        token = receipt.purchase_token
        event_id = f"receipt:{hashlib.sha256(token.encode()).hexdigest()[:32]}:{user_id}:{int(now.timestamp() * 1000)}"
        try:
            facts = self._play_truth(self._play, receipt, now, event_id)
        except StoreApiError as error:
            return self._unconfirmed(user_id, body, queued, error, "Google Play")
        for warning in facts.warnings:
            logger.warning(warning)
        self._log.append(StoredEvent("play_store", event_id, "receipt", token, now, body))
        outcome = self._processor.apply_play(facts, claimant=user_id, app=receipt.package_name)
        if outcome.claim_refused:
            raise _refused(outcome)
        if facts.needs_acknowledgement:
            self._processor.acknowledge_play(facts, receipt.product_id, receipt.package_name)
        return self._claimed(user_id)

    def _play_truth(self, play: PlayApi, receipt: PlayStoreReceipt, now, event_id: str) -> google.GoogleFacts:
        """The purchase as Google says now: a subscription, else (Google does not know the token as one)
        a one-time product."""
        package, token = receipt.package_name, receipt.purchase_token
        try:
            resource = play.get_subscription_v2(package, token)
        except StoreApiError as error:
            if error.retryable:
                raise
            resource = play.get_product(package, receipt.product_id, token)
            return google.product_facts(token, receipt.product_id, resource, now, event_id)
        return google.subscription_facts(token, resource, now, event_id)

    # -- Stripe Checkout ----------------------------------------------------------------------------

    def _stripe_checkout(self, user_id: str, receipt: StripeReceipt, body: bytes, queued: bool) -> ReceiptOutcome:
        """The web-to-app path: the session is read from the Stripe API and claimed through the webhook's
        path, as the `checkout.session.completed` event Stripe will send (that event, when it comes, finds
        the purchase already applied)."""
        if self._stripe is None:
            raise NotConfigured(
                "Stripe receipts are checked with the Stripe API, whose key is not configured (STRIPE_API_KEY).",
            )
        session_id = receipt.checkout_session_id
        try:
            session = self._stripe.checkout_session(session_id)
            now = self._clock.now()
            # Unique to this submission, like the other stores' receipts: each one is a claim of its own.
            event = {
                "id": f"receipt:{session_id}:{user_id}:{int(now.timestamp() * 1000)}",
                "type": "checkout.session.completed",
                "created": int(now.timestamp()),
                "livemode": bool(session.get("livemode")),
                "data": {"object": session},
            }
            facts = stripe.normalize(event)
            purchase_key = _check_checkout(session, facts, user_id)
            self._log.append(StoredEvent("stripe", facts.event_id, "receipt", purchase_key, now, body))
            # The processor re-reads the subscription, which may find Stripe unreachable after all.
            outcome = self._processor.process_stripe(event, claimant=user_id)
        except StoreApiError as error:
            return self._unconfirmed(user_id, body, queued, error, "Stripe")
        if outcome.claim_refused:
            raise _refused(outcome)
        return self._claimed(user_id)

    # -- shared -------------------------------------------------------------------------------------

    def _claim(self, user_id: str, update: PurchaseUpdate, body: bytes) -> ReceiptOutcome:
        source = update.store.value
        self._log.append(StoredEvent(source, update.event_id, "receipt", update.store_key, self._clock.now(), body))
        outcome = self._processor.apply(update, source=source)
        if outcome.claim_refused:
            raise _refused(outcome)
        return self._claimed(user_id)

    def _claimed(self, user_id: str) -> ReceiptOutcome:
        """Claimed: the user's entitlements, read after the claim was written."""
        metrics.add_metric(name="ReceiptsClaimed", unit="Count", value=1)
        return ReceiptOutcome(self._reader.read(user_id))

    def _unconfirmed(self, user_id: str, body: bytes, queued: bool, error: StoreApiError, store: str) -> ReceiptOutcome:
        """The store did not confirm the purchase. Unreachable: pending, and a queued retry (a queued
        retry raises instead, for SQS to retry it); refused: ReceiptRejected, nothing changes."""
        if error.retryable and not queued:
            return self._pending(user_id, body, error)
        if error.retryable:
            raise error
        raise ReceiptRejected(f"{store} refused the lookup: {error}") from None

    def _pending(self, user_id: str, body: bytes, error: StoreApiError) -> ReceiptOutcome:
        logger.warning("store unreachable; receipt queued for a retry", extra={"reason": str(error)})
        metrics.add_metric(name="ReceiptsPending", unit="Count", value=1)
        now = self._clock.now()
        event_id = f"{user_id}:{int(now.timestamp() * 1000)}"
        message = json.dumps({"source": RECEIPT_RETRY, "eventId": event_id, "userId": user_id, "body": body.decode()})
        self._queue.send(message, group=f"receipt:{user_id}", dedup_id=f"receipt:{event_id}")
        return ReceiptOutcome()


def _refused(outcome: Outcome) -> OwnershipRefused:
    """A refused claim: the purchase is shared with the most users allowed, or the strategy (or a
    manual association) gives it to someone else."""
    if outcome.refusal is Refusal.TOO_MANY_OWNERS:
        return TooManyOwners("This purchase is already shared with the most users allowed.")
    return OwnershipRefused("This purchase is already used by another user.")


def _check_checkout(session: Mapping, facts: stripe.StripeFacts, user_id: str) -> str:
    """A Checkout Session claimable by `user_id`: made for them or for nobody in particular, and paid.
    Returns the key of the purchase it made."""
    if facts.claimant and facts.claimant != user_id:
        # client_reference_id (or metadata.user_id) names the user the session was made for.
        raise OwnershipRefused("This checkout session was made for another user.")
    mode, status = session.get("mode"), session.get("status")
    if mode not in ("subscription", "payment"):
        raise ReceiptRejected(f"A checkout session in {mode} mode buys nothing.")
    if status != "complete":
        raise ReceiptRejected(f"The checkout session is {status}, not complete: nothing is bought yet.")
    if mode == "payment" and session.get("payment_status") == "unpaid":
        raise ReceiptRejected("The checkout session's payment has not succeeded yet.")
    if not facts.purchase_key:
        raise ReceiptRejected("The checkout session names no subscription or payment.")
    return facts.purchase_key
