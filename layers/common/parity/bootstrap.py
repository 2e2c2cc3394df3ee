"""Wiring: adapters are built once per container from the settings and handed to the services.

The one composition root: the functions, the local stack and the operator console all build their
services here. A missing resource a service needs (a queue, the bus) is a ConfigurationError raised
while building it, i.e. at cold start.

What only some requests of a function use (the App Store verifier, a queue written to when something
fails, the Stripe SDK, ...) is built at its first use (`parity.lazy.at_first_use`): its settings are
checked here all the same, so that a bad configuration still fails the cold start.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

from .lazy import at_first_use
from .settings import Settings

AwsClients = Callable[[str], Any]
"""A boto3 client by service name ("dynamodb", "sqs", "events"). The functions pass none: each adapter
makes boto3's default client. The console passes its own, aimed at the stack it resolved."""


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(timezone.utc)


def _client(clients: AwsClients | None, service: str) -> Any:
    return clients(service) if clients else None


def _queue(queue_url: str, clients: AwsClients | None = None, lazy: bool = False):
    """`lazy`: the SQS client is made at the first message (a queue written to only when something fails)."""
    from .adapters.sqs import SqsQueue

    if lazy:
        return at_first_use(lambda: SqsQueue(queue_url, client=_client(clients, "sqs")))
    return SqsQueue(queue_url, client=_client(clients, "sqs"))


def repository(settings: Settings, clients: AwsClients | None = None):
    from .adapters.dynamodb.repository import DynamoRepository

    return DynamoRepository(
        settings.aws.table_name,
        client=_client(clients, "dynamodb"),
        recheck=settings.core.drift_recheck,
        body_retention=settings.core.event_retention,
    )


def change_publisher(settings: Settings, clients: AwsClients | None = None, lazy: bool = False):
    """`lazy`: the EventBridge client is made at the first change (a function where most requests change nothing)."""
    from .adapters.eventbridge import EventBridgePublisher

    bus = settings.aws.event_bus()
    if lazy:
        return at_first_use(lambda: EventBridgePublisher(bus, client=_client(clients, "events")))
    return EventBridgePublisher(bus, client=_client(clients, "events"))


def reconcile_queue(settings: Settings, clients: AwsClients | None = None):
    """The drift scan's fan-out queue (the console queues checks of chosen purchases on it too)."""
    return _queue(settings.aws.reconcile_queue(), clients)


def event_log(settings: Settings, clients: AwsClients | None = None):
    """The event log part of the table alone: all a webhook's intake needs."""
    from .adapters.dynamodb.event_log import DynamoEventLog

    return DynamoEventLog(_table(settings, clients))


def event_intake(settings: Settings, repo=None, clients: AwsClients | None = None):
    from .services.ingest import EventIntake

    log = repo or event_log(settings, clients)
    return EventIntake(log, _queue(settings.aws.events_queue(), clients), SystemClock())


def stripe_ingest(settings: Settings):
    from .services.ingest import StripeIngest

    return StripeIngest(event_intake(settings), settings.stripe.webhook_secret, SystemClock())


def apple_verifier(settings: Settings, lazy: bool = False):
    """The App Store verifier, or why there is none (configuration missing: Apple data is refused).

    `lazy`: the settings are checked now, the trusted roots parsed (`cryptography.x509` imported) at the
    first App Store item; a root file that only looked like a certificate refuses that item, and the
    next ones, as NotConfigured (what a missing configuration answers)."""
    from .settings import ConfigurationError

    try:
        if not lazy:
            from .webhooks.apple import SignedDataVerifier

            return SignedDataVerifier.from_settings(settings), ""
        from .webhooks.apple_roots import check_settings

        check_settings(settings)
    except ConfigurationError as error:
        _apple_refused(error)
        return None, str(error)
    return at_first_use(lambda: _apple_verifier_now(settings)), ""


def _apple_verifier_now(settings: Settings):
    from .domain.errors import NotConfigured
    from .settings import ConfigurationError
    from .webhooks.apple import SignedDataVerifier

    try:
        return SignedDataVerifier.from_settings(settings)
    except ConfigurationError as error:
        _apple_refused(error)
        raise NotConfigured("App Store receipts are not configured.") from None


def _apple_app(settings: Settings) -> dict:
    """What the App Store API client would read from a verifier built at first use (the same settings)."""
    return {"bundle_id": settings.apple.bundle_ids[0], "environment": settings.apple.environment}


def _apple_refused(error: Exception) -> None:
    from .observability import logger

    logger.warning("App Store data will be refused: not configured", extra={"reason": str(error)})


def apple_ingest(settings: Settings):
    from .services.ingest import AppleIngest

    verifier, why_not = apple_verifier(settings)
    return AppleIngest(event_intake(settings), verifier, why_not)


def event_processor(settings: Settings, repo=None, play_api=None, stripe_api=None, publisher=None):
    """`repo`, `play_api`, `stripe_api` and `publisher`: adapters another service of the same container
    already built (the processor publishes the changes of most events it applies: its own is built now)."""
    from .services.processing import EventProcessor

    repo = repo or repository(settings)
    stripe_api = stripe_api or stripe_api_client(settings)
    play_api = play_api or play_developer_api(settings)
    return EventProcessor(
        repository=repo,
        event_log=repo,
        publisher=publisher or change_publisher(settings),
        catalog=settings.core.catalog,
        strategy=settings.core.strategy,
        clock=SystemClock(),
        stripe_api=stripe_api,
        play_api=play_api,
        play_package=settings.google.package_names,
        refund_threshold=settings.core.refund_threshold,
        max_shared_owners=settings.core.max_shared_owners,
        stripe_grace=settings.stripe.grace,
    )


def stripe_api_client(settings: Settings):
    """The Stripe API client when STRIPE_API_KEY is configured; stripe-python is imported at its first
    call (only Stripe events and receipts make one)."""
    api_key = settings.stripe.api_key.get()
    if not api_key:
        return None

    def build():
        from .adapters.stripe_api import StripeApiClient

        return StripeApiClient(api_key, settings.stripe.api_base)

    return at_first_use(build)


def play_developer_api(settings: Settings):
    """The Play Developer API client when a service account is configured (Google imports stay lazy).

    Short timeouts and at most 2 s waited on a `Retry-After`: the receipts route answers within API
    Gateway's 29 s, and the queue consumers budget each record's store calls (README, "Store outages");
    the queue retries what does not fit.
    """
    if not (settings.google.service_account_file or settings.google.service_account.get()):
        return None
    from .adapters.play_api import PlayDeveloperApi

    return PlayDeveloperApi.from_settings(settings, timeout=3, max_attempts=2, max_retry_after=2)


def _table(settings: Settings, clients: AwsClients | None = None):
    from .adapters.dynamodb.table import Table

    return Table(settings.aws.table_name, _client(clients, "dynamodb"), settings.core.drift_recheck)


def users(settings: Settings, clients: AwsClients | None = None):
    """The users part of the table alone: all an entitlements read needs (the read function loads
    nothing else of the adapter)."""
    from .adapters.dynamodb.users import DynamoUsers

    return DynamoUsers(_table(settings, clients))


def entitlement_reader(settings: Settings, repo=None):
    from .services.entitlements import EntitlementReader

    return EntitlementReader(repo or users(settings), settings.core.catalog, settings.core.offline_grace, SystemClock())


def entitlement_signer(settings: Settings, clients: AwsClients | None = None, lazy: bool = False):
    """The key that signs `signedEntitlements`, read once per container (ConfigurationError when none is set).

    `lazy`: read at the first signature (a function where few requests sign); that one is set is checked now."""
    from .adapters.signing_keys import signer

    if lazy:
        from .adapters.signing_keys import check_configured

        check_configured(settings.signing)
        return at_first_use(lambda: signer(settings.signing, _client(clients, "secretsmanager")))
    return signer(settings.signing, _client(clients, "secretsmanager"))


def published_keys(settings: Settings, clients: AwsClients | None = None):
    """The JWKS of `GET /.well-known/jwks.json`: the signing key and the previous one, re-read every few minutes."""
    from .adapters.signing_keys import published_keys as keys

    return keys(settings.signing, _client(clients, "secretsmanager"))


def receipt_service(settings: Settings):
    """Each store's adapters are built at its first receipt (the App Store verifier, Stripe's SDK; the
    Play client imports Google's at its first call); the credentials are checked now."""
    from .services.receipts import ReceiptService

    verifier, why_not = apple_verifier(settings, lazy=True)
    apple_api = None
    if verifier is not None and settings.apple.api_named:
        from .adapters.app_store_api import AppStoreApiClient

        # Short on the synchronous path: API Gateway gives up after 29 s; the queue retries the rest.
        apple_api = AppStoreApiClient.from_settings(
            settings, verifier, timeout=3, max_attempts=2, max_retry_after=2, **_apple_app(settings)
        )
    # Where a receipt goes when its store cannot be asked now: rarely, so its client is made then.
    queue = _queue(settings.aws.events_queue(), lazy=True)
    repo = repository(settings)
    play_api = play_developer_api(settings)
    stripe_api = stripe_api_client(settings)
    return ReceiptService(
        processor=event_processor(settings, repo, play_api, stripe_api),
        reader=entitlement_reader(settings, repo),
        event_log=repo,
        queue=queue,
        clock=SystemClock(),
        apple_verifier=verifier,
        apple_api=apple_api,
        apple_unavailable=why_not,
        play_api=play_api,
        play_package=settings.google.package_names,
        stripe_api=stripe_api,
    )


def google_ingest(settings: Settings):
    """Google Play RTDN pushes; without the push settings they are refused (503), never trusted."""
    from .services.ingest import GoogleIngest
    from .settings import ConfigurationError
    from .webhooks.google import PubSubPushVerifier

    try:
        verifier, why_not = PubSubPushVerifier.from_settings(settings), ""
    except ConfigurationError as error:
        verifier, why_not = None, str(error)
    return GoogleIngest(event_intake(settings), verifier, settings.google.package_names, why_not)


def _projector(settings: Settings, repo):
    """How the operator services rebuild a user's entitlement projection (same catalog and threshold)."""
    from .services.projection import Projector

    return Projector(repo, settings.core.catalog, settings.core.refund_threshold)


def _operator_ports(settings: Settings, repo, publisher, clients: AwsClients | None) -> dict[str, Any]:
    """What the operator services that rewrite purchases share: the repository (also their event log),
    the publisher, the projector, the catalog and the clock."""
    repo = repo or repository(settings, clients)
    return {
        "repository": repo,
        "event_log": repo,
        "publisher": publisher or change_publisher(settings, clients),
        "projector": _projector(settings, repo),
        "catalog": settings.core.catalog,
        "clock": SystemClock(),
    }


def administration(settings: Settings, repo=None, publisher=None, clients: AwsClients | None = None):
    """`repo`, `publisher`: adapters another service of the same container already built."""
    from .services.admin import Administration

    ports = _operator_ports(settings, repo, publisher, clients)
    return Administration(**ports, refund_threshold=settings.core.refund_threshold)


def support(settings: Settings, repo=None, publisher=None, clients: AwsClients | None = None):
    """Manual grants and clearing review flags (operators)."""
    from .services.support import Support

    return Support(**_operator_ports(settings, repo, publisher, clients))


def erasure(settings: Settings, repo=None, publisher=None, clients: AwsClients | None = None):
    """Account erasure (the user's own route, the operators' and the console's)."""
    from .services.erasure import Erasure

    repo = repo or repository(settings, clients)
    return Erasure(
        repository=repo,
        publisher=publisher or change_publisher(settings, clients),
        projector=_projector(settings, repo),
        clock=SystemClock(),
    )


def dead_letter_queues(settings: Settings, clients: AwsClients | None = None, lazy: bool = False):
    """The DLQs paired with their source queues (`StoreEvents`, `Reconcile`), None when none is known.
    `lazy`: the SQS and CloudWatch clients are made at the first use (the console's DLQ routes)."""
    from .adapters.dead_letters import SqsDeadLetterQueues

    aws = settings.aws
    pairs = {
        name: (source, dlq)
        for name, source, dlq in (
            ("StoreEvents", aws.events_queue_url, aws.events_dlq_url),
            ("Reconcile", aws.reconcile_queue_url, aws.reconcile_dlq_url),
        )
        if source and dlq
    }
    if not pairs:
        return None
    if lazy:
        return at_first_use(lambda: SqsDeadLetterQueues(pairs, _client(clients, "sqs"), _client(clients, "cloudwatch")))
    return SqsDeadLetterQueues(pairs, sqs=_client(clients, "sqs"), cloudwatch=_client(clients, "cloudwatch"))


def operations(settings: Settings, repo=None, clients: AwsClients | None = None):
    """The console's lookup, event detail, health, dead-letter actions and reconcile requests (the queues'
    clients are made at the first route that uses them)."""
    from .adapters.dynamodb.operator_reads import DynamoOperatorReads
    from .services.operations import Operations

    repo = repo or repository(settings, clients)
    return Operations(
        repository=repo,
        event_log=repo,
        reads=DynamoOperatorReads(repo.table),
        dead_letters=dead_letter_queues(settings, clients, lazy=True),
        reconcile_queue=_queue(settings.aws.reconcile_queue(), clients, lazy=True) if settings.aws.reconcile_queue_url else None,
        clock=SystemClock(),
    )


def drift_scan(settings: Settings, clients: AwsClients | None = None):
    """The drift scan. It also sends the events parked unresolved back to the store-events queue, when
    that queue is known (the function's always is; the console may know only the reconcile queue), and
    fans out one message per due-index shard when the shard queue is known (else it selects every shard
    itself, as the console does)."""
    from .services.drift_scan import DriftScan

    repo = repository(settings, clients)
    requeue = None
    if settings.aws.events_queue_url:
        requeue = event_intake(settings, repo, clients).requeue_parked
    shard_url = settings.aws.drift_shard_queue_url
    return DriftScan(
        repo,
        reconcile_queue(settings, clients),
        SystemClock(),
        requeue,
        shard_queue=_queue(shard_url, clients) if shard_url else None,
        play_checks_per_day=settings.core.play_checks_per_day,
    )


def replayer(settings: Settings, clients: AwsClients | None = None):
    """The console's replay (`parity replay`): without a change-event bus, applying writes no change events."""
    from .services.replay import Replayer

    publisher = change_publisher(settings, clients) if settings.aws.event_bus_name else None
    return Replayer(repository(settings, clients), settings.core.catalog, SystemClock(), publisher)


def reconciler(settings: Settings):
    """The reconcile worker, with every store API that is configured (a store without one is swept).
    The App Store verifier is built at the first App Store check, the publisher at the first repair."""
    from .services.drift import Reconciler

    repo = repository(settings)
    verifier, _ = apple_verifier(settings, lazy=True)
    app_store = None
    if verifier is not None and settings.apple.api_named:
        from .adapters.app_store_api import AppStoreApiClient

        # Bounded so that a batch of checks fits the worker's timeout (README, "Store outages").
        app_store = AppStoreApiClient.from_settings(
            settings, verifier, timeout=5, max_attempts=2, max_retry_after=5, **_apple_app(settings)
        )
    stripe_api, play_api = stripe_api_client(settings), play_developer_api(settings)
    return Reconciler(
        repository=repo,
        event_log=repo,
        processor=event_processor(settings, repo, play_api, stripe_api, change_publisher(settings, lazy=True)),
        clock=SystemClock(),
        app_store=app_store,
        play=play_api,
        play_package=settings.google.package_names,
        stripe=stripe_api,
    )


def redelivery(settings: Settings, queue_url: str, record_budget_seconds: float, failure_metric: str | None = None):
    """How a queue consumer hands failed records back: `queue_url` is the queue it consumes
    (`settings.aws.events_queue()`, ...); `failure_metric` counts its failed records (the template's
    failure alarms watch it)."""
    from .retries import Redelivery

    # The queue is written to only for a failed record: its client is made then.
    return Redelivery(
        _queue(queue_url, lazy=True), settings.redelivery.schedule, record_budget_seconds, failure_metric=failure_metric
    )
