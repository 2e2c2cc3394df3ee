"""`GoogleIngest`: the push's token verified first, then the envelope, the package, then one record in
the event log and one queue message — with in-memory fakes of the log and the queue, and the real
verifier reading certificates from memory (the unit tier has no sockets)."""

from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest

from parity.http import answer_webhook, header
from parity.services.ingest import EventIntake, GoogleIngest, Ingested
from parity.webhooks import RejectedWebhook
from parity.webhooks.google import PubSubPushVerifier, RejectedPush
from parity.webhooks.google_certs import CertsCache
from tests.support import google as fx
from tests.support.fakes import FakeClock, MemoryQueue, MemoryStore
from tests.support.lambda_events import function_url_event

NOW = datetime(2026, 1, 1, 12, 0, tzinfo=timezone.utc)
TEST_PUSH = fx.push_body(fx.test_notification())


def sent(queue: MemoryQueue) -> list[dict]:
    return [{"body": json.loads(m.body), "group": m.group, "dedup_id": m.dedup_id} for m in queue.messages]


class SpyVerifier:
    """Records the calls; refuses like the real one would when told to."""

    def __init__(self, refusal: RejectedPush | None = None) -> None:
        self.calls: list[str | None] = []
        self.refusal = refusal

    def verify(self, authorization: str | None) -> dict:
        self.calls.append(authorization)
        if self.refusal:
            raise self.refusal
        return {"email": fx.SERVICE_ACCOUNT}


@pytest.fixture
def log() -> MemoryStore:
    return MemoryStore()


@pytest.fixture
def queue() -> MemoryQueue:
    return MemoryQueue(FakeClock(NOW))


@pytest.fixture
def certs_request() -> fx.StaticCertsRequest:
    return fx.StaticCertsRequest()


@pytest.fixture
def ingest(log, queue, certs_request) -> GoogleIngest:
    verifier = PubSubPushVerifier(
        fx.AUDIENCE, fx.SERVICE_ACCOUNT, certs=CertsCache("https://certs.test/oauth2/v1/certs", certs_request)
    )
    return GoogleIngest(EventIntake(log, queue, FakeClock(NOW)), verifier, fx.PACKAGE, "")


def good_token() -> str:
    return fx.bearer(fx.mint_token())


def refusal(ingest: GoogleIngest, body: bytes, authorization: str | None) -> RejectedWebhook:
    with pytest.raises(RejectedWebhook) as caught:
        ingest.ingest(body, authorization)
    return caught.value


# --------------------------------------------------------------------------- recorded


@pytest.mark.parametrize(
    ("notification", "event_type"),
    [
        (fx.subscription_notification("tok-sub", 4), "subscriptionNotification:4"),
        (fx.subscription_notification("tok-sub", 12), "subscriptionNotification:12"),
        (fx.one_time_product_notification("tok-sub", 1), "oneTimeProductNotification:1"),
        (fx.voided_purchase_notification("tok-sub"), "voidedPurchaseNotification"),
    ],
)
def test_a_verified_push_is_recorded_under_its_message_id_and_token(ingest, log, queue, notification, event_type):
    body = fx.push_body(notification, message_id="1001")

    result = ingest.ingest(body, good_token())

    assert result == Ingested("1001", event_type, duplicate=False)
    assert list(log.events) == [("play_store", "1001")]
    assert [(e.event_type, e.received_at, e.body) for e in log.events.values()] == [(event_type, NOW, body)]
    assert [e.event_id for e in log.purchase_events("play_store:tok-sub")] == ["1001"]  # by its token
    assert sent(queue) == [
        {
            "body": {"source": "play_store", "eventId": "1001", "body": body.decode()},
            "group": "tok-sub",
            "dedup_id": "play_store:1001",
        }
    ]


def test_a_redelivered_push_is_a_duplicate_stored_once(ingest, log, queue):
    body = fx.push_body(fx.subscription_notification("tok-dup", 2), message_id="2002")

    first, second = ingest.ingest(body, good_token()), ingest.ingest(body, good_token())

    assert (first.duplicate, second.duplicate) == (False, True)
    assert list(log.events) == [("play_store", "2002")]
    assert {m["dedup_id"] for m in sent(queue)} == {"play_store:2002"}  # resent while unprocessed; FIFO dedups


def test_a_redelivered_push_already_processed_is_not_queued_again(ingest, log, queue):
    body = fx.push_body(fx.subscription_notification("tok-done", 2), message_id="2003")
    ingest.ingest(body, good_token())
    log.mark_processed("play_store", "2003", "applied")

    assert ingest.ingest(body, good_token()).duplicate is True
    assert len(sent(queue)) == 1


def test_a_test_notification_is_acknowledged_and_not_stored(ingest, log, queue):
    result = ingest.ingest(fx.push_body(fx.test_notification(), message_id="3003"), good_token())

    assert result == Ingested("3003", "testNotification", duplicate=False)
    assert (log.events, queue.messages) == ({}, [])


def test_the_certificates_are_fetched_once_across_pushes(ingest, certs_request):
    for n in range(5):
        ingest.ingest(fx.push_body(fx.subscription_notification(f"tok-{n}")), good_token())
    assert len(certs_request.calls) == 1


# --------------------------------------------------------------------------- refused, nothing stored


@pytest.mark.parametrize(
    ("authorization", "code", "status"),
    [
        (None, "missing_token", 401),
        ("Basic dXNlcjpwYXNz", "missing_token", 401),
        ("Bearer not.a.jwt", "invalid_token", 401),
        (lambda: fx.bearer(fx.mint_token(audience="https://elsewhere.example.com")), "invalid_token", 401),
        (lambda: fx.bearer(fx.mint_token(fx.signing_key("rogue"))), "invalid_token", 401),
        (lambda: fx.bearer(fx.unsigned_token()), "invalid_token", 401),
        (lambda: fx.bearer(fx.mint_token(issued_at=0)), "invalid_token", 401),
        (lambda: fx.bearer(fx.mint_token(email="attacker@example.com")), "forbidden_sender", 403),
        (lambda: fx.bearer(fx.mint_token(email_verified=False)), "forbidden_sender", 403),
    ],
    ids=["missing", "basic", "garbage", "audience", "rogue-key", "alg-none", "expired", "email", "unverified"],
)
def test_an_unauthenticated_push_is_refused_and_nothing_is_stored(ingest, log, queue, authorization, code, status):
    authorization = authorization() if callable(authorization) else authorization
    body = fx.push_body(fx.subscription_notification("tok-x"))

    refused = refusal(ingest, body, authorization)

    assert (refused.code, refused.status) == (code, status)
    assert (log.events, queue.messages) == ({}, [])


@pytest.mark.parametrize(
    "body", [b"not json", b"{}", fx.push_body(b"garbage"), fx.push_body(fx.test_notification(package="x"))]
)
def test_the_token_is_checked_before_the_body_is_read(ingest, body):
    # A bad token on a bad body is a 401, never a 400 telling the sender something about the body.
    assert refusal(ingest, body, "Bearer not.a.jwt").code == "invalid_token"
    assert refusal(ingest, body, fx.bearer(fx.mint_token(email="x@example.com"))).code == "forbidden_sender"


def test_a_refusing_verifier_is_asked_first_and_the_body_is_left_alone(log, queue):
    spy = SpyVerifier(RejectedPush("invalid_token", "no", 401))
    ingest = GoogleIngest(EventIntake(log, queue, FakeClock(NOW)), spy, fx.PACKAGE, "")

    assert refusal(ingest, b"\xff not even json", "Bearer t").code == "invalid_token"
    assert spy.calls == ["Bearer t"]
    assert (log.events, queue.messages) == ({}, [])


@pytest.mark.parametrize(
    "body",
    [b"", b"not json", b"[]", json.dumps({"message": {"messageId": "1"}}).encode(), fx.push_body(b"{not json")],
)
def test_a_malformed_body_with_a_good_token_is_a_400(ingest, log, queue, body):
    refused = refusal(ingest, body, good_token())
    assert (refused.code, refused.status) == ("malformed_body", 400)
    assert (log.events, queue.messages) == ({}, [])


def test_another_package_is_a_400(ingest, log, queue):
    refused = refusal(ingest, fx.push_body(fx.subscription_notification("tok", package="com.other")), good_token())
    assert (refused.code, refused.status) == ("wrong_package", 400)
    assert (log.events, queue.messages) == ({}, [])


@pytest.mark.parametrize(
    ("verifier", "package", "why", "said"),
    [
        (None, fx.PACKAGE, "GOOGLE_PUBSUB_AUDIENCE is not set", "GOOGLE_PUBSUB_AUDIENCE"),
        (SpyVerifier(), None, "", "GOOGLE_PACKAGE_NAME"),
    ],
)
def test_without_configuration_everything_is_refused_as_not_configured(log, queue, verifier, package, why, said):
    ingest = GoogleIngest(EventIntake(log, queue, FakeClock(NOW)), verifier, package, why)

    refused = refusal(ingest, fx.push_body(fx.subscription_notification("tok")), good_token())

    assert refused.code == "not_configured" and said in str(refused)
    assert (log.events, queue.messages) == ({}, [])
    assert verifier is None or verifier.calls == []


# --------------------------------------------------------------------------- through the shared webhook answer


@pytest.mark.parametrize(
    ("authorization", "body", "status", "code"),
    [
        (good_token, fx.push_body(fx.subscription_notification("tok-http")), 200, None),
        (lambda: None, fx.push_body(fx.subscription_notification("tok-http")), 401, "missing_token"),
        (lambda: fx.bearer(fx.mint_token(audience="x")), TEST_PUSH, 401, "invalid_token"),
        (lambda: fx.bearer(fx.mint_token(email="x@x.com")), TEST_PUSH, 403, "forbidden_sender"),
        (good_token, b"{}", 400, "malformed_body"),
        (good_token, fx.push_body(fx.test_notification(package="com.other")), 400, "wrong_package"),
    ],
)
def test_answer_webhook_answers_with_the_rejections_status(ingest, authorization, body, status, code):
    value = authorization()
    event = function_url_event(body, headers={"authorization": value} if value else {})

    answer = answer_webhook(event, "play_store", lambda raw: ingest.ingest(raw, header(event, "authorization")))

    assert answer["statusCode"] == status
    if code:
        assert json.loads(answer["body"])["error"]["code"] == code
