"""Refunds and disputes the Stripe API lists → the facts their webhooks would have carried (pure).

The drift scan's catch-up (`services.stripe_catchup`) reads them when a `charge.refunded` or
`charge.dispute.*` webhook was lost. Each becomes the event Stripe would have sent, normalized by the
same code, so a refund seen by its webhook and by the catch-up has one revocation ref
(`refund:<charge>`, `dispute:<dispute>`): it revokes once, and is counted against the user once.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from .stripe import StripeFacts, normalize
from .stripe_objects import _id

# A dispute in these states is still open: it revokes, as `charge.dispute.created` does.
OPEN_DISPUTES = frozenset({"warning_needs_response", "warning_under_review", "needs_response", "under_review"})
_UNDONE_REFUNDS = frozenset({"failed", "canceled"})


def _event(event_id: str, event_type: str, created, obj: Mapping, now: datetime) -> dict:
    at = created if isinstance(created, int) and not isinstance(created, bool) else int(now.timestamp())
    return {"id": event_id, "type": event_type, "created": at, "data": {"object": obj}}


def refund_facts(refund: Mapping, now: datetime) -> StripeFacts | None:
    """A listed refund (its charge expanded) as `charge.refunded` says it, at the refund's time. None
    when it revokes nothing: a failed or canceled refund, a charge not fully refunded (partial refunds
    do not revoke), a charge Stripe did not expand."""
    charge, refund_id = refund.get("charge"), _id(refund)
    if refund_id is None or not isinstance(charge, Mapping) or refund.get("status") in _UNDONE_REFUNDS:
        return None
    facts = normalize(_event(f"stripe_refund:{refund_id}", "charge.refunded", refund.get("created"), charge, now))
    return facts if facts.revocation is not None else None


def dispute_facts(dispute: Mapping, now: datetime) -> StripeFacts | None:
    """A listed dispute as its webhook says it: an open one as `charge.dispute.created` (at its
    creation), a closed one as `charge.dispute.closed` as of `now` (a lost dispute revokes, a won one
    restores; a webhook of the same closing, told earlier, changes nothing after it). One event per
    dispute and status: a dispute seen again in the same status is not applied twice."""
    dispute_id, status = _id(dispute), dispute.get("status")
    if dispute_id is None or not isinstance(status, str) or not status.isidentifier():
        return None
    opened = status in OPEN_DISPUTES
    event_type = "charge.dispute.created" if opened else "charge.dispute.closed"
    created = dispute.get("created") if opened else int(now.timestamp())
    return normalize(_event(f"stripe_dispute:{dispute_id}:{status}", event_type, created, dispute, now))
