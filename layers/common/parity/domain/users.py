"""A user as the repository returns it: the profile, the purchases they hold, the last projection."""

from __future__ import annotations

from dataclasses import dataclass, field

from .entitlements import Entitlement
from .model import Purchase


@dataclass(frozen=True)
class UserState:
    user_id: str
    app_account_token: str | None = None
    version: int = 0  # 0: no profile stored yet
    purchases: tuple[Purchase, ...] = ()
    entitlements: dict[str, Entitlement] = field(default_factory=dict)  # as last written (and published)

    @property
    def exists(self) -> bool:
        return self.version > 0
