"""What the services answer the apps: results in domain terms, which the handlers turn into the contract's
JSON with `parity.views` (the services know neither HTTP nor JSON). The operators' results are in
`operator_results`."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:
    from .domain.catalog import Catalog
    from .domain.entitlements import Entitlement
    from .domain.model import Purchase


class UserEntitlements(NamedTuple):
    """What a user may use at `now`, with the purchases behind it."""

    user_id: str
    app_account_token: str | None
    entitlements: Mapping[str, Entitlement]
    purchases: Sequence[Purchase]
    catalog: Catalog
    now: datetime
    cache_until: datetime


class Restored(NamedTuple):
    """What a restore (`"restore": true`) did with each purchase of the account's history."""

    claimed: tuple[str, ...]  # purchase ids claimed (or held already) by the caller
    refused: tuple[str, ...]  # purchase ids the claim rules left to another user


class ReceiptOutcome(NamedTuple):
    """What became of a receipt: claimed, with the user's entitlements read after the claim was written;
    or pending (`entitlements` None): the store could not be reached, and a retry is queued. `restored`:
    the purchases a restore claimed and was refused."""

    entitlements: UserEntitlements | None = None
    restored: Restored | None = None

    @property
    def status(self) -> str:
        return "pending" if self.entitlements is None else "claimed"
