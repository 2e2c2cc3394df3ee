"""`DynamoRepository`: every storage port on one table, for the composition root."""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING

from .accounts import DynamoAccounts
from .drift_store import DynamoDriftStore
from .event_log import DynamoEventLog
from .failures import DynamoFailureRecords
from .purchases import DynamoPurchases
from .replay_reads import DynamoReplayReader
from .table import DEFAULT_BODY_RETENTION, DEFAULT_RECHECK, Table

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient


class DynamoRepository(
    DynamoEventLog, DynamoPurchases, DynamoReplayReader, DynamoDriftStore, DynamoFailureRecords, DynamoAccounts
):
    """The event log, the repository, the drift store, the replay reader and the failure records on one
    table: what `bootstrap` builds once per container and hands to every service of it."""

    def __init__(
        self,
        table_name: str,
        client: DynamoDBClient | None = None,
        recheck: timedelta = DEFAULT_RECHECK,
        body_retention: timedelta = DEFAULT_BODY_RETENTION,
    ) -> None:
        """`client`: built when none is given. `recheck`: how long after its last check a purchase is
        due for the drift scan again. `body_retention`: how long raw event bodies are kept."""
        super().__init__(Table(table_name, client, recheck, body_retention))
