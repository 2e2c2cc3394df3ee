"""What the administration service answers the operators (manual association, merge, a user's report),
in domain terms; `parity.views` turns them into the contract's JSON."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:
    from .domain.catalog import Catalog
    from .domain.entitlements import Entitlement
    from .domain.model import Purchase
    from .domain.ownership import AuditRecord
    from .domain.users import UserState
    from .ports import EventSummary


class Assignment(NamedTuple):
    """A manual association: the purchase as it stands now, and the owners it had before."""

    purchase: Purchase
    previous_owner_ids: tuple[str, ...]


class MergeResult(NamedTuple):
    """A finished merge: `user_id` is the user merged into (the one behind an alias, if it was one)."""

    user_id: str
    from_user_id: str
    purchases_moved: int


class UserReport(NamedTuple):
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
