"""Who may use a purchase: the ALL / FIRST / LAST strategies and manual association."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from .model import Purchase


class Strategy(str, Enum):
    ALL = "ALL"  # every claimant gets access
    FIRST = "FIRST"  # the first claimant keeps it; later claims are refused
    LAST = "LAST"  # the latest claimant takes it over


@dataclass(frozen=True)
class ClaimDecision:
    owner_ids: tuple[str, ...]
    accepted: bool

    @property
    def refused(self) -> bool:
        return not self.accepted


def decide_claim(purchase: Purchase, claimant: str, strategy: Strategy) -> ClaimDecision:
    """The owners of `purchase` after `claimant` claims it.

    A manual association outranks every claim: only the manually chosen owner's claims are accepted.
    """
    owners = purchase.owner_ids
    if claimant in owners:
        return ClaimDecision(owners, accepted=True)
    if not owners:
        return ClaimDecision((claimant,), accepted=True)
    if purchase.manual_owner or strategy is Strategy.FIRST:
        return ClaimDecision(owners, accepted=False)
    if strategy is Strategy.ALL:
        return ClaimDecision((*owners, claimant), accepted=True)
    return ClaimDecision((claimant,), accepted=True)
