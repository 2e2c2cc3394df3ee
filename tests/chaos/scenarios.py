"""Store event scenarios for many users, generated from a seed: the lives of Stripe subscriptions, App
Store subscriptions and Google Play subscriptions, as each store would send their notifications, then a
delivery schedule that duplicates and reorders them.

Every user buys from one to three stores. A life is a first purchase, renewals, and sometimes a
cancellation, a refund or a revocation, or an end in the past; periods are 30 days and end at least a
day away from now, so a run minutes later reads the same access. Bodies are built (and App Store
payloads signed) once: the fault-free run and the faulty run deliver the same bytes. Stripe signatures
and Pub/Sub push tokens are made at delivery time, as the stores make them.
"""

from __future__ import annotations

import json
import random
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone

from tests.support import apple as fx
from tests.support import google as push
from tests.support import play_payloads as pp
from tests.support import stripe

DAY = 86_400
PERIOD = 30 * DAY
APPLE_PRODUCT = "com.example.pro.monthly"
PLAY_PRODUCT = pp.MONTHLY  # pro_monthly
STORES = ("stripe", "app_store", "play_store")
CATALOG = {
    "products": {
        "price_pro_monthly": ["pro"],
        "prod_pro": ["pro"],
        "price_team": ["team"],
        "prod_team": ["team"],
        APPLE_PRODUCT: ["pro"],
        PLAY_PRODUCT: ["pro"],
    }
}


@dataclass(frozen=True)
class StoreEvent:
    """One notification a store sends once (its retries and duplicates carry the same id)."""

    store: str  # stripe | app_store | play_store
    event_id: str  # Stripe event id, Apple notificationUUID, Pub/Sub messageId
    user_id: str
    purchase_id: str
    kind: str
    at: int  # store time, epoch seconds
    body: bytes


@dataclass
class Scenario:
    seed: int
    now: int
    users: dict[str, str] = field(default_factory=dict)  # user id → appAccountToken
    events: list[StoreEvent] = field(default_factory=list)
    play_resources: dict[str, dict] = field(default_factory=dict)  # purchase token → SubscriptionPurchaseV2
    purchases: dict[str, str] = field(default_factory=dict)  # purchase id → user id

    def by_store(self) -> dict[str, int]:
        counts = dict.fromkeys(STORES, 0)
        for event in self.events:
            counts[event.store] += 1
        return counts


@dataclass(frozen=True)
class Delivery:
    """A store's attempt to deliver `event` (the first one, or a duplicate it sends anyway)."""

    event: StoreEvent
    duplicate: bool


class _Generator:
    def __init__(self, seed: int, now: int) -> None:
        self.rng = random.Random(seed)
        self.scenario = Scenario(seed, now)
        self.now = now
        self.counter = 0
        self.signer = fx.AppleSigner(environment="Sandbox")

    def next_id(self) -> int:
        self.counter += 1
        return self.counter

    def uuid(self) -> str:
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def add(self, store: str, event_id: str, user: str, purchase_id: str, kind: str, at: int, body: bytes) -> None:
        self.scenario.events.append(StoreEvent(store, event_id, user, purchase_id, kind, at, body))
        self.scenario.purchases[purchase_id] = user

    def timeline(self) -> tuple[int, int, bool]:
        """(start, renewals, ended): periods of 30 days; the last ends 2-28 days from now, or (ended)
        2-28 days ago."""
        renewals = self.rng.randint(1, 7)
        ended = self.rng.random() < 0.15
        offset = self.rng.randint(2, 28) * DAY + self.rng.randint(0, DAY - 1)
        last_end = self.now - offset if ended else self.now + offset
        return last_end - (renewals + 1) * PERIOD, renewals, ended

    # -- Stripe ------------------------------------------------------------------------------------

    def stripe_life(self, user: str, team: bool = False) -> None:
        n = self.next_id()
        sub, customer = f"sub_c{n:06d}", f"cus_c{user}"
        price, product = ("price_team", "prod_team") if team else ("price_pro_monthly", "prod_pro")
        start, renewals, ended = self.timeline()
        refund = self.rng.random() < 0.25
        cancel = ended or self.rng.random() < 0.25
        pid = f"stripe:{sub}"

        def emit(kind: str, obj: dict, at: int) -> None:
            event_id = f"evt_c{self.next_id():07d}"
            event = stripe.event(kind, obj, created=at, event_id=event_id)
            self.add("stripe", event_id, user, pid, kind, at, stripe.encode(event))

        def subscription(status: str, end: int, **extra) -> dict:
            return stripe.subscription(sub, status, end, price, product, customer, user_id=user, **extra)

        emit("customer.updated", stripe.customer(customer, f"{user}@example.com", user_id=user), start - 60)
        for period in range(renewals + 1):
            begins, end = start + period * PERIOD, start + (period + 1) * PERIOD
            kind = "customer.subscription.created" if period == 0 else "customer.subscription.updated"
            emit(kind, subscription("active", end), begins)
            invoice_id, intent, charge = f"in_c{n}_{period}", f"pi_c{n}_{period}", f"ch_c{n}_{period}"
            invoice = stripe.invoice(invoice_id, sub, end, customer)
            invoice["amount_paid"] = 999
            for line in invoice["lines"]["data"]:
                line["pricing"] = {"type": "price_details", "price_details": {"price": price, "product": product}}
            emit("invoice.paid", invoice, begins + 1)
            emit("invoice_payment.paid", stripe.invoice_payment(invoice_id, intent, charge), begins + 2)
        last_begins, last_end = start + renewals * PERIOD, start + (renewals + 1) * PERIOD
        if refund:
            charge = stripe.charge(f"ch_c{n}_{renewals}", f"pi_c{n}_{renewals}", customer=customer)
            emit("charge.refunded", charge, last_begins + 3 * DAY)
        if cancel:
            emit("customer.subscription.updated", subscription("active", last_end, cancel_at_period_end=True), last_begins + 5 * DAY)
        if ended:
            emit("customer.subscription.deleted", subscription("canceled", last_end, ended_at=last_end), last_end)

    # -- App Store ---------------------------------------------------------------------------------

    def apple_life(self, user: str, token: str) -> None:
        n = self.next_id()
        original = f"{3_100_000_000_000_000 + n}"
        start, renewals, ended = self.timeline()
        refund = not ended and self.rng.random() < 0.2
        disable = ended or self.rng.random() < 0.25
        pid = f"app_store:{original}"
        signed = [start * 1000]

        def transaction(index: int, **extra) -> dict:
            begins = start + index * PERIOD
            return self.signer.transaction(
                transactionId=original if index == 0 else f"{int(original) + 10_000_000 * index}",
                originalTransactionId=original,
                webOrderLineItemId=f"{int(original) + 20_000_000 * (index + 1)}",
                productId=APPLE_PRODUCT,
                purchaseDate=begins * 1000,
                originalPurchaseDate=start * 1000,
                expiresDate=(begins + PERIOD) * 1000,
                appAccountToken=token,
                signedDate=signed[0],
                **extra,
            )

        def renewal(auto_renew: bool, index: int) -> dict:
            return self.signer.renewal_info(
                originalTransactionId=original,
                autoRenewStatus=1 if auto_renew else 0,
                renewalDate=(start + (index + 1) * PERIOD) * 1000,
                recentSubscriptionStartDate=start * 1000,
                appAccountToken=token,
                signedDate=signed[0],
            )

        def emit(kind: str, subtype: str | None, at: int, tx: dict, info: dict) -> None:
            signed[0] = max(signed[0] + 1, at * 1000)
            tx["signedDate"] = info["signedDate"] = signed[0]
            uuid_ = self.uuid()
            body = self.signer.notification_body(
                kind, subtype, transaction=tx, renewal_info=info, signedDate=signed[0], notificationUUID=uuid_
            )
            self.add("app_store", uuid_, user, pid, f"{kind}:{subtype}" if subtype else kind, at, body)

        emit("SUBSCRIBED", "INITIAL_BUY", start, transaction(0), renewal(True, 0))
        for index in range(1, renewals + 1):
            emit("DID_RENEW", None, start + index * PERIOD, transaction(index), renewal(True, index))
        last_begins, last_end = start + renewals * PERIOD, start + (renewals + 1) * PERIOD
        if disable:
            emit("DID_CHANGE_RENEWAL_STATUS", "AUTO_RENEW_DISABLED", last_begins + 4 * DAY, transaction(renewals), renewal(False, renewals))
        if refund:
            revoked = (last_begins + 6 * DAY) * 1000
            tx = transaction(renewals, revocationDate=revoked, revocationReason=0)
            emit("REFUND", None, last_begins + 6 * DAY, tx, renewal(not disable, renewals))
        if ended:
            emit("EXPIRED", "VOLUNTARY", last_end, transaction(renewals), renewal(False, renewals))

    # -- Google Play -------------------------------------------------------------------------------

    def play_life(self, user: str, token: str) -> None:
        n = self.next_id()
        purchase_token = f"chaos-token-{n:06d}.AO-J1Oy{n % 97:02d}"
        start, renewals, ended = self.timeline()
        revoked = not ended and self.rng.random() < 0.15
        cancel = ended or (not revoked and self.rng.random() < 0.25)
        order = f"GPA.3345-{n:04d}-0000-00000"
        pid = f"play_store:{purchase_token}"

        def emit(notification: dict, kind: str, at: int) -> None:
            message_id = f"{15_000_000_000_000_000 + self.next_id()}"
            body = push.push_body(notification, message_id=message_id, publish_time=_rfc3339(at))
            self.add("play_store", message_id, user, pid, kind, at, body)

        def moment(at: int) -> datetime:
            return datetime.fromtimestamp(at, timezone.utc)

        emit(pp.subscription_notification(4, purchase_token, moment(start)), "SUBSCRIPTION_PURCHASED", start)
        for index in range(1, renewals + 1):
            at = start + index * PERIOD
            emit(pp.subscription_notification(2, purchase_token, moment(at)), "SUBSCRIPTION_RENEWED", at)
        last_begins, last_end = start + renewals * PERIOD, start + (renewals + 1) * PERIOD
        latest = pp.renewal_order(renewals - 1, order) if renewals else order
        state, expiry = "SUBSCRIPTION_STATE_ACTIVE", last_end
        if cancel:
            at = last_begins + 5 * DAY
            emit(pp.subscription_notification(3, purchase_token, moment(at)), "SUBSCRIPTION_CANCELED", at)
            state = "SUBSCRIPTION_STATE_CANCELED"
        if ended:
            emit(pp.subscription_notification(13, purchase_token, moment(last_end)), "SUBSCRIPTION_EXPIRED", last_end)
            state = "SUBSCRIPTION_STATE_EXPIRED"
        if revoked:
            at = last_begins + 6 * DAY
            emit(pp.subscription_notification(12, purchase_token, moment(at)), "SUBSCRIPTION_REVOKED", at)
            emit(pp.voided_notification(purchase_token, latest, event_time=moment(at + 60)), "VOIDED", at + 60)
            state, expiry = "SUBSCRIPTION_STATE_EXPIRED", at
        self.scenario.play_resources[purchase_token] = pp.subscription(
            state,
            expiry=moment(expiry),
            product_id=PLAY_PRODUCT,
            order_id=latest,
            account=token,
            ack="ACKNOWLEDGEMENT_STATE_PENDING",
            start=moment(start),
            canceled="user" if cancel else None,
        )


def _rfc3339(at: int) -> str:
    return datetime.fromtimestamp(at, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def generate(seed: int, users: int, min_events: int, now: int | None = None) -> Scenario:
    """`users` users (ids `u_c0000`...), each with purchases in one to three stores, and more purchases
    for random users until there are at least `min_events` events."""
    gen = _Generator(seed, int(time.time()) if now is None else now)
    rng = gen.rng
    lives = {"stripe": gen.stripe_life, "app_store": gen.apple_life, "play_store": gen.play_life}
    ids = [f"u_c{n:04d}" for n in range(users)]
    for user in ids:
        gen.scenario.users[user] = gen.uuid()

    def buy(user: str, store: str) -> None:
        if store == "stripe":
            gen.stripe_life(user, team=rng.random() < 0.2)
        else:
            lives[store](user, gen.scenario.users[user])

    for user in ids:
        count = rng.choices((1, 2, 3), weights=(6, 3, 1))[0]
        for store in rng.sample(STORES, count):
            buy(user, store)
    while len(gen.scenario.events) < min_events:
        buy(rng.choice(ids), rng.choice(STORES))
    return gen.scenario


def schedule(scenario: Scenario, duplicate_rate: float = 0.15, late_rate: float = 0.1) -> list[Delivery]:
    """Every event once, in store-time order but shuffled locally (each moved up to 200 places), a
    `late_rate` share delivered up to 3,000 places late, and a `duplicate_rate` share delivered a
    second time up to 2,000 places after the first."""
    rng = random.Random(scenario.seed * 7919 + 1)
    ordered = sorted(scenario.events, key=lambda e: (e.at, e.event_id))
    keyed: list[tuple[float, int, Delivery]] = []
    for rank, event in enumerate(ordered):
        key = rank + rng.uniform(0, 200) + (rng.uniform(0, 3000) if rng.random() < late_rate else 0)
        keyed.append((key, len(keyed), Delivery(event, duplicate=False)))
        if rng.random() < duplicate_rate:
            keyed.append((key + rng.uniform(1, 2000), len(keyed), Delivery(event, duplicate=True)))
    keyed.sort()
    return [delivery for _, _, delivery in keyed]


def describe(scenario: Scenario) -> dict:
    kinds: dict[str, int] = {}
    for event in scenario.events:
        kinds[f"{event.store} {event.kind}"] = kinds.get(f"{event.store} {event.kind}", 0) + 1
    return {"users": len(scenario.users), "purchases": len(scenario.purchases), "events": len(scenario.events), "kinds": kinds}


if __name__ == "__main__":  # a look at what a seed generates
    print(json.dumps(describe(generate(1, 30, 300)), indent=2))
