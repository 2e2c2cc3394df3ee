"""Google Play RTDN pushes through the real webhook handler: authenticate, store, queue."""

from __future__ import annotations

import pytest

from parity.adapters.sqs import fifo_id
from tests.support import google as fx
from tests.support.harness import running_stack


@pytest.fixture
def certs():
    with fx.certs_server() as state:
        yield state


@pytest.fixture
def stack(tmp_path, certs):
    env = {
        "GOOGLE_PACKAGE_NAME": fx.PACKAGE,
        "GOOGLE_PUBSUB_AUDIENCE": fx.AUDIENCE,
        "GOOGLE_PUBSUB_SERVICE_ACCOUNT": fx.SERVICE_ACCOUNT,
        "GOOGLE_OIDC_CERTS_URL": certs.url,
    }
    with running_stack(catalog_dir=tmp_path, env=env) as fresh:
        yield fresh


def events(stack) -> list[dict]:
    return [i for i in stack.table_items() if i["PK"].startswith("EVENT#") and i["SK"] == "EVENT"]


def test_an_authenticated_push_is_stored_once_and_queued_by_purchase_token(stack):
    token = fx.purchase_token()
    body = fx.push_body(fx.subscription_notification(token), message_id="9001")

    first = stack.post_google(body, fx.bearer(fx.mint_token()))
    second = stack.post_google(body, fx.bearer(fx.mint_token()))

    assert (first.status, second.status) == (200, 200)
    assert (first.body["duplicate"], second.body["duplicate"]) == (False, True)
    [message] = stack.receive()
    assert message["Attributes"]["MessageGroupId"] == fifo_id(token)
    assert [e["PK"] for e in events(stack)] == ["EVENT#play_store#9001"]


@pytest.mark.parametrize(
    ("authorization", "status", "code"),
    [
        (None, 401, "missing_token"),
        (fx.bearer(fx.mint_token(audience="https://elsewhere.example.com")), 401, "invalid_token"),
        (fx.bearer(fx.mint_token(email="someone@evil.example.com")), 403, "forbidden_sender"),
        (fx.bearer(fx.mint_token(email_verified=False)), 403, "forbidden_sender"),
    ],
)
def test_unauthenticated_pushes_are_refused_and_nothing_is_stored(stack, authorization, status, code):
    response = stack.post_google(fx.push_body(fx.subscription_notification(fx.purchase_token())), authorization)

    assert (response.status, response.body["error"]["code"]) == (status, code)
    assert stack.receive() == [] and events(stack) == []


def test_a_push_for_another_package_is_a_400(stack):
    body = fx.push_body(fx.subscription_notification(fx.purchase_token(), package="com.example.other"))

    response = stack.post_google(body, fx.bearer(fx.mint_token()))

    assert (response.status, response.body["error"]["code"]) == (400, "wrong_package")
    assert events(stack) == []


def test_a_test_notification_is_acknowledged_and_not_stored(stack):
    response = stack.post_google(fx.push_body(fx.test_notification()), fx.bearer(fx.mint_token()))

    assert response.status == 200
    assert events(stack) == []


def test_without_push_settings_google_is_refused_with_503(tmp_path):
    with running_stack(catalog_dir=tmp_path) as unconfigured:
        response = unconfigured.post_google(
            fx.push_body(fx.subscription_notification(fx.purchase_token())), fx.bearer(fx.mint_token())
        )

        assert (response.status, response.body["error"]["code"]) == (503, "not_configured")
