"""Reading a user's entitlements: one Query, then pure computation."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import TYPE_CHECKING

from ..domain.catalog import Catalog
from ..domain.entitlements import cache_until, entitlements_with_history
from ..results import UserEntitlements

if TYPE_CHECKING:
    from ..ports import Clock, Users


class EntitlementReader:
    def __init__(self, repository: Users, catalog: Catalog, offline_grace: timedelta, clock: Clock) -> None:
        self._repo = repository
        self._catalog = catalog
        self._grace = offline_grace
        self._clock = clock

    def read(self, user_id: str) -> UserEntitlements:
        """The user's entitlements now. A user seen for the first time is issued an appAccountToken; a
        user id merged into another reads the merged user (a second Query, for aliases only)."""
        now = self._clock.now()
        user = self._repo.load_user(user_id)
        if user.merged_into:
            user = self._repo.load_user(user.merged_into)
            user_id = user.user_id
        if not user.exists:
            user = self._repo.create_profile(user_id, str(uuid.uuid4()))
        entitlements = entitlements_with_history(user.purchases, user.entitlements, self._catalog, now)
        return UserEntitlements(
            user_id,
            user.app_account_token,
            entitlements,
            user.purchases,
            self._catalog,
            now,
            cache_until(entitlements.values(), now, self._grace),
        )
