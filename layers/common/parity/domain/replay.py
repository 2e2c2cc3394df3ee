"""Replay: a purchase rebuilt from the steps its events recorded.

Every write of a purchase by an event records one `Step` on that event's log item: the normalized
update with the claimant as processing resolved it (the user a token or a customer names, merged ids
followed), and the strategy then in force; or an operator's manual association. What went into each
decision is in the step (no store to ask again, no lookup to repeat), so folding a purchase's steps in
the order of the versions they wrote gives the purchase again, exactly. `advance` is the transition the
processor applies; the fold uses the same one.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from enum import Enum
from typing import Any

from .errors import StaleEventError
from .model import Purchase, PurchaseUpdate
from .ownership import ClaimDecision, Strategy, assign, decide_claim
from .purchases import apply_update


@dataclass(frozen=True)
class Step:
    """One write of a purchase by an event, as recorded on the event."""

    purchase_id: str
    version: int  # the purchase version this step wrote: the order of the fold
    update: PurchaseUpdate | None = None
    claimant: str | None = None  # resolved: the user a token names, a merged id's user
    customer_owner: str | None = None  # resolved: the user the store customer is linked to
    strategy: Strategy | None = None
    linked_user: str | None = None  # resolved: the user verified store data names
    assigned_owner: str | None = None  # a manual association (no update)
    max_owners: int | None = None  # under ALL, the bound on sharing then in force (None: none)
    credited_to: str | None = None  # the user this step published a consumable's `purchase.completed` for
    # A purchase an operator action wrote whole (a manual grant, its revocation, the release of an
    # erased account's purchase): the fold takes it as it is.
    put: Purchase | None = None


def split_entries(entries: Iterable[Step | int]) -> tuple[tuple[Step, ...], int]:
    """A purchase's history as stored: the steps its events recorded, and how many of its events wrote
    it without recording one (each such event counts as an int entry; it cannot be rebuilt exactly)."""
    steps: list[Step] = []
    unrecorded = 0
    for entry in entries:
        if isinstance(entry, Step):
            steps.append(entry)
        else:
            unrecorded += entry
    return tuple(steps), unrecorded


def settle_owners(
    purchase: Purchase,
    claimant: str | None,
    customer_owner: str | None,
    strategy: Strategy,
    linked_user: str | None = None,
    id_only: bool = False,
    max_owners: int | None = None,
) -> tuple[Purchase, ClaimDecision | None]:
    """Who holds `purchase` after an update: the user verified store data names is recorded as its
    link; a claim is decided by the link, the strategy and (under ALL) the bound on sharing; with no
    claim, a purchase nobody holds goes to the linked customer's user."""
    if linked_user:
        purchase = replace(purchase, linked_user=linked_user)
    if claimant:
        decision = decide_claim(purchase, claimant, strategy, id_only, max_owners)
        return replace(purchase, owner_ids=decision.owner_ids), decision
    if not purchase.owner_ids and customer_owner:
        return replace(purchase, owner_ids=(customer_owner,)), None
    return purchase, None


def advance(current: Purchase | None, step: Step) -> Purchase | None:
    """The purchase after one recorded step (None: it taught nothing, as when it was processed)."""
    if step.put is not None:
        return replace(step.put, version=step.version)
    if step.assigned_owner is not None:
        return None if current is None else replace(assign(current, step.assigned_owner), version=step.version)
    if step.update is None:
        return None
    try:
        purchase = apply_update(current, step.update)
    except StaleEventError:
        if current is None or not step.update.payment_refs:
            return None
        purchase = current
    purchase, _ = settle_owners(
        purchase,
        step.claimant,
        step.customer_owner,
        step.strategy or Strategy.LAST,
        step.linked_user,
        step.update.id_only_claim,
        step.max_owners,
    )
    if step.credited_to is not None:
        purchase = replace(purchase, credited_to=step.credited_to)
    return replace(purchase, version=step.version)


def rebuild(steps: Iterable[Step], aliases: Mapping[str, str] | None = None) -> Purchase | None:
    """One purchase from its steps, in version order; owners merged into another user since are
    that user (a merge rewrites owners without an update of its own)."""
    purchase = None
    for step in sorted(steps, key=lambda s: s.version):
        purchase = advance(purchase, step) or purchase
    if purchase is not None and aliases:
        owners = tuple(dict.fromkeys(aliases.get(owner, owner) for owner in purchase.owner_ids))
        purchase = replace(purchase, owner_ids=owners)
    return purchase


# Bookkeeping: writes counted, the drift scan's last check, projections still to be written.
IGNORED = ("version", "checked_at", "pending_users")


def differences(stored: Purchase | None, rebuilt: Purchase | None) -> dict[str, tuple[Any, Any]]:
    """{field: (stored, rebuilt)} of the fields that differ; {} when the two are the same purchase."""
    if stored is None or rebuilt is None:
        return {} if stored is rebuilt else {"purchase": (stored is not None, rebuilt is not None)}
    return {
        f.name: (getattr(stored, f.name), getattr(rebuilt, f.name))
        for f in dataclasses.fields(Purchase)
        if f.name not in IGNORED and getattr(stored, f.name) != getattr(rebuilt, f.name)
    }


# -- the step as JSON (on the event's log item) -----------------------------------------------------


def encode(value: Any) -> Any:
    """A domain value as JSON-able data: dataclasses as objects (None fields left out), enums by value,
    times in ISO 8601, tuples as lists."""
    if dataclasses.is_dataclass(value):
        return {
            f.name: encode(getattr(value, f.name))
            for f in dataclasses.fields(value)
            if getattr(value, f.name) is not None
        }
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, tuple | list):
        return [encode(item) for item in value]
    return value


def decode(cls: Any, data: Any) -> Any:
    """The inverse of `encode`, driven by the type hints of `cls`."""
    if data is None:
        return None
    origin = typing.get_origin(cls)
    if origin in (types.UnionType, typing.Union):
        inner = [arg for arg in typing.get_args(cls) if arg is not type(None)]
        return decode(inner[0], data)
    if origin is tuple:
        return tuple(decode(typing.get_args(cls)[0], item) for item in data)
    if isinstance(cls, type) and dataclasses.is_dataclass(cls):
        hints = typing.get_type_hints(cls)
        fields = {}
        for f in dataclasses.fields(cls):
            if f.name in data:
                fields[f.name] = decode(hints[f.name], data[f.name])
            elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                fields[f.name] = None  # left out by `encode` because it was None
        return cls(**fields)
    if isinstance(cls, type) and issubclass(cls, Enum):
        return cls(data)
    if cls is datetime:
        return datetime.fromisoformat(data)
    return data
