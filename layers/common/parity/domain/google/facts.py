"""`GoogleFacts`: what one fetched resource (or one void) says about one purchase token, built in one place.

How Google Play's states map onto Parity's, and the rules for ordering, chains, acknowledgement and
revocations: docs/stores/play_store.md.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import replace
from datetime import datetime
from typing import Any, NamedTuple

from ..model import Delivery, PurchaseUpdate, Revocation, Snapshot, State, Store, purchase_id
from ..readers import mapping, text
from .notification import notification_type_of
from .vocabulary import ACKNOWLEDGEMENT_STATES, ONE_TIME_PRODUCT, PENDING_STATES, SUBSCRIPTION

# kind → (the resource's name, the purchase's name) in warnings
_RESOURCES: Mapping[str, tuple[str, str]] = {
    SUBSCRIPTION: ("SubscriptionPurchaseV2", "subscription"),
    ONE_TIME_PRODUCT: ("ProductPurchase", "one-time purchase"),
}


class GoogleFacts(NamedTuple):
    """What one fetched resource (or one void) says about one purchase token, before Parity resolves
    its user and its chain.

    `snapshot` is the token's own state as of `occurred_at` (the fetch time); whether it describes the
    lifecycle is `describes_lifecycle`. `app_account_token` is the raw obfuscated account id.
    """

    event_id: str
    kind: str
    occurred_at: datetime
    purchase_token: str | None
    event_time: datetime | None = None
    notification_type: int | None = None
    product_id: str | None = None
    product_refs: tuple[str, ...] = ()
    environment: str = "production"
    app_account_token: str | None = None
    profile_token: str | None = None  # obfuscatedExternalProfileId, exposed only
    expired_purchase_token: str | None = None  # outOfAppPurchaseContext: the last expired token
    expired_app_account_token: str | None = None
    linked_purchase_token: str | None = None
    replaced: bool = False  # canceledStateContext.replacementCancellation: a newer token took over
    raw_state: str | None = None  # subscriptionState / the purchaseState's name, raw
    snapshot: Snapshot | None = None
    revocation: Revocation | None = None
    will_renew: bool | None = None
    free_trial: bool = False
    acknowledgement_state: str | None = None  # raw (a ProductPurchase's 0/1 as its name)
    needs_acknowledgement: bool = False
    acknowledge_product_id: str | None = None  # the product id the acknowledge call needs
    order_id: str | None = None  # latest successful order (subscriptions), the order (one-time, voids)
    start_time: datetime | None = None
    cancel_reason: str | None = None  # user | system | developer | replacement
    auto_resume_at: datetime | None = None  # paused subscriptions
    consumed: bool | None = None
    quantity: int | None = None
    refundable_quantity: int | None = None
    product_type: int | None = None  # voids, raw
    refund_type: int | None = None  # voids, raw (inferred for voidedpurchases.list items)
    voided_quantity: int | None = None
    voided_reason: int | None = None
    voided_source: int | None = None
    warnings: tuple[str, ...] = ()

    @property
    def purchase_key(self) -> str | None:
        return self.purchase_token

    @property
    def purchase_id(self) -> str | None:
        """The purchase id when this token starts its own lifecycle (see `chain_key` for chains)."""
        return purchase_id(Store.PLAY_STORE, self.purchase_token) if self.purchase_token else None

    @property
    def routing_key(self) -> str:
        return self.purchase_token or self.event_id

    @property
    def concerns_purchase(self) -> bool:
        return bool(self.purchase_token)

    @property
    def claim_token(self) -> str | None:
        """The appAccountToken attributing this purchase to a user: its own obfuscated account id, else
        (a resubscription from the Play subscriptions center) the one of the expired subscription."""
        return self.app_account_token or self.expired_app_account_token

    @property
    def describes_lifecycle(self) -> bool:
        """Whether this token's snapshot is its lifecycle's state (docs/stores/play_store.md, "Chains")."""
        if self.replaced:
            return False
        return not (self.linked_purchase_token and self.raw_state in PENDING_STATES)

    @property
    def supersedes(self) -> str | None:
        """The older token this one replaced (its `linkedPurchaseToken`, once the replacement is no
        longer pending): the service records it as superseded."""
        if self.kind != SUBSCRIPTION or not self.linked_purchase_token or self.raw_state in PENDING_STATES:
            return None
        return self.linked_purchase_token

    def chain_key(self, root_of: Callable[[str], str | None]) -> str:
        if not self.purchase_token:
            raise ValueError(f"{self.kind} {self.event_id} concerns no purchase")
        return chain_key(self.purchase_token, self.linked_purchase_token, root_of)

    def update_for(
        self,
        claimant: str | None = None,
        store_key: str | None = None,
        period_end: datetime | None = None,
        superseded: bool = False,
        app: str | None = None,
    ) -> PurchaseUpdate:
        """The facts as an update of `play_store:<store_key>` (default: the token itself).

        `claimant`: the Parity user the service resolved (from `claim_token`, or the receipts caller);
        the token travels on the update as `app_account_token` either way. `store_key`: the chain's key
        (`chain_key`). `period_end`: the period a void's order paid for, when the facts do not know it.
        `superseded`: the service knows a newer token of the chain; this token's snapshot is dropped.
        `app`: the package name the purchase belongs to (the notification's, or the one the API was asked
        with: Google's resources do not name it).
        """
        if not self.purchase_token:
            raise ValueError(f"{self.kind} {self.event_id} concerns no purchase")
        snapshot = self.snapshot if self.describes_lifecycle and not superseded else None
        revocation = self.revocation
        if revocation is not None and revocation.covers_until is None and period_end is not None:
            revocation = replace(revocation, covers_until=period_end)
        return PurchaseUpdate(
            store=Store.PLAY_STORE,
            store_key=store_key or self.purchase_token,
            event_id=self.event_id,
            occurred_at=self.occurred_at,
            snapshot=snapshot,
            product_refs=self.product_refs,
            revocation=revocation,
            claimant=claimant,
            app_account_token=self.claim_token,
            # Google has no product type: a purchase the app consumed is a consumable (the catalog's
            # `consumables` names the others, before they are consumed).
            consumable=True if self.kind == ONE_TIME_PRODUCT and self.consumed else None,
            delivery=self.delivery,
            environment=self.environment if self.snapshot is not None else None,
            app=app,
        )

    @property
    def delivery(self) -> Delivery | None:
        """A one-time product purchased (not pending, canceled or voided): what the app's backend
        credits once when it is a consumable; its id is the order id (the token when Google gives none)."""
        if self.kind != ONE_TIME_PRODUCT or self.snapshot is None or self.snapshot.store_state is not State.ACTIVE:
            return None
        if (self.revocation is not None and self.revocation.active) or not self.purchase_token:
            return None
        return Delivery(self.order_id or self.purchase_token, self.quantity or 1, self.start_time)


def chain_key(purchase_token: str, linked_purchase_token: str | None, root_of: Callable[[str], str | None]) -> str:
    """The store key of the lifecycle a token belongs to: the first token of its chain Parity knows.

    `root_of(token)` is the key the service recorded for a token it has seen (None: never seen). A
    token already recorded keeps its key; a new token joins its linked token's lifecycle (the linked
    token itself when Parity never saw it: its own later notifications then find that key); a token
    without a link starts its own. The service records `token → key` (and the linked token's) after
    applying, so that every later notification of either lands on the same purchase.
    """
    known = root_of(purchase_token)
    if known:
        return known
    if linked_purchase_token:
        return root_of(linked_purchase_token) or linked_purchase_token
    return purchase_token


class Fetched(NamedTuple):
    """One resource the Play Developer API returned, with what its fetch was about.

    Subscriptions and one-time products read their own fields from `resource` (adding to `warnings`);
    the checks and the fields every fetched resource shares are made here, and `facts` builds the result.
    """

    kind: str
    purchase_token: str | None
    resource: Mapping[str, Any]  # {} when the answer is not an object
    answered_object: bool
    as_of: datetime
    event_id: str
    notification_type: int | None
    event_time: datetime | None
    warnings: list[str]

    @classmethod
    def read(
        cls,
        kind: str,
        purchase_token: str,
        resource: Mapping[str, Any],
        as_of: datetime,
        event_id: str,
        notification_type: int | None,
        event_time: datetime | None,
    ) -> Fetched:
        """Checks the token, the resource's shape and the notification type that triggered the fetch."""
        resource_name, purchase_name = _RESOURCES[kind]
        warnings: list[str] = []
        res = mapping(resource, resource_name, warnings)
        token = text(purchase_token)
        if token is None:
            warnings.append(f"{purchase_name} without purchase token: concerns no purchase")
        if notification_type is not None:
            notification_type = notification_type_of(notification_type, kind, warnings)
        return cls(kind, token, res, res is resource, as_of, event_id, notification_type, event_time, warnings)

    def snapshot(
        self,
        state: State,
        products: tuple[str, ...],
        *,
        expires_at: datetime | None,
        will_renew: bool | None,
        raw_state: str | None,
        environment: str,
        grace_ends_at: datetime | None = None,
    ) -> Snapshot:
        """The token's own state as of the fetch."""
        return Snapshot(
            store_state=state,
            expires_at=expires_at,
            as_of=self.as_of,
            grace_ends_at=grace_ends_at,
            will_renew=will_renew,
            product_id=products[0] if products else None,
            product_refs=products,
            raw_state=raw_state,
            environment=environment,
            # Play puts a subscription on account hold when its grace period ends unpaid.
            lapses_to=State.ON_HOLD if state is State.GRACE_PERIOD else None,
        )

    def facts(self, products: tuple[str, ...], **fields: Any) -> GoogleFacts:
        """The facts of this fetch: the shared fields, the kind's own `fields`, and every warning."""
        first_product = products[0] if products else None
        return GoogleFacts(
            event_id=self.event_id,
            kind=self.kind,
            occurred_at=self.as_of,
            purchase_token=self.purchase_token,
            event_time=self.event_time,
            notification_type=self.notification_type,
            product_id=first_product,
            product_refs=products,
            acknowledge_product_id=first_product,
            warnings=tuple(self.warnings),
            **fields,
        )


def acknowledgement_state(resource: Mapping[str, Any], warnings: list[str]) -> str | None:
    """A v2 resource's `acknowledgementState` (raw); an unknown one is never read as acknowledged."""
    ack = text(resource.get("acknowledgementState"))
    if ack is not None and ack not in ACKNOWLEDGEMENT_STATES:
        warnings.append(f"unknown acknowledgementState {ack!r} kept raw (not acknowledged by Parity)")
    return ack
