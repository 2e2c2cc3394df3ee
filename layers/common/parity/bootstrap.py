"""Wiring: adapters are built once per container from the settings and handed to the services."""

from __future__ import annotations

from datetime import datetime, timezone

from .settings import Settings


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(timezone.utc)


def repository(settings: Settings):
    from .adapters.dynamodb import DynamoRepository

    return DynamoRepository(settings.table_name, recheck=settings.drift_recheck)


def event_intake(settings: Settings, repo=None):
    from .adapters.sqs import SqsQueue
    from .services.ingest import EventIntake

    if not settings.events_queue_url:
        raise ValueError("EVENTS_QUEUE_URL is not set")
    return EventIntake(repo or repository(settings), SqsQueue(settings.events_queue_url), SystemClock())


def stripe_ingest(settings: Settings):
    from .services.ingest import StripeIngest

    return StripeIngest(event_intake(settings), settings.stripe_webhook_secret, SystemClock())


def apple_verifier(settings: Settings):
    """The App Store verifier, or why there is none (configuration missing: Apple data is refused)."""
    from .settings import ConfigurationError
    from .webhooks.apple import SignedDataVerifier

    try:
        return SignedDataVerifier.from_settings(settings), ""
    except ConfigurationError as error:
        from .observability import logger

        logger.warning("App Store data will be refused: not configured", extra={"reason": str(error)})
        return None, str(error)


def apple_ingest(settings: Settings):
    from .services.ingest import AppleIngest

    verifier, why_not = apple_verifier(settings)
    return AppleIngest(event_intake(settings), verifier, why_not)


def event_processor(settings: Settings, repo=None, play_api=None, stripe_api=None):
    """`repo`, `play_api` and `stripe_api`: adapters another service of the same container already built."""
    from .adapters.eventbridge import EventBridgePublisher
    from .services.processing import EventProcessor

    if not settings.event_bus_name:
        raise ValueError("EVENT_BUS_NAME is not set")
    repo = repo or repository(settings)
    stripe_api = stripe_api or stripe_api_client(settings)
    play_api = play_api or play_developer_api(settings)
    return EventProcessor(
        repository=repo,
        event_log=repo,
        publisher=EventBridgePublisher(settings.event_bus_name),
        catalog=settings.catalog,
        strategy=settings.strategy,
        clock=SystemClock(),
        stripe_api=stripe_api,
        play_api=play_api,
        play_package=settings.google_package_name,
        refund_threshold=settings.refund_threshold,
        max_shared_owners=settings.max_shared_owners,
    )


def stripe_api_client(settings: Settings):
    """The Stripe API client when STRIPE_API_KEY is configured (stripe-python is imported only then)."""
    api_key = settings.stripe_api_key.get()
    if not api_key:
        return None
    from .adapters.stripe_api import StripeApiClient

    return StripeApiClient(api_key, settings.stripe_api_base)


def play_developer_api(settings: Settings):
    """The Play Developer API client when a service account is configured (Google imports stay lazy).

    Short timeouts and at most 2 s waited on a `Retry-After`: the receipts route answers within API
    Gateway's 29 s, and the queue consumers budget each record's store calls (README, "Store outages");
    the queue retries what does not fit.
    """
    if not (settings.google_service_account_file or settings.google_service_account.get()):
        return None
    from .adapters.play_api import PlayDeveloperApi

    return PlayDeveloperApi.from_settings(settings, timeout=3, max_attempts=2, max_retry_after=2)


def entitlement_reader(settings: Settings, repo=None):
    from .services.entitlements import EntitlementReader

    return EntitlementReader(repo or repository(settings), settings.catalog, settings.offline_grace, SystemClock())


def receipt_service(settings: Settings):
    from .adapters.sqs import SqsQueue
    from .services.receipts import ReceiptService

    verifier, why_not = apple_verifier(settings)
    apple_api = None
    if verifier is not None:
        from .adapters.app_store_api import AppStoreApiClient

        # Short on the synchronous path: API Gateway gives up after 29 s; the queue retries the rest.
        apple_api = AppStoreApiClient.from_settings(settings, verifier, timeout=3, max_attempts=2, max_retry_after=2)
    if not settings.events_queue_url:  # where a receipt goes when its store cannot be asked now
        raise ValueError("EVENTS_QUEUE_URL is not set")
    repo = repository(settings)
    play_api = play_developer_api(settings)
    stripe_api = stripe_api_client(settings)
    return ReceiptService(
        processor=event_processor(settings, repo, play_api, stripe_api),
        reader=entitlement_reader(settings, repo),
        event_log=repo,
        queue=SqsQueue(settings.events_queue_url),
        clock=SystemClock(),
        apple_verifier=verifier,
        apple_api=apple_api,
        apple_unavailable=why_not,
        play_api=play_api,
        play_package=settings.google_package_name,
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
    return GoogleIngest(event_intake(settings), verifier, settings.google_package_name, why_not)


def administration(settings: Settings):
    from .adapters.eventbridge import EventBridgePublisher
    from .services.admin import Administration
    from .services.projection import Projector

    if not settings.event_bus_name:
        raise ValueError("EVENT_BUS_NAME is not set")
    repo = repository(settings)
    return Administration(
        repository=repo,
        event_log=repo,
        publisher=EventBridgePublisher(settings.event_bus_name),
        projector=Projector(repo, settings.catalog, settings.refund_threshold),
        catalog=settings.catalog,
        clock=SystemClock(),
        refund_threshold=settings.refund_threshold,
    )


def drift_scan(settings: Settings):
    from .adapters.sqs import SqsQueue
    from .services.drift import DriftScan

    if not settings.reconcile_queue_url:
        raise ValueError("RECONCILE_QUEUE_URL is not set")
    repo = repository(settings)
    intake = event_intake(settings, repo)  # the nightly scan also sends the unresolved events back
    return DriftScan(repo, SqsQueue(settings.reconcile_queue_url), SystemClock(), intake.requeue_parked)


def reconciler(settings: Settings):
    """The reconcile worker, with every store API that is configured (a store without one is swept)."""
    from .services.drift import Reconciler

    repo = repository(settings)
    verifier, _ = apple_verifier(settings)
    app_store = None
    if verifier is not None:
        from .adapters.app_store_api import AppStoreApiClient

        # Bounded so that a batch of checks fits the worker's timeout (README, "Store outages").
        app_store = AppStoreApiClient.from_settings(settings, verifier, timeout=5, max_attempts=2, max_retry_after=5)
    stripe_api, play_api = stripe_api_client(settings), play_developer_api(settings)
    return Reconciler(
        repository=repo,
        event_log=repo,
        processor=event_processor(settings, repo, play_api, stripe_api),
        clock=SystemClock(),
        app_store=app_store,
        play=play_api,
        play_package=settings.google_package_name,
        stripe=stripe_api,
    )


def redelivery(settings: Settings, queue_url: str | None, record_budget_seconds: float, failure_metric: str | None = None):
    """How a queue consumer hands failed records back: `queue_url` is the queue it consumes;
    `failure_metric` counts its failed records (the template's failure alarms watch it)."""
    from .adapters.sqs import SqsQueue
    from .retries import Redelivery

    if not queue_url:
        raise ValueError("the consumed queue's URL is not set (EVENTS_QUEUE_URL / RECONCILE_QUEUE_URL)")
    return Redelivery(SqsQueue(queue_url), settings.retry_schedule, record_budget_seconds, failure_metric=failure_metric)
