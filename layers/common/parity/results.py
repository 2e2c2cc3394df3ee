"""What the services answer: results in domain terms, which the handlers turn into the contract's JSON
with `parity.views` (the services know neither HTTP nor JSON)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .domain.entitlements import Catalog, Entitlement
    from .domain.model import Purchase
    from .domain.ownership import AuditRecord
    from .domain.users import UserState
    from .ports import EventSummary


@dataclass(frozen=True)
class UserEntitlements:
    """What a user may use at `now`, with the purchases behind it."""

    user_id: str
    app_account_token: str | None
    entitlements: Mapping[str, Entitlement]
    purchases: Sequence[Purchase]
    catalog: Catalog
    now: datetime
    cache_until: datetime


@dataclass(frozen=True)
class Restored:
    """What a restore (`"restore": true`) did with each purchase of the account's history."""

    claimed: tuple[str, ...]  # purchase ids claimed (or held already) by the caller
    refused: tuple[str, ...]  # purchase ids the claim rules left to another user


@dataclass(frozen=True)
class ReceiptOutcome:
    """What became of a receipt: claimed, with the user's entitlements read after the claim was written;
    or pending (`entitlements` None): the store could not be reached, and a retry is queued. `restored`:
    the purchases a restore claimed and was refused."""

    entitlements: UserEntitlements | None = None
    restored: Restored | None = None

    @property
    def status(self) -> str:
        return "pending" if self.entitlements is None else "claimed"


@dataclass(frozen=True)
class Assignment:
    """A manual association: the purchase as it stands now, and the owners it had before."""

    purchase: Purchase
    previous_owner_ids: tuple[str, ...]


@dataclass(frozen=True)
class MergeResult:
    """A finished merge: `user_id` is the user merged into (the one behind an alias, if it was one)."""

    user_id: str
    from_user_id: str
    purchases_moved: int


@dataclass(frozen=True)
class UserReport:
    """What an operator needs to judge who may use what, and why."""

    user: UserState
    entitlements: Mapping[str, Entitlement]
    events: Mapping[str, Sequence[EventSummary]]  # by purchase id
    claims: Sequence[AuditRecord]
    refusals: Sequence[AuditRecord]
    double_billing: Mapping[str, Sequence[str]]
    refund_threshold: int
    catalog: Catalog
    now: datetime
    flag_history: Sequence[AuditRecord] = ()  # flags set and cleared, newest first
