"""Settings: one frozen object parsed from the environment once, at cold start.

Names are the contract's (`CONTRACT.md`). On AWS, secret values live in one Secrets Manager secret
(`SECRETS_ID`, a JSON object keyed by the same names) and are fetched through Powertools parameters,
cached; a value set directly in the environment (the local stack) wins.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

from .domain.entitlements import Catalog
from .domain.errors import ConfigurationError  # noqa: F401 (raised here; imported from here by callers)
from .domain.ownership import Strategy
from .domain.redelivery import RetrySchedule

MAX_BODY_BYTES = 1024 * 1024  # the contract's 1 MiB request limit
DEFAULT_MAX_SHARED_OWNERS = 10
# A takeover or a manual association writes an audit line per owner it removes, with the purchase, in
# one transaction (100 items): the bound keeps those lines and the purchase's own items within it.
MAX_SHARED_OWNERS_LIMIT = 80
SECRET_CACHE_SECONDS = 300


@dataclass(frozen=True)
class Secret:
    """A secret value, read from the environment or (on AWS) from Secrets Manager when first needed."""

    name: str
    value: str | None = field(default=None, repr=False)
    secret_id: str | None = None

    def get(self) -> str | None:
        if self.value:
            return self.value
        if not self.secret_id:
            return None
        from aws_lambda_powertools.utilities import parameters

        document = parameters.get_secret(self.secret_id, transform="json", max_age=SECRET_CACHE_SECONDS)
        return (document or {}).get(self.name) or None


def _load_catalog(path: str | None) -> Catalog:
    if not path:
        return Catalog({})
    try:
        return Catalog.from_document(json.loads(Path(path).read_text()))
    except (OSError, ValueError) as error:
        raise ConfigurationError(f"CATALOG_FILE {path!r} is not a usable catalog: {error}") from error


_RETRY_VARIABLES = {
    "RETRY_OUTAGE_BASE_SECONDS": "outage_base",
    "RETRY_OUTAGE_MAX_SECONDS": "outage_ceiling",
    "RETRY_ERROR_BASE_SECONDS": "error_base",
    "RETRY_ERROR_MAX_SECONDS": "error_ceiling",
}


def _retry_schedule(env: Mapping[str, str]) -> RetrySchedule:
    values = {}
    for name, attribute in _RETRY_VARIABLES.items():
        if env.get(name):
            try:
                values[attribute] = int(env[name])
            except ValueError:
                raise ConfigurationError(f"{name} must be a whole number of seconds") from None
    try:
        return RetrySchedule(**values)
    except ValueError as error:
        names = {attribute: name for name, attribute in _RETRY_VARIABLES.items()}
        text = str(error)
        for attribute, name in names.items():
            text = text.replace(attribute, name)
        raise ConfigurationError(text) from None


@dataclass(frozen=True)
class Settings:
    table_name: str
    events_queue_url: str | None
    event_bus_name: str | None
    catalog: Catalog
    strategy: Strategy
    offline_grace: timedelta
    stripe_webhook_secret: Secret
    stripe_api_key: Secret
    stripe_api_base: str | None
    refund_threshold: int = 3  # refunds and chargebacks per user before a review flag
    max_shared_owners: int = DEFAULT_MAX_SHARED_OWNERS  # under ALL, the most users one purchase is shared with
    reconcile_queue_url: str | None = None  # the drift scan's fan-out queue
    drift_recheck: timedelta = timedelta(days=7)  # every purchase is checked with its store this often
    # App Store (issue 3). Defaults keep Settings(...) built without them valid.
    apple_bundle_id: str | None = None
    apple_app_apple_id: int | None = None
    apple_environment: str = "Production"
    apple_root_certs: tuple[str, ...] = ()
    apple_api_base: str | None = None
    apple_key_id: str | None = None
    apple_issuer_id: str | None = None
    apple_private_key_file: str | None = None
    apple_private_key: Secret = field(default_factory=lambda: Secret("APPLE_PRIVATE_KEY"))  # PEM, on AWS
    google_service_account: Secret = field(default_factory=lambda: Secret("GOOGLE_SERVICE_ACCOUNT"))  # JSON, on AWS
    # Google Play (issue 4).
    google_package_name: str | None = None
    google_pubsub_audience: str | None = None
    google_pubsub_service_account: str | None = None
    google_oidc_certs_url: str | None = None  # None: Google's (https://www.googleapis.com/oauth2/v1/certs)
    google_api_base: str | None = None
    google_service_account_file: str | None = None
    # Queue consumers: when a failed message is delivered again (store outage / any other failure).
    retry_schedule: RetrySchedule = field(default_factory=RetrySchedule)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        secret_id = env.get("SECRETS_ID") or None

        def secret(name: str) -> Secret:
            return Secret(name, env.get(name) or None, secret_id)

        try:
            strategy = Strategy(env.get("ENTITLEMENT_STRATEGY", "LAST").upper())
        except ValueError:
            raise ConfigurationError("ENTITLEMENT_STRATEGY must be ALL, FIRST or LAST") from None
        try:
            grace = int(env.get("OFFLINE_GRACE_SECONDS", "86400"))
        except ValueError:
            raise ConfigurationError("OFFLINE_GRACE_SECONDS must be a whole number of seconds") from None
        if grace < 0:
            raise ConfigurationError("OFFLINE_GRACE_SECONDS must not be negative")
        try:
            refund_threshold = int(env.get("REFUND_ABUSE_THRESHOLD", "3"))
        except ValueError:
            raise ConfigurationError("REFUND_ABUSE_THRESHOLD must be a whole number") from None
        if refund_threshold < 1:
            raise ConfigurationError("REFUND_ABUSE_THRESHOLD must be at least 1")
        try:
            max_shared_owners = int(env.get("MAX_SHARED_OWNERS") or DEFAULT_MAX_SHARED_OWNERS)
        except ValueError:
            raise ConfigurationError("MAX_SHARED_OWNERS must be a whole number of users") from None
        if not 1 <= max_shared_owners <= MAX_SHARED_OWNERS_LIMIT:
            raise ConfigurationError(f"MAX_SHARED_OWNERS must be between 1 and {MAX_SHARED_OWNERS_LIMIT}")
        try:
            recheck_days = float(env.get("DRIFT_RECHECK_DAYS", "7"))
        except ValueError:
            raise ConfigurationError("DRIFT_RECHECK_DAYS must be a number of days") from None
        if recheck_days <= 0:
            raise ConfigurationError("DRIFT_RECHECK_DAYS must be positive")
        # Xcode / LocalTesting data is unsigned: those environments cannot be configured at all.
        apple_environment = {"production": "Production", "sandbox": "Sandbox"}.get(
            (env.get("APPLE_ENVIRONMENT") or "Production").strip().lower()
        )
        if apple_environment is None:
            raise ConfigurationError("APPLE_ENVIRONMENT must be Production or Sandbox")
        try:
            apple_app_apple_id = int(env["APPLE_APP_APPLE_ID"]) if env.get("APPLE_APP_APPLE_ID") else None
        except ValueError:
            raise ConfigurationError("APPLE_APP_APPLE_ID must be the app's numeric Apple id") from None
        return cls(
            table_name=env.get("TABLE_NAME", "parity"),
            retry_schedule=_retry_schedule(env),
            events_queue_url=env.get("EVENTS_QUEUE_URL") or None,
            event_bus_name=env.get("EVENT_BUS_NAME") or None,
            catalog=_load_catalog(env.get("CATALOG_FILE")),
            strategy=strategy,
            offline_grace=timedelta(seconds=grace),
            stripe_webhook_secret=secret("STRIPE_WEBHOOK_SECRET"),
            stripe_api_key=secret("STRIPE_API_KEY"),
            stripe_api_base=(env.get("STRIPE_API_BASE") or "").rstrip("/") or None,
            refund_threshold=refund_threshold,
            max_shared_owners=max_shared_owners,
            reconcile_queue_url=env.get("RECONCILE_QUEUE_URL") or None,
            drift_recheck=timedelta(days=recheck_days),
            apple_bundle_id=env.get("APPLE_BUNDLE_ID") or None,
            apple_app_apple_id=apple_app_apple_id,
            apple_environment=apple_environment,
            apple_root_certs=tuple(p.strip() for p in env.get("APPLE_ROOT_CERTS", "").split(",") if p.strip()),
            apple_api_base=(env.get("APPLE_API_BASE") or "").rstrip("/") or None,
            apple_key_id=env.get("APPLE_KEY_ID") or None,
            apple_issuer_id=env.get("APPLE_ISSUER_ID") or None,
            apple_private_key_file=env.get("APPLE_PRIVATE_KEY_FILE") or None,
            apple_private_key=secret("APPLE_PRIVATE_KEY"),
            google_service_account=secret("GOOGLE_SERVICE_ACCOUNT"),
            google_package_name=env.get("GOOGLE_PACKAGE_NAME") or None,
            google_pubsub_audience=env.get("GOOGLE_PUBSUB_AUDIENCE") or None,
            google_pubsub_service_account=env.get("GOOGLE_PUBSUB_SERVICE_ACCOUNT") or None,
            google_oidc_certs_url=(env.get("GOOGLE_OIDC_CERTS_URL") or "").rstrip("/") or None,
            google_api_base=(env.get("GOOGLE_API_BASE") or "").rstrip("/") or None,
            google_service_account_file=env.get("GOOGLE_SERVICE_ACCOUNT_FILE") or None,
        )
