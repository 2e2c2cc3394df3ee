"""What `parity replay` reads (`parity.ports.ReplayReader`): the steps the events recorded, beside the
purchases and users as stored."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ...domain.model import Purchase
from ...domain.replay import Step, split_entries
from ...ports import ReplayInput
from .codecs import item_to_purchase, item_to_replay_entry, items_to_user
from .schema import EVENT_PREFIX, GSI1, PURCHASE, PURCHASE_PREFIX, USER_PREFIX, history_pk
from .table import OnTable, load_item


class DynamoReplayReader(OnTable):
    """Replay reads on the table: one purchase's history (GSI1), or everything in one Scan."""

    def replay_steps(self, purchase_id: str) -> tuple[tuple[Step, ...], int]:
        """The steps the purchase's events recorded (GSI1, every page), and how many of its events wrote
        it without recording one (stored before steps were recorded: it cannot be rebuilt exactly)."""
        pages = self._table.pages(
            IndexName=GSI1,
            KeyConditionExpression="GSI1PK = :pk",
            ExpressionAttributeValues={":pk": {"S": history_pk(purchase_id)}},
            ProjectionExpression="replayStep, outcome, eventType",
        )
        return split_entries(item_to_replay_entry(load_item(item)) for page in pages for item in page)

    def replay_input(self, progress: Callable[[int], None] | None = None) -> ReplayInput:
        """Everything a replay of every purchase reads, in one pass over the table (Scan, paged):
        each purchase's steps, the purchases and the users as stored. `progress(items)` after each page."""
        steps: dict[str, list[Step]] = {}
        unrecorded: dict[str, int] = {}
        purchases: dict[str, Purchase] = {}
        partitions: dict[str, list[dict[str, Any]]] = {}
        seen = 0
        for page in self._table.pages("scan"):
            for item in map(load_item, page):
                pk = item["PK"]
                if pk.startswith(EVENT_PREFIX):
                    entry = item_to_replay_entry(item)
                    if isinstance(entry, Step):
                        steps.setdefault(entry.purchase_id, []).append(entry)
                    elif entry and item.get("purchaseId"):
                        unrecorded[item["purchaseId"]] = unrecorded.get(item["purchaseId"], 0) + 1
                elif pk.startswith(PURCHASE_PREFIX) and item["SK"] == PURCHASE:
                    purchase = item_to_purchase(item)
                    purchases[purchase.purchase_id] = purchase
                elif pk.startswith(USER_PREFIX):
                    partitions.setdefault(pk.removeprefix(USER_PREFIX), []).append(item)
            seen += len(page)
            if progress:
                progress(seen)
        users = {uid: items_to_user(uid, items) for uid, items in partitions.items()}
        return ReplayInput({pid: tuple(s) for pid, s in steps.items()}, unrecorded, purchases, users)
