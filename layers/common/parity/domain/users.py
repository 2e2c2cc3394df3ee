"""A user as the repository returns it: the profile, the purchases they hold, the last projection."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from .entitlements import Entitlement
from .model import Purchase


@dataclass(frozen=True)
class UserState:
    user_id: str
    app_account_token: str | None = None
    version: int = 0  # 0: no profile stored yet
    purchases: tuple[Purchase, ...] = ()
    entitlements: dict[str, Entitlement] = field(default_factory=dict)  # as last written (and published)
    refunds: int = 0  # refunds and chargebacks of purchases this user held, across stores
    flagged_at: datetime | None = None  # flagged for review (refund abuse); never revokes by itself
    merged_into: str | None = None  # this id is an alias: the user it was merged into
    aliases: tuple[str, ...] = ()  # the user ids merged into this one

    @property
    def exists(self) -> bool:
        return self.version > 0

    def due_for_review(self, refunds_added: int, threshold: int) -> bool:
        """Whether `refunds_added` more refunds flag this user (once: a flag stays until reviewed)."""
        return self.flagged_at is None and refunds_added > 0 and self.refunds + refunds_added >= threshold


def refunds_added(current: Purchase | None, purchase: Purchase) -> int:
    """Refunds and chargebacks an update added to a purchase: each revocation counts once, by its ref
    (a dispute opened, then lost, is one chargeback)."""
    known = {revocation.ref for revocation in current.revocations} if current else set()
    return sum(1 for r in purchase.revocations if r.refund and r.active and r.ref not in known)
