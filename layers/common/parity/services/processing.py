"""Processing a stored store event: reading it into one normalized purchase update, then applying it.

Each store's event is read here (an App Store notification, a Stripe event, a Play notification, which
is only a trigger: the purchase is asked of the Play Developer API), with the store's API consulted
where the event does not say enough. The update is then applied on the path every writer shares
(`services.updates`): the ordering rule, ownership, the users' entitlements, one conditional
transaction, then what changed published.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, TypeVar

from ..domain import apple, google, limits, stripe
from ..domain.apple import VerifiedNotification
from ..domain.catalog import Catalog
from ..domain.errors import DuplicateEventError, MalformedEventError, StoreApiError, UnknownPurchaseError
from ..domain.model import PaymentRef, Purchase, PurchaseUpdate
from ..domain.ownership import Strategy
from ..observability import logger, metrics
from ..settings import DEFAULT_MAX_SHARED_OWNERS
from .projection import DEFAULT_REFUND_THRESHOLD, Projector
from .updates import Outcome, UpdateApplier

if TYPE_CHECKING:
    from ..ports import ChangePublisher, Clock, EventLog, PlayApi, Repository, StripeApi

# What reading and normalizing a stored event that cannot be used raises (never an outage). Only those
# two steps are guarded: the same errors from anything later (a repository, a store API) are faults
# of Parity or a store, retried and dead-lettered like any other.
UNUSABLE = (KeyError, TypeError, ValueError, AttributeError, IndexError)
T = TypeVar("T")


def usable(read: Callable[..., T], *args) -> T:
    """`read(*args)` over a stored event's data; what cannot be used raises MalformedEventError."""
    try:
        return read(*args)
    except UNUSABLE as error:
        raise MalformedEventError(f"{type(error).__name__}: {error}") from error


def _required(value: str | None, what: str) -> str:
    """What a Play Developer API call cannot go without; missing, the call fails (and is retried)."""
    if value is None:
        raise ValueError(f"the Play Developer API call needs the {what}, which is missing")
    return value


VOID_CONFIRM_LOOKBACK = timedelta(days=1)  # before a void's notification, where Google's list is searched
VOID_LIST_WINDOW = timedelta(days=30) - timedelta(minutes=5)  # Google lists voids of the last 30 days


class EventProcessor:
    """Stored store events into purchase updates, applied on the shared write path."""

    def __init__(
        self,
        repository: Repository,
        event_log: EventLog,
        publisher: ChangePublisher,
        catalog: Catalog,
        strategy: Strategy,
        clock: Clock,
        stripe_api: StripeApi | None = None,
        play_api: PlayApi | None = None,
        play_package: str | Sequence[str] | None = None,
        refund_threshold: int = DEFAULT_REFUND_THRESHOLD,
        max_shared_owners: int | None = DEFAULT_MAX_SHARED_OWNERS,
        stripe_grace: timedelta = stripe.DEFAULT_GRACE,
    ) -> None:
        """`max_shared_owners`: under ALL, the most users one purchase is shared with (None: no bound).
        `stripe_grace`: how long a failed Stripe renewal keeps access (STRIPE_GRACE_SECONDS).
        `play_package`: the app's package name, or the apps' (GOOGLE_PACKAGE_NAME)."""
        projector = Projector(repository, catalog, refund_threshold)
        self._updates = UpdateApplier(repository, event_log, publisher, projector, strategy, clock, max_shared_owners)
        self._repo = repository
        self._log = event_log
        self._clock = clock
        self._stripe = stripe_api
        self._play = play_api
        self.play_packages: tuple[str, ...] = (
            (play_package,) if isinstance(play_package, str) else tuple(play_package or ())
        )
        self.stripe_grace = stripe_grace

    def process_message(self, message: Mapping, final_attempt: bool = False) -> Outcome:
        """One queue message (`{"source", "eventId", "body"}`) → its effect.

        `final_attempt`: an event whose purchase still cannot be identified is parked as unresolved
        (processable later, see `EventIntake.requeue_parked`) instead of being retried once more.
        """
        source, event_id = message["source"], message["eventId"]
        if source not in ("stripe", "app_store", "play_store"):
            raise ValueError(f"no processor for source {source!r}")
        body = message.get("body")
        if body is None:  # too large to travel in the message: the event log holds it
            body = self._log.get_event_body(source, event_id)
            if body is None:
                raise ValueError(f"event {event_id!r} is not in the event log")
        try:
            if source == "app_store":
                return self.process_app_store(usable(VerifiedNotification.from_verified_body, body))
            if source == "play_store":
                from ..webhooks.google import parse_push  # loaded with the container's first Play push

                return self.process_play_store(event_id, usable(parse_push, body).notification)
            return self.process_stripe(usable(limits.loads, body))
        except MalformedEventError as error:
            # Verified, but not usable (a value of the wrong type, out of range, beyond the limits):
            # retrying cannot change that, so it is recorded as rejected instead of failing forever.
            logger.error(
                "stored event is malformed; recorded as rejected",
                extra={"event_id": event_id, "source": source, "error": type(error).__name__, "reason": str(error)[:300]},
            )
            metrics.add_metric(name="EventsRejected", unit="Count", value=1)
            self._log.mark_processed(source, event_id, "rejected")
            return Outcome("rejected")
        except UnknownPurchaseError:
            if not final_attempt:
                raise
            # Parked, not finished: the event it waits for (the invoice that names a refunded charge's
            # subscription) may still be failing or dead-lettered. `requeue_parked` sends it again.
            logger.warning("event concerns no known purchase yet; parked as unresolved", extra={"event_id": event_id})
            metrics.add_metric(name="EventsUnresolved", unit="Count", value=1)
            self._log.park(source, event_id)
            return Outcome("unresolved")

    def process_app_store(self, notification: VerifiedNotification) -> Outcome:
        """A notification verified at the door. Its appAccountToken, when Parity issued it, is a claim."""
        facts = usable(apple.normalize, notification)
        logger.append_keys(store="app_store", event_id=facts.event_id, event_type=facts.event_type)
        for warning in facts.warnings:
            logger.warning(warning)
        if not facts.concerns_purchase:
            return self._updates.finish_without_change("app_store", facts.event_id, "ignored")
        update = replace(facts.update_for(None), app_account_token=facts.claim_token)
        return self.apply(update, source="app_store")

    def process_play_store(self, event_id: str, notification: Mapping) -> Outcome:
        """An RTDN push (authenticated at the door). The notification is a trigger: the state is the
        purchase as the Play Developer API says now. A purchase awaiting acknowledgement is acknowledged
        after it is applied, on every delivery until Google says it is (Google refunds unacknowledged
        purchases after three days), so a failed acknowledgement retries with the message."""
        note = usable(google.parse_notification, notification)
        logger.append_keys(store="play_store", event_id=event_id, event_type=note.type_name or note.kind)
        for warning in note.warnings:
            logger.warning(warning)
        if not note.concerns_purchase:
            return self._updates.finish_without_change("play_store", event_id, "ignored")
        now, token = self._clock.now(), note.purchase_token
        if token is None:  # concerns_purchase says there is one
            raise MalformedEventError("a Play notification about a purchase without its purchaseToken")
        if self.play_packages and note.package_name not in self.play_packages:
            # Stored while GOOGLE_PACKAGE_NAME listed it; the app is no longer served.
            logger.warning("Play notification of an app no longer configured", extra={"package": note.package_name})
            return self._updates.finish_without_change("play_store", event_id, "ignored")
        play, package = self._play_store(note.package_name)  # every kind asks Google (a void: its own list)
        if note.kind == google.SUBSCRIPTION:
            resource = play.get_subscription_v2(package, token)
            facts = google.subscription_facts(token, resource, now, event_id, note.notification_type, event_time=note.event_time)
        elif note.kind == google.ONE_TIME_PRODUCT:
            resource = play.get_product(package, _required(note.product_id, "product id (sku)"), token)
            facts = google.product_facts(
                token, note.product_id, resource, now, event_id, note.notification_type, event_time=note.event_time
            )
        else:
            voided = play.get_subscription_v2(package, token) if note.fetch == google.SUBSCRIPTIONS_V2 else None
            facts = google.voided_facts(notification, note.event_time or now, event_id, voided, fetched_at=now)
            if facts.revocation is not None and not self._void_confirmed(note, package, now):
                # The push is authenticated, its body is not bound to the purchase: only Google's own
                # list of voided purchases revokes (the drift scan's catch-up applies a void listed later).
                logger.warning("voided purchase not confirmed by Google: nothing revoked", extra={"order_id": note.order_id})
                return self._updates.finish_without_change("play_store", event_id, "unconfirmed")
        for warning in facts.warnings:
            logger.warning(warning)
        outcome = self.apply_play(facts, app=package)
        if facts.needs_acknowledgement:
            self.acknowledge_play(facts, note.product_id, package)
        return outcome

    def _play_store(self, package: str | None = None) -> tuple[PlayApi, str]:
        """The Play Developer API and the package name to ask it about (default: the first app's);
        raised to retry when not configured."""
        if self._play is None or not self.play_packages:
            raise StoreApiError(
                "the Play Developer API is not configured (GOOGLE_SERVICE_ACCOUNT_FILE, GOOGLE_PACKAGE_NAME)",
                retryable=True,
            )
        return self._play, package or self.play_packages[0]

    def _void_confirmed(self, note: google.PlayNotification, package: str, now: datetime) -> bool:
        """Whether Google lists the notified void (`purchases.voidedpurchases.list`, subscriptions
        included, quantity-based partial refunds not: those revoke nothing): the token, and the order
        when the notification names one. The window starts a day before the notification (Google
        filters on when its systems saw the void), never past the 30 days Google keeps; an unreachable
        Google raises (the message is retried)."""
        start = max(now - VOID_LIST_WINDOW, (note.event_time or now) - VOID_CONFIRM_LOOKBACK)
        play, package = self._play_store(package)
        for item in play.iter_voided_purchases(package, start, now):
            if item.get("purchaseToken") == note.purchase_token and note.order_id in (None, item.get("orderId")):
                return True
        return False

    def apply_play(self, facts: google.GoogleFacts, claimant: str | None = None, app: str | None = None) -> Outcome:
        """Play facts on the shared path. A token joins its chain's purchase (upgrades, downgrades and
        resubscriptions replace the token: one lifecycle, keyed by the first token Parity saw); the
        tokens are recorded as payment refs so that every later notification lands there too. `app`:
        the package name the facts were read for (the purchase's `app`)."""
        tokens = [t for t in (facts.purchase_token, facts.linked_purchase_token) if t]
        found = self._repo.find_payment(tokens, source="play_store")
        store_key = found.purchase_id.split(":", 1)[1] if found else (facts.linked_purchase_token or facts.purchase_token)
        update = facts.update_for(claimant, store_key=store_key, app=app)
        update = replace(update, payment_refs=tuple(PaymentRef(t, update.purchase_id, None) for t in tokens))
        return self.apply(update, source="play_store", owner_hint=next(iter(found.owner_ids), None) if found else None)

    def acknowledge_play(
        self, facts: google.GoogleFacts, product_id: str | None = None, package: str | None = None
    ) -> None:
        """Acknowledge a Play purchase Google says is pending (it refunds unacknowledged ones after 3
        days), in `package`'s app. A failure raises, so the message (or the receipt) is retried until
        Google accepts."""
        play, package = self._play_store(package)
        if facts.kind == google.ONE_TIME_PRODUCT:
            product = _required(product_id or facts.product_id, "product id")
            play.acknowledge_product(package, product, _required(facts.purchase_token, "purchase token"))
        else:
            product = _required(facts.acknowledge_product_id, "product id")
            play.acknowledge_subscription(package, product, _required(facts.purchase_token, "purchase token"))
        metrics.add_metric(name="PurchasesAcknowledged", unit="Count", value=1)

    def process_stripe(self, event: Mapping, claimant: str | None = None) -> Outcome:
        """A Stripe event (verified at the door, or built from an API read for a receipt claim by
        `claimant`, which then outranks the user the event names)."""
        facts = usable(stripe.normalize, event, self.stripe_grace)
        if claimant:
            facts = facts._replace(customer_user=None)  # a receipt claims; it links no customer
        logger.append_keys(store="stripe", event_id=facts.event_id, event_type=facts.event_type)
        for warning in facts.warnings:
            logger.warning(warning)
        if facts.customer_user and facts.customer_ref:
            try:
                self._repo.link_customer("stripe", facts.event_id, facts.customer_ref, facts.customer_user)
            except DuplicateEventError:
                return Outcome("duplicate")
            return Outcome("customer_linked")
        if not facts.concerns_purchase:
            return self._updates.finish_without_change("stripe", facts.event_id, "ignored")
        found = self._resolve_stripe_purchase(facts)
        if self._stripe is not None and facts.subscription_id:
            facts = self._with_stripe_truth(facts, self._stripe)
        elif self._stripe is not None and facts.checkout_session_id and facts.snapshot and not facts.snapshot.product_refs:
            # A one-time checkout: the event does not say what was bought, the session's line items do.
            items = self._stripe_read(self._stripe.checkout_line_items, facts.checkout_session_id)
            facts = stripe.with_products(facts, stripe.line_item_refs(items))
        update = replace(facts.update_for(found.purchase_id.split(":", 1)[1], found.period_end), claimant=claimant)
        return self.apply(update, source="stripe", owner_hint=next(iter(found.owner_ids), None))

    def _resolve_stripe_purchase(self, facts: stripe.StripeFacts) -> PaymentRef:
        """The purchase an event concerns: named by it, or found through a payment recorded earlier."""
        if facts.purchase_key:
            return PaymentRef(facts.purchase_key, f"stripe:{facts.purchase_key}", None)
        found = self._repo.find_payment(facts.payment_lookup)
        if found is not None:
            return found
        if self._stripe is not None:
            for ref in facts.payment_lookup:
                if ref.startswith("pi_"):
                    subscription = self._stripe_read(self._stripe.subscription_for_payment, ref)
                    if subscription:
                        return PaymentRef(ref, f"stripe:{subscription}", None)
        raise UnknownPurchaseError(f"no purchase is known for payments {list(facts.payment_lookup)}")

    def stripe_purchase_of(self, facts: stripe.StripeFacts) -> PaymentRef | None:
        """The stored purchase a refund or dispute concerns (as its webhook finds it), None when Parity
        holds none (a payment of nothing it knows: nothing to revoke)."""
        try:
            found = self._resolve_stripe_purchase(facts)
        except UnknownPurchaseError:
            return None
        return found if self._repo.get_purchase(found.purchase_id) is not None else None

    def _with_stripe_truth(self, facts: stripe.StripeFacts, api: StripeApi) -> stripe.StripeFacts:
        """Re-read the subscription so that out-of-order events converge on Stripe's current state."""
        subscription = self._stripe_read(api.subscription, facts.subscription_id)
        if subscription is None:
            return facts
        snapshot, warnings = stripe.subscription_snapshot(subscription, self._clock.now(), self.stripe_grace)
        for warning in warnings:
            logger.warning(warning)
        claimant = facts.claimant or stripe.subscription_claimant(subscription)
        return facts._replace(snapshot=snapshot, claimant=claimant)

    @staticmethod
    def _stripe_read(request, *args):
        """A Stripe API read; None when Stripe refuses it (the event's own facts stand), raised to retry
        the message when Stripe is unreachable."""
        try:
            return request(*args)
        except StoreApiError as error:
            if error.retryable:
                raise
            logger.warning("Stripe refused a read; the event's own facts are used", extra={"reason": str(error)})
            return None

    # -- the shared write path (`UpdateApplier`) ----------------------------------------------------

    def apply(self, update: PurchaseUpdate, source: str, owner_hint: str | None = None) -> Outcome:
        """Apply one normalized update (`UpdateApplier.apply`): receipts and the drift check read their
        stores themselves and write through here."""
        return self._updates.apply(update, source, owner_hint)

    def complete_pending(self, purchase: Purchase | str, source: str, event_id: str) -> tuple[Mapping, ...]:
        """Write the users' projections a purchase still has pending (`UpdateApplier.complete_pending`)."""
        return self._updates.complete_pending(purchase, source, event_id)

    def sweep(self, purchase: Purchase, source: str, event_id: str) -> Outcome:
        """Bring a purchase's owners up to date with time (`UpdateApplier.sweep`)."""
        return self._updates.sweep(purchase, source, event_id)
