"""The apps a stack serves in the App Store, and the environments it accepts their signed data from.

A stack serves one app or several (`APPLE_BUNDLE_ID`, `APPLE_APP_APPLE_ID`: lists in the same order).
A Production stack accepts Production data and Sandbox data (App Review and TestFlight buy in Apple's
Sandbox against the production server, and Apple expects the server to handle it); a Sandbox stack
accepts Sandbox data only. Data of another app, or of an environment the stack does not accept, is
refused with the reason as its code (`wrong_bundle_id`, `wrong_app_apple_id`, `wrong_environment`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..domain.errors import ConfigurationError, RejectedWebhook

ENVIRONMENTS = ("Production", "Sandbox")
# What each stack environment accepts, its own first.
ACCEPTED = {"Production": ("Production", "Sandbox"), "Sandbox": ("Sandbox",)}


class RejectedSignedData(RejectedWebhook):
    """Apple signed data that does not verify; `code` and the message say why (both safe to return)."""


class AppleApps:
    """The configured apps (bundle id → app Apple id) and the environments their data may come from."""

    def __init__(
        self,
        bundle_ids: str | Sequence[str],
        environment: str,
        app_apple_ids: int | None | Sequence[int | None] = None,
    ) -> None:
        if environment not in ENVIRONMENTS:
            # Xcode / LocalTesting data is unsigned; accepting it would let anyone mint purchases.
            raise ConfigurationError(f"APPLE_ENVIRONMENT must be Production or Sandbox, not {environment!r}")
        bundles = (bundle_ids,) if isinstance(bundle_ids, str) else tuple(bundle_ids)
        bundles = tuple(bundle for bundle in bundles if bundle)
        if not bundles:
            raise ConfigurationError("APPLE_BUNDLE_ID is required to verify App Store data")
        if app_apple_ids is None or isinstance(app_apple_ids, int):
            ids: tuple[int | None, ...] = (app_apple_ids,) + (None,) * (len(bundles) - 1)
        else:
            ids = tuple(app_apple_ids)
        if len(ids) != len(bundles):
            raise ConfigurationError("APPLE_APP_APPLE_ID must name one app id per bundle id, in the same order")
        if len(set(bundles)) != len(bundles):
            raise ConfigurationError("APPLE_BUNDLE_ID names the same bundle id twice")
        if environment == "Production" and None in ids:
            raise ConfigurationError("APPLE_APP_APPLE_ID is required (one per app) when APPLE_ENVIRONMENT is Production")
        self.environment = environment
        self.accepted = ACCEPTED[environment]
        self.app_apple_ids = dict(zip(bundles, ids, strict=True))

    @property
    def bundle_ids(self) -> tuple[str, ...]:
        return tuple(self.app_apple_ids)

    def check_app(self, bundle_id: Any, app_apple_id: Any, environment: Any) -> None:
        """Signed data naming its app (a notification, an app transaction): a configured bundle id, its
        app Apple id (Production data: Sandbox data may carry none, the app need not be published yet),
        and an accepted environment."""
        if bundle_id not in self.app_apple_ids:
            raise RejectedSignedData("wrong_bundle_id", "The signed data is for another app than those configured.")
        self.check_environment(environment)
        if environment == "Production" and app_apple_id != self.app_apple_ids[bundle_id]:
            raise RejectedSignedData("wrong_app_apple_id", "The signed data is for another app.")

    def check_bundle(self, bundle_id: Any) -> None:
        """A transaction's bundle id: one of the configured apps."""
        if bundle_id not in self.app_apple_ids:
            raise RejectedSignedData("wrong_bundle_id", "The transaction is for another app than those configured.")

    def check_same_environment(self, environment: Any, *items: Any) -> None:
        """Signed items nested in one notification come from its environment (never a mix)."""
        for item in items:
            if item is not None and item.get("environment") != environment:
                raise RejectedSignedData("wrong_environment", "A signed item is from another environment than its notification.")

    def check_environment(self, environment: Any) -> None:
        if environment not in self.accepted:
            raise RejectedSignedData(
                "wrong_environment", f"The signed data is not from the {' or '.join(self.accepted)} environment."
            )
