"""From a user's purchases and the catalog to "what may this user use right now"."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import NamedTuple

from .catalog import Catalog
from .model import ACCESS_STATES, Purchase, State, Store, access_end, access_granted


@dataclass(frozen=True)
class Entitlement:
    """One entitlement of one user, as the contract shows it; `purchase_id` is the winning purchase."""

    entitlement_id: str
    active: bool
    state: State
    expires_at: datetime | None
    grace_ends_at: datetime | None
    will_renew: bool
    store: Store
    product_id: str | None
    purchase_id: str
    environment: str = "production"  # the winning purchase's (projections stored before it: production)

    @classmethod
    def of(cls, entitlement_id: str, purchase: Purchase, now: datetime) -> Entitlement:
        state = purchase.state_at(now)  # a grace past its end reads as what it lapsed into, without it
        return cls(
            entitlement_id=entitlement_id,
            active=purchase.grants_access(now),
            state=state,
            expires_at=purchase.expires_at,
            grace_ends_at=purchase.grace_ends_at if state is purchase.state else None,
            will_renew=purchase.will_renew,
            store=purchase.store,
            product_id=purchase.product_id,
            purchase_id=purchase.purchase_id,
            environment=purchase.environment,
        )

    @property
    def access_ends_at(self) -> datetime | None:
        return access_end(self.state, self.expires_at, self.grace_ends_at)

    def at(self, now: datetime) -> Entitlement:
        """The same entitlement judged at `now`: a stored projection ages (access ends at its end)."""
        active = self.active and access_granted(self.state, self.access_ends_at, now)
        return self if active == self.active else replace(self, active=active)


_FOREVER = datetime.max.replace(tzinfo=None)


def _rank(purchase: Purchase, now: datetime) -> tuple[bool, datetime, str]:
    """Purchases granting access first, then the one whose access lasts (or lasted) longest; a tie goes
    by purchase id, so that the winner does not depend on which purchase was updated last."""
    end = purchase.access_ends_at
    return purchase.grants_access(now), (_FOREVER if end is None else end.replace(tzinfo=None)), purchase.purchase_id


def compute_entitlements(purchases: Iterable[Purchase], catalog: Catalog, now: datetime) -> dict[str, Entitlement]:
    """Each entitlement the purchases unlock, from the purchase giving access the longest."""
    best: dict[str, Purchase] = {}
    for purchase in purchases:
        for entitlement_id in catalog.entitlements_of(purchase):
            holder = best.get(entitlement_id)
            if holder is None or _rank(purchase, now) > _rank(holder, now):
                best[entitlement_id] = purchase
    return {eid: Entitlement.of(eid, purchase, now) for eid, purchase in sorted(best.items())}


def entitlements_with_history(
    purchases: Iterable[Purchase], history: Mapping[str, Entitlement], catalog: Catalog, now: datetime
) -> dict[str, Entitlement]:
    """The user's entitlements: from the purchases they hold, plus every one they had before, inactive.

    A past entitlement whose purchase the user no longer holds (another user took it over, an operator
    associated it elsewhere) would still read as the purchase's state, `active` say, while access is
    gone: for this user it was withdrawn, so it reads `revoked`, not renewing.
    """
    current = compute_entitlements(purchases, catalog, now)
    for entitlement_id, past in history.items():
        if entitlement_id not in current:
            withdrawn = past.state in ACCESS_STATES
            current[entitlement_id] = replace(
                past,
                active=False,
                state=State.REVOKED if withdrawn else past.state,
                will_renew=False if withdrawn else past.will_renew,
            )
    return dict(sorted(current.items()))


def cache_until(entitlements: Iterable[Entitlement], now: datetime, offline_grace: timedelta) -> datetime:
    """How long an app may trust the answer offline: never past the next change of access."""
    limit = now + offline_grace
    for entitlement in entitlements:
        end = entitlement.access_ends_at
        if entitlement.active and end is not None and now < end < limit:
            limit = end
    return limit


class EntitlementChange(NamedTuple):
    user_id: str
    entitlement_id: str
    old: Entitlement | None
    new: Entitlement | None


_COMPARED = ("active", "state", "expires_at", "grace_ends_at", "purchase_id", "will_renew")


def diff_entitlements(
    user_id: str, old: Mapping[str, Entitlement], new: Mapping[str, Entitlement]
) -> list[EntitlementChange]:
    """The entitlements whose access (or the purchase behind it) differs between `old` and `new`."""
    changes = []
    for entitlement_id in sorted(old.keys() | new.keys()):
        before, after = old.get(entitlement_id), new.get(entitlement_id)
        if before is None or after is None or any(
            getattr(before, name) != getattr(after, name) for name in _COMPARED
        ):
            changes.append(EntitlementChange(user_id, entitlement_id, before, after))
    return changes


def double_billing(purchases: Iterable[Purchase], catalog: Catalog, now: datetime) -> dict[str, tuple[str, ...]]:
    """Entitlements a user is paying for in more than one store at once: each entitlement granted right
    now by purchases from two stores or more (say Stripe and the App Store), with those purchases."""
    granting: dict[str, list[Purchase]] = {}
    for purchase in purchases:
        if purchase.store is not Store.MANUAL and purchase.grants_access(now):
            for entitlement_id in catalog.entitlements_of(purchase):
                granting.setdefault(entitlement_id, []).append(purchase)
    return {
        entitlement_id: tuple(sorted(p.purchase_id for p in held))
        for entitlement_id, held in sorted(granting.items())
        if len({p.store for p in held}) > 1
    }
