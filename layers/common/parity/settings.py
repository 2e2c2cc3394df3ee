"""Settings: one frozen object parsed from the environment once, at cold start.

Names are the contract's (`CONTRACT.md`). Each concern has its own section, parsed by its own function:
`aws` (the resources the template creates), `core` (entitlement rules), `redelivery` (queue retries),
`stripe`, `apple`, `google`, `signing` (the entitlement signing key), `cors`. A value that cannot work (not a number, out of bounds, a URL that is not
one) raises `ConfigurationError` naming its variable, so a bad configuration fails at cold start; an
empty value counts as unset (the template passes empty strings for parameters left blank).

On AWS, secret values live in one Secrets Manager secret (`SECRETS_ID`, a JSON object keyed by the same
names) and are fetched through Powertools parameters, cached; a value set directly in the environment
(the local stack) wins.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from datetime import timedelta
from pathlib import Path
from typing import NamedTuple, TypeVar
from urllib.parse import urlsplit

from .domain.catalog import Catalog
from .domain.errors import ConfigurationError  # noqa: F401 (raised here; imported from here by callers)
from .domain.ownership import Strategy
from .domain.redelivery import RetrySchedule

MAX_BODY_BYTES = 1024 * 1024  # the contract's 1 MiB request limit
DEFAULT_MAX_SHARED_OWNERS = 10
DEFAULT_PLAY_CHECKS_PER_DAY = 200_000  # the Play Developer API's default quota (queries a day)
DEFAULT_STRIPE_GRACE = timedelta(days=3)  # the contract's STRIPE_GRACE_SECONDS default, 259200
# A takeover or a manual association writes an audit line per owner it removes, with the purchase, in
# one transaction (100 items): the bound keeps those lines and the purchase's own items within it.
MAX_SHARED_OWNERS_LIMIT = 80
SECRET_CACHE_SECONDS = 300
# An event whose purchase is still unknown at this receive (53 to 64 minutes after the first, on the
# outage schedule) is parked as unresolved by the event processor.
DEFAULT_UNRESOLVED_AFTER_RECEIVES = 8

_Default = TypeVar("_Default", int, None)

# The sections below are immutable records built once per container: named tuples, because a dataclass
# generates and compiles its methods when its module is imported (about 3.5 M instructions each, 0.4 % of
# a function's cold-start baseline, against 1 M for a named tuple; docs/BENCHMARKS.md).


class Secret(NamedTuple):
    """A secret value, read from the environment or (on AWS) from Secrets Manager when first needed."""

    name: str
    value: str | None = None
    secret_id: str | None = None

    def __repr__(self) -> str:  # never the value
        return f"Secret(name={self.name!r}, secret_id={self.secret_id!r})"

    def get(self) -> str | None:
        if self.value:
            return self.value
        if not self.secret_id:
            return None
        from aws_lambda_powertools.utilities import parameters

        document = parameters.get_secret(self.secret_id, transform="json", max_age=SECRET_CACHE_SECONDS)
        return (document or {}).get(self.name) or None


# --------------------------------------------------------------------------------------- sections


def _required(value: str | None, variable: str) -> str:
    if not value:
        raise ConfigurationError(f"{variable} is not set")
    return value


class AwsSettings(NamedTuple):
    """The AWS resources the template creates and names in the environment."""

    table_name: str
    event_bus_name: str | None
    events_queue_url: str | None
    reconcile_queue_url: str | None  # the drift scan's fan-out queue
    events_dlq_url: str | None = None  # the dead-letter queues the admin routes show, redrive and purge
    reconcile_dlq_url: str | None = None
    drift_shard_queue_url: str | None = None  # one message per due-index shard (the scan's own fan-out)

    def event_bus(self) -> str:
        """The change-event bus, for the services that publish: ConfigurationError when unset."""
        return _required(self.event_bus_name, "EVENT_BUS_NAME")

    def events_queue(self) -> str:
        """The store-events queue's URL, for the services that use it: ConfigurationError when unset."""
        return _required(self.events_queue_url, "EVENTS_QUEUE_URL")

    def reconcile_queue(self) -> str:
        """The reconcile queue's URL, for the drift scan and its worker: ConfigurationError when unset."""
        return _required(self.reconcile_queue_url, "RECONCILE_QUEUE_URL")


class CoreSettings(NamedTuple):
    """What decides entitlements, whatever the store."""

    catalog: Catalog
    strategy: Strategy
    offline_grace: timedelta
    refund_threshold: int  # refunds and chargebacks per user before a review flag
    max_shared_owners: int  # under ALL, the most users one purchase is shared with
    drift_recheck: timedelta  # every purchase is checked with its store this often
    event_retention: timedelta = timedelta(days=90)  # how long raw event bodies are kept (EVENT_RETENTION_DAYS)
    play_checks_per_day: int = DEFAULT_PLAY_CHECKS_PER_DAY  # the drift scan's Play checks a day (quota)


class RedeliverySettings(NamedTuple):
    """When a failed queue message is delivered again, and when it is given up on."""

    schedule: RetrySchedule
    max_receive_count: int | None  # the queues' maxReceiveCount (template.yaml); None: not passed
    unresolved_after_receives: int  # the receive at which an event still unresolved is parked


class StripeSettings(NamedTuple):
    webhook_secret: Secret
    api_key: Secret
    api_base: str | None
    grace: timedelta = DEFAULT_STRIPE_GRACE  # access kept after a failed renewal payment


class AppleSettings(NamedTuple):
    bundle_ids: tuple[str, ...]  # APPLE_BUNDLE_ID: one app, or several comma-separated
    app_apple_ids: tuple[int | None, ...]  # APPLE_APP_APPLE_ID: in the order of the bundle ids
    environment: str  # Production (which accepts Sandbox data too) or Sandbox
    root_certs: tuple[str, ...]
    api_base: str | None
    key_id: str | None
    issuer_id: str | None
    private_key_file: str | None
    private_key: Secret  # the `.p8` key's PEM text, on AWS
    sandbox_api_base: str | None = None  # APPLE_SANDBOX_API_BASE: the Server API of Sandbox transactions

    @property
    def bundle_id(self) -> str | None:
        """The first app's bundle id (None: no app configured)."""
        return self.bundle_ids[0] if self.bundle_ids else None

    @property
    def app_apple_id(self) -> int | None:
        """The first app's Apple id."""
        return self.app_apple_ids[0] if self.app_apple_ids else None

    @property
    def api_named(self) -> bool:
        """Some App Store Server API credential is named (then all must be: `AppStoreApiClient.from_settings`)."""
        return bool(self.key_id or self.issuer_id or self.private_key_file)


class GoogleSettings(NamedTuple):
    package_names: tuple[str, ...]  # GOOGLE_PACKAGE_NAME: one app, or several comma-separated
    pubsub_audience: str | None
    pubsub_service_account: str | None
    oidc_certs_url: str | None  # None: Google's (https://www.googleapis.com/oauth2/v1/certs)
    api_base: str | None
    service_account_file: str | None
    service_account: Secret  # the key file's JSON text, on AWS

    @property
    def package_name(self) -> str | None:
        """The first app's package name (None: no app configured)."""
        return self.package_names[0] if self.package_names else None


class SigningSettings(NamedTuple):
    """Where the key that signs `signedEntitlements` comes from: a PEM file (ENTITLEMENT_SIGNING_KEY_FILE),
    else, on AWS, a Secrets Manager secret of its own (ENTITLEMENT_SIGNING_KEY_SECRET, set by the template)."""

    key_file: str | None
    secret_id: str | None


class CorsSettings(NamedTuple):
    """CORS_ALLOW_ORIGINS: the origins browsers may call the app routes from (API Gateway's CORS on AWS)."""

    allow_origins: tuple[str, ...] = ()


class Settings(NamedTuple):
    aws: AwsSettings
    core: CoreSettings
    redelivery: RedeliverySettings
    stripe: StripeSettings
    apple: AppleSettings
    google: GoogleSettings
    signing: SigningSettings = SigningSettings(None, None)
    cors: CorsSettings = CorsSettings()

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Every section, parsed from `environ` (default: the process environment)."""
        env = _Environment(os.environ if environ is None else environ)
        return cls(
            aws=_aws(env),
            core=_core(env),
            redelivery=_redelivery(env),
            stripe=_stripe(env),
            apple=_apple(env),
            google=_google(env),
            signing=SigningSettings(env.text("ENTITLEMENT_SIGNING_KEY_FILE"), env.text("ENTITLEMENT_SIGNING_KEY_SECRET")),
            cors=_cors(env),
        )


# ---------------------------------------------------------------------------------------- parsing


class _Environment:
    """Typed reads of environment variables; each failure is a ConfigurationError naming the variable."""

    def __init__(self, values: Mapping[str, str]) -> None:
        self._values = values
        self._secret_id = values.get("SECRETS_ID") or None

    def text(self, name: str) -> str | None:
        return self._values.get(name) or None

    def secret(self, name: str) -> Secret:
        return Secret(name, self.text(name), self._secret_id)

    def url(self, name: str) -> str | None:
        """An absolute http(s) URL, without a trailing slash."""
        value = (self.text(name) or "").rstrip("/") or None
        if value is not None:
            parts = urlsplit(value)
            if parts.scheme not in ("http", "https") or not parts.netloc:
                raise ConfigurationError(f"{name} must be an http(s) URL, not {value!r}")
        return value

    def whole(self, name: str, default: _Default, what: str) -> int | _Default:
        """A whole number, or `default` when unset; `what` says what the value must be."""
        value = self.text(name)
        if value is None:
            return default
        try:
            return int(value)
        except ValueError:
            raise ConfigurationError(f"{name} must be {what}") from None

    def names(self, name: str) -> tuple[str, ...]:
        """A comma-separated list of names (blanks around them dropped); () when unset."""
        return tuple(part.strip() for part in (self.text(name) or "").split(",") if part.strip())

    def duration(self, name: str, default: timedelta) -> timedelta:
        """A whole, non-negative number of seconds, or `default` when unset."""
        seconds = self.whole(name, None, "a whole number of seconds")
        if seconds is None:
            return default
        if seconds < 0:
            raise ConfigurationError(f"{name} must not be negative")
        return timedelta(seconds=seconds)


def _aws(env: _Environment) -> AwsSettings:
    return AwsSettings(
        table_name=env.text("TABLE_NAME") or "parity",
        event_bus_name=env.text("EVENT_BUS_NAME"),
        events_queue_url=env.url("EVENTS_QUEUE_URL"),
        reconcile_queue_url=env.url("RECONCILE_QUEUE_URL"),
        events_dlq_url=env.url("EVENTS_DLQ_URL"),
        reconcile_dlq_url=env.url("RECONCILE_DLQ_URL"),
        drift_shard_queue_url=env.url("DRIFT_SHARD_QUEUE_URL"),
    )


def _core(env: _Environment) -> CoreSettings:
    try:
        strategy = Strategy((env.text("ENTITLEMENT_STRATEGY") or "LAST").upper())
    except ValueError:
        raise ConfigurationError("ENTITLEMENT_STRATEGY must be ALL, FIRST or LAST") from None
    refund_threshold = env.whole("REFUND_ABUSE_THRESHOLD", 3, "a whole number")
    if refund_threshold < 1:
        raise ConfigurationError("REFUND_ABUSE_THRESHOLD must be at least 1")
    max_shared_owners = env.whole("MAX_SHARED_OWNERS", DEFAULT_MAX_SHARED_OWNERS, "a whole number of users")
    if not 1 <= max_shared_owners <= MAX_SHARED_OWNERS_LIMIT:
        raise ConfigurationError(f"MAX_SHARED_OWNERS must be between 1 and {MAX_SHARED_OWNERS_LIMIT}")
    try:
        recheck_days = float(env.text("DRIFT_RECHECK_DAYS") or 7)
    except ValueError:
        raise ConfigurationError("DRIFT_RECHECK_DAYS must be a number of days") from None
    if recheck_days <= 0:
        raise ConfigurationError("DRIFT_RECHECK_DAYS must be positive")
    retention_days = env.whole("EVENT_RETENTION_DAYS", 90, "a whole number of days")
    if not 1 <= retention_days <= 3650:
        raise ConfigurationError("EVENT_RETENTION_DAYS must be between 1 and 3650")
    play_per_day = env.whole("DRIFT_PLAY_CHECKS_PER_DAY", DEFAULT_PLAY_CHECKS_PER_DAY, "a whole number of checks")
    if play_per_day < 0:
        raise ConfigurationError("DRIFT_PLAY_CHECKS_PER_DAY must not be negative")
    return CoreSettings(
        catalog=_catalog(env.text("CATALOG_FILE")),
        strategy=strategy,
        offline_grace=env.duration("OFFLINE_GRACE_SECONDS", timedelta(days=1)),
        refund_threshold=refund_threshold,
        max_shared_owners=max_shared_owners,
        drift_recheck=timedelta(days=recheck_days),
        event_retention=timedelta(days=retention_days),
        play_checks_per_day=play_per_day,
    )


def _catalog(path: str | None) -> Catalog:
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


def _retry_schedule(env: _Environment) -> RetrySchedule:
    values = {attribute: env.whole(name, None, "a whole number of seconds") for name, attribute in _RETRY_VARIABLES.items()}
    try:
        return RetrySchedule(**{attribute: value for attribute, value in values.items() if value is not None})
    except ValueError as error:
        text = str(error)
        for name, attribute in _RETRY_VARIABLES.items():
            text = text.replace(attribute, name)
        raise ConfigurationError(text) from None


def _redelivery(env: _Environment) -> RedeliverySettings:
    max_receives = env.whole("MAX_RECEIVE_COUNT", None, "a whole number of receives")
    unresolved_after = env.whole("UNRESOLVED_AFTER_RECEIVES", DEFAULT_UNRESOLVED_AFTER_RECEIVES, "a whole number of receives")
    if max_receives is not None and max_receives < 1:
        raise ConfigurationError("MAX_RECEIVE_COUNT must be at least 1")
    if unresolved_after < 1:
        raise ConfigurationError("UNRESOLVED_AFTER_RECEIVES must be at least 1")
    if max_receives is not None and unresolved_after > max_receives:
        # Parked at a later receive than the last one, an unresolved event would be dead-lettered instead.
        raise ConfigurationError(f"UNRESOLVED_AFTER_RECEIVES must not exceed MAX_RECEIVE_COUNT ({max_receives})")
    return RedeliverySettings(_retry_schedule(env), max_receives, unresolved_after)


def _stripe(env: _Environment) -> StripeSettings:
    return StripeSettings(
        webhook_secret=env.secret("STRIPE_WEBHOOK_SECRET"),
        api_key=env.secret("STRIPE_API_KEY"),
        api_base=env.url("STRIPE_API_BASE"),
        grace=env.duration("STRIPE_GRACE_SECONDS", DEFAULT_STRIPE_GRACE),
    )


def _apple(env: _Environment) -> AppleSettings:
    # Xcode / LocalTesting data is unsigned: those environments cannot be configured at all.
    environment = {"production": "Production", "sandbox": "Sandbox"}.get(
        (env.text("APPLE_ENVIRONMENT") or "Production").strip().lower()
    )
    if environment is None:
        raise ConfigurationError("APPLE_ENVIRONMENT must be Production or Sandbox")
    bundle_ids = env.names("APPLE_BUNDLE_ID")
    app_apple_ids = _app_apple_ids(env, len(bundle_ids))
    return AppleSettings(
        bundle_ids=bundle_ids,
        app_apple_ids=app_apple_ids,
        environment=environment,
        root_certs=env.names("APPLE_ROOT_CERTS"),
        api_base=env.url("APPLE_API_BASE"),
        sandbox_api_base=env.url("APPLE_SANDBOX_API_BASE"),
        key_id=env.text("APPLE_KEY_ID"),
        issuer_id=env.text("APPLE_ISSUER_ID"),
        private_key_file=env.text("APPLE_PRIVATE_KEY_FILE"),
        private_key=env.secret("APPLE_PRIVATE_KEY"),
    )


def _app_apple_ids(env: _Environment, apps: int) -> tuple[int | None, ...]:
    """APPLE_APP_APPLE_ID: the apps' numeric Apple ids, in the order of APPLE_BUNDLE_ID's bundle ids
    (unset: none; a Sandbox-only app need not be published yet)."""
    texts = env.names("APPLE_APP_APPLE_ID")
    if not texts:
        return (None,) * apps
    if len(texts) != apps:
        raise ConfigurationError(
            f"APPLE_APP_APPLE_ID names {len(texts)} app ids for the {apps} bundle ids of APPLE_BUNDLE_ID "
            "(list them in the same order)"
        )
    try:
        return tuple(int(text) for text in texts)
    except ValueError:
        raise ConfigurationError("APPLE_APP_APPLE_ID must be the apps' numeric Apple ids") from None


def _google(env: _Environment) -> GoogleSettings:
    return GoogleSettings(
        package_names=env.names("GOOGLE_PACKAGE_NAME"),
        pubsub_audience=env.text("GOOGLE_PUBSUB_AUDIENCE"),
        pubsub_service_account=env.text("GOOGLE_PUBSUB_SERVICE_ACCOUNT"),
        oidc_certs_url=env.url("GOOGLE_OIDC_CERTS_URL"),
        api_base=env.url("GOOGLE_API_BASE"),
        service_account_file=env.text("GOOGLE_SERVICE_ACCOUNT_FILE"),
        service_account=env.secret("GOOGLE_SERVICE_ACCOUNT"),
    )


def _cors(env: _Environment) -> CorsSettings:
    return CorsSettings(cors_origins(env.text("CORS_ALLOW_ORIGINS")))


def cors_origins(value: str | None) -> tuple[str, ...]:
    """CORS_ALLOW_ORIGINS: comma-separated origins (`https://app.example.com`, or `*`), without a path."""
    origins = tuple(o.strip().rstrip("/") for o in (value or "").split(",") if o.strip())
    for origin in origins:
        parts = urlsplit(origin)
        if origin != "*" and (parts.scheme not in ("http", "https") or not parts.netloc or parts.path or parts.query):
            raise ConfigurationError(f"CORS_ALLOW_ORIGINS must list origins such as https://app.example.com, not {origin!r}")
    return origins
