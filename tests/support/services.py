"""Parity's services built on the in-memory fakes (`tests.support.fakes`), for the unit tier.

Every service is built here and only here, one factory each, wired as `parity.bootstrap` wires it: a
change of a constructor (or of what a service returns) is fixed in this module. `World` holds one set of
fakes shared by every service, as one container's adapters are, and drives the services the way the
functions do (a Stripe webhook, the store-events queue, the admin routes), without AWS.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from parity.bodies import parse_receipt
from parity.domain.catalog import Catalog
from parity.domain.errors import ParityError, RequestRefused
from parity.domain.ownership import Strategy
from parity.http import error_response
from parity.services.admin import Administration
from parity.services.drift import Reconciler
from parity.services.drift_scan import DriftScan
from parity.services.entitlements import EntitlementReader
from parity.services.erasure import Erasure
from parity.services.ingest import RECEIPT_RETRY, EventIntake, StripeIngest
from parity.services.processing import EventProcessor, Outcome
from parity.services.projection import DEFAULT_REFUND_THRESHOLD, Projector
from parity.services.receipts import ReceiptService
from parity.services.replay import Replayer
from parity.services.support import Support
from parity.settings import DEFAULT_MAX_SHARED_OWNERS, Secret
from parity.views import (
    admin_user_view,
    assignment_view,
    entitlements_response,
    grant_view,
    merge_view,
    receipt_response,
)
from tests.support import stripe as stripe_fixtures
from tests.support.domain import TEST_CATALOG
from tests.support.fakes import (
    FakeAppStoreApi,
    FakeClock,
    FakePlayApi,
    FakeStripeApi,
    MemoryQueue,
    MemoryStore,
    Message,
    RecordingPublisher,
)
from tests.support.play_payloads import PACKAGE
from tests.support.signing import SIGNER

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=timezone.utc)
OPERATOR = "arn:aws:iam::123456789012:user/operator"


@dataclass
class World:
    """One container's adapters, as fakes, and the settings the services are built with."""

    strategy: Strategy = Strategy.LAST
    refund_threshold: int = DEFAULT_REFUND_THRESHOLD
    max_shared_owners: int | None = DEFAULT_MAX_SHARED_OWNERS
    catalog: Catalog = field(default_factory=lambda: Catalog.from_document(TEST_CATALOG))
    offline_grace: timedelta = timedelta(hours=24)
    clock: FakeClock = field(default_factory=lambda: FakeClock(NOW, tick=timedelta(milliseconds=1)))
    store: MemoryStore = None  # type: ignore[assignment]
    queue: MemoryQueue = None  # type: ignore[assignment]  # the store-events queue
    reconcile_queue: MemoryQueue = None  # type: ignore[assignment]
    publisher: RecordingPublisher = field(default_factory=RecordingPublisher)
    stripe_api: FakeStripeApi | None = None
    play_api: FakePlayApi | None = None
    app_store_api: FakeAppStoreApi | None = None
    apple_verifier: Any = None
    play_package: str | None = PACKAGE
    failed: list[dict] = field(default_factory=list)  # queue messages whose processing raised

    def __post_init__(self) -> None:
        self.store = self.store or MemoryStore(self.clock)
        self.queue = self.queue or MemoryQueue(self.clock)
        self.reconcile_queue = self.reconcile_queue or MemoryQueue(self.clock)

    # -- the services -------------------------------------------------------------------------------

    def processor(self) -> EventProcessor:
        return EventProcessor(
            repository=self.store,
            event_log=self.store,
            publisher=self.publisher,
            catalog=self.catalog,
            strategy=self.strategy,
            clock=self.clock,
            stripe_api=self.stripe_api,
            play_api=self.play_api,
            play_package=self.play_package,
            refund_threshold=self.refund_threshold,
            max_shared_owners=self.max_shared_owners,
        )

    def administration(self) -> Administration:
        return Administration(
            repository=self.store,
            event_log=self.store,
            publisher=self.publisher,
            projector=Projector(self.store, self.catalog, self.refund_threshold),
            catalog=self.catalog,
            clock=self.clock,
            refund_threshold=self.refund_threshold,
        )

    def support(self) -> Support:
        return Support(
            repository=self.store,
            event_log=self.store,
            publisher=self.publisher,
            projector=Projector(self.store, self.catalog, self.refund_threshold),
            catalog=self.catalog,
            clock=self.clock,
        )

    def erasure(self) -> Erasure:
        return Erasure(self.store, self.publisher, Projector(self.store, self.catalog, self.refund_threshold), self.clock)

    def reader(self) -> EntitlementReader:
        return EntitlementReader(self.store, self.catalog, self.offline_grace, self.clock)

    def intake(self) -> EventIntake:
        return EventIntake(self.store, self.queue, self.clock)

    def stripe_ingest(self) -> StripeIngest:
        return StripeIngest(self.intake(), Secret("STRIPE_WEBHOOK_SECRET", stripe_fixtures.SECRET), self.clock)

    def receipts(self) -> ReceiptService:
        return ReceiptService(
            processor=self.processor(),
            reader=self.reader(),
            event_log=self.store,
            queue=self.queue,
            clock=self.clock,
            apple_verifier=self.apple_verifier,
            apple_api=self.app_store_api,
            play_api=self.play_api,
            play_package=self.play_package,
            stripe_api=self.stripe_api,
        )

    def drift_scan(self) -> DriftScan:
        return DriftScan(self.store, self.reconcile_queue, self.clock, self.intake().requeue_parked)

    def reconciler(self) -> Reconciler:
        return Reconciler(
            repository=self.store,
            event_log=self.store,
            processor=self.processor(),
            clock=self.clock,
            app_store=self.app_store_api,
            play=self.play_api,
            play_package=self.play_package,
            stripe=self.stripe_api,
        )

    def replayer(self) -> Replayer:
        return Replayer(self.store, self.catalog, self.clock, self.publisher)

    # -- driving them as the functions do -----------------------------------------------------------

    def deliver(self, *events: Mapping) -> None:
        """Stripe webhooks, signed now: verified, stored and queued (`drain` processes them)."""
        for event in events:
            body = stripe_fixtures.encode(dict(event))
            signature = stripe_fixtures.sign(body, timestamp=int(self.clock.now().timestamp()))
            self.stripe_ingest().ingest(body, signature)

    def drain(self) -> list[Outcome]:
        """Process every queued message in order; a message whose processing raises is kept in
        `failed` (SQS would deliver it again: `redeliver_failed`)."""
        outcomes = []
        processor = self.processor()
        for message in self.queue.take():
            try:
                if message["source"] == RECEIPT_RETRY:
                    self._retry_receipt(message)
                else:
                    outcomes.append(processor.process_message(message))
            except Exception:  # noqa: BLE001 - the queue's view: any failure is retried
                self.failed.append(message)
        return outcomes

    def _retry_receipt(self, message: dict) -> None:
        """A queued receipt, as the event processor retries it: a refusal ends it, an outage raises."""
        body = message["body"].encode()
        try:
            self.receipts().submit(message["userId"], parse_receipt(body), body, queued=True)
        except RequestRefused:
            pass

    def submit_receipt(self, user_id: str, receipt: Mapping) -> tuple[int, dict]:
        """`POST /v1/users/{userId}/receipts` by the user themselves: its status and body."""
        body = json.dumps(receipt).encode()
        try:
            status, answer = receipt_response(self.receipts().submit(user_id, parse_receipt(body), body), SIGNER)
        except ParityError as error:
            refused = error_response(error)
            return refused["statusCode"], json.loads(refused["body"])
        return status, answer

    def redeliver_failed(self) -> int:
        """Put the failed messages back on the queue; how many there were."""
        again, self.failed = self.failed, []
        self.queue.messages += [Message(json.dumps(message)) for message in again]
        return len(again)

    def scan(self) -> dict:
        """The nightly drift scan, then the reconcile worker over everything it queued (a batch per
        ten messages, as SQS delivers them); the scan's answer and its report."""
        started = self.drift_scan().run()
        reconciler = self.reconciler()
        messages = self.reconcile_queue.take()
        for start in range(0, len(messages), 10):
            batch = messages[start : start + 10]
            reconciler.prefetch(batch)  # as the worker's handler does: the batch's purchases in one read
            checks = [reconciler.handle(message) for message in batch]
            reconciler.report(started["reportId"], checks)
        (report,) = [r for r in self.store.reports(limit=100) if r.get("reportId") == started["reportId"]]
        return {**started, **report}

    def read(self, user_id: str) -> dict:
        """The entitlements body of `GET /v1/users/{userId}/entitlements`."""
        return entitlements_response(self.reader().read(user_id), SIGNER)

    def has(self, user_id: str, entitlement: str = "pro") -> bool:
        found = self.read(user_id)["entitlements"].get(entitlement)
        return bool(found and found["active"])

    def owners(self, purchase_id: str) -> list[str]:
        stored = self.store.get_purchase(purchase_id)
        return [] if stored is None else list(stored.owner_ids)

    def assign_owner(self, purchase_id: str, user_id: str, reason: str | None = None) -> dict:
        """The body of `PUT /v1/admin/purchases/{purchaseId}/owner`, by an operator."""
        return assignment_view(self.administration().assign_owner(purchase_id, user_id, OPERATOR, reason))

    def merge(self, into_user: str, from_user: str) -> dict:
        """The body of `POST /v1/admin/users/{userId}/merge`, by an operator."""
        return merge_view(self.administration().merge(into_user, from_user, OPERATOR))

    def grant(self, user_id: str, entitlement: str = "pro", expires_at: datetime | None = None, reason: str | None = None) -> dict:
        """The body of `POST /v1/admin/users/{userId}/grants`, by an operator."""
        granted = self.support().grant(user_id, entitlement, expires_at, OPERATOR, reason)
        return grant_view(granted, granted.owner_ids[0], self.catalog, self.clock.now())

    def revoke(self, user_id: str, purchase_id: str, reason: str | None = None) -> dict:
        """The body of `DELETE /v1/admin/users/{userId}/grants/{purchaseId}`, by an operator."""
        ended = self.support().revoke(user_id, purchase_id, OPERATOR, reason)
        return grant_view(ended, user_id, self.catalog, self.clock.now())

    def erase(self, user_id: str, actor: str = "user") -> bool:
        """`DELETE /v1/users/{userId}` (or the operators' route, with `actor`)."""
        return self.erasure().erase(user_id, actor)

    def user_report(self, user_id: str) -> dict:
        """The body of `GET /v1/admin/users/{userId}`."""
        return admin_user_view(self.administration().user_report(user_id))
