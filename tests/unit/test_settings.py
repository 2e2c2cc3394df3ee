"""Settings parsed once from the environment: defaults, validation, secrets kept out of reprs."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from parity.domain.ownership import Strategy
from parity.settings import ConfigurationError, Secret, Settings

WEBHOOK_SECRET = "whsec_0123456789abcdef"


def settings(**env: str) -> Settings:
    return Settings.from_env(env)


def test_defaults_follow_the_contract():
    parsed = settings()
    assert parsed.core.strategy is Strategy.LAST
    assert parsed.core.offline_grace == timedelta(seconds=86400)
    assert parsed.core.catalog.products == {}
    assert parsed.aws.table_name == "parity"
    assert parsed.stripe.webhook_secret.get() is None
    assert parsed.stripe.api_base is None


@pytest.mark.parametrize(
    ("text", "strategy"), [("ALL", Strategy.ALL), ("first", Strategy.FIRST), ("Last", Strategy.LAST)]
)
def test_the_strategy_is_read_case_insensitively(text, strategy):
    assert settings(ENTITLEMENT_STRATEGY=text).core.strategy is strategy


def test_an_unknown_strategy_fails_fast():
    with pytest.raises(ConfigurationError, match="ENTITLEMENT_STRATEGY"):
        settings(ENTITLEMENT_STRATEGY="NEWEST")


def test_the_offline_grace_is_read_in_seconds():
    assert settings(OFFLINE_GRACE_SECONDS="3600").core.offline_grace == timedelta(hours=1)
    assert settings(OFFLINE_GRACE_SECONDS="0").core.offline_grace == timedelta(0)


def test_the_stripe_grace_is_read_in_seconds_and_defaults_to_three_days():
    assert settings().stripe.grace == timedelta(seconds=259200)
    assert settings(STRIPE_GRACE_SECONDS="3600").stripe.grace == timedelta(hours=1)
    assert settings(STRIPE_GRACE_SECONDS="0").stripe.grace == timedelta(0)
    for bad, reason in (("-1", "must not be negative"), ("3d", "a whole number of seconds")):
        with pytest.raises(ConfigurationError, match=f"STRIPE_GRACE_SECONDS {reason}|STRIPE_GRACE_SECONDS must be {reason}"):
            settings(STRIPE_GRACE_SECONDS=bad)


def test_the_bound_on_sharing_defaults_to_ten_and_is_read_from_the_environment():
    assert settings().core.max_shared_owners == 10
    assert settings(MAX_SHARED_OWNERS="60").core.max_shared_owners == 60
    assert settings(MAX_SHARED_OWNERS="1").core.max_shared_owners == 1


@pytest.mark.parametrize("text", ["0", "-3", "ten", "2.5", "81"])
def test_an_unusable_bound_on_sharing_fails_fast(text):
    with pytest.raises(ConfigurationError, match="MAX_SHARED_OWNERS"):
        settings(MAX_SHARED_OWNERS=text)


@pytest.mark.parametrize("text", ["a day", "1.5", "-1"])
def test_an_unusable_offline_grace_fails_fast(text):
    with pytest.raises(ConfigurationError, match="OFFLINE_GRACE_SECONDS"):
        settings(OFFLINE_GRACE_SECONDS=text)


def test_the_catalog_is_read_from_the_catalog_file(tmp_path):
    catalog_file = tmp_path / "catalog.json"
    catalog_file.write_text(json.dumps({"products": {"price_pro_monthly": ["pro"], "prod_pro": ["pro", "extra"]}}))
    assert settings(CATALOG_FILE=str(catalog_file)).core.catalog.products == {
        "price_pro_monthly": ("pro",),
        "prod_pro": ("pro", "extra"),
    }


def test_the_shipped_catalog_is_usable():
    from pathlib import Path

    import parity

    shipped = Path(parity.__file__).parent.parent / "catalog.json"
    assert "pro" in settings(CATALOG_FILE=str(shipped)).core.catalog.products["price_pro_monthly"]


@pytest.mark.parametrize(
    "content",
    [None, "not json", json.dumps(["pro"]), json.dumps({"products": ["pro"]}), json.dumps({"products": {"p": "pro"}})],
    ids=["missing file", "not json", "not an object", "products not a mapping", "entitlements not a list"],
)
def test_a_bad_catalog_file_fails_fast(tmp_path, content):
    catalog_file = tmp_path / "catalog.json"
    if content is not None:
        catalog_file.write_text(content)
    with pytest.raises(ConfigurationError, match="CATALOG_FILE"):
        settings(CATALOG_FILE=str(catalog_file))


def test_a_secret_set_in_the_environment_wins_over_the_secret_store(monkeypatch):
    # GIVEN the secret both in the environment and (on AWS) in a Secrets Manager secret
    from aws_lambda_powertools.utilities import parameters

    def secret_store_must_not_be_read(*args, **kwargs):
        raise AssertionError("the environment value should have been used")

    monkeypatch.setattr(parameters, "get_secret", secret_store_must_not_be_read)
    parsed = settings(STRIPE_WEBHOOK_SECRET=WEBHOOK_SECRET, SECRETS_ID="parity/secrets")

    # THEN the environment value is used
    assert parsed.stripe.webhook_secret.get() == WEBHOOK_SECRET


def test_a_secret_not_in_the_environment_is_read_from_the_secret_store(monkeypatch):
    from aws_lambda_powertools.utilities import parameters

    store = {"parity/secrets": {"STRIPE_WEBHOOK_SECRET": WEBHOOK_SECRET}}
    monkeypatch.setattr(parameters, "get_secret", lambda name, transform=None, max_age=None: store[name])
    parsed = settings(SECRETS_ID="parity/secrets")

    assert parsed.stripe.webhook_secret.get() == WEBHOOK_SECRET
    assert parsed.stripe.api_key.get() is None  # an empty placeholder is no secret


def test_an_empty_environment_value_is_no_secret():
    assert settings(STRIPE_WEBHOOK_SECRET="").stripe.webhook_secret.get() is None


def test_secret_values_never_appear_in_a_repr():
    parsed = settings(STRIPE_WEBHOOK_SECRET=WEBHOOK_SECRET, STRIPE_API_KEY="sk_test_secretkey")
    for text in (repr(parsed), str(parsed), repr(parsed.stripe.webhook_secret)):
        assert WEBHOOK_SECRET not in text
        assert "sk_test_secretkey" not in text
    assert "STRIPE_WEBHOOK_SECRET" in repr(parsed.stripe.webhook_secret)


def test_settings_are_frozen():
    parsed = settings()
    with pytest.raises(AttributeError):
        parsed.core.strategy = Strategy.ALL  # type: ignore[misc]
    with pytest.raises(AttributeError):
        parsed.core = parsed.core  # type: ignore[misc]
    with pytest.raises(AttributeError):
        Secret("X", "v").value = "w"  # type: ignore[misc]


@pytest.mark.parametrize("base", ["http://127.0.0.1:12111", "http://127.0.0.1:12111/"])
def test_the_stripe_api_base_works_with_or_without_a_trailing_slash(base):
    assert settings(STRIPE_API_BASE=base).stripe.api_base == "http://127.0.0.1:12111"


def test_aws_resource_names_come_from_the_environment():
    parsed = settings(TABLE_NAME="parity-prod", EVENTS_QUEUE_URL="https://sqs/q.fifo", EVENT_BUS_NAME="bus")
    assert (parsed.aws.table_name, parsed.aws.events_queue_url, parsed.aws.event_bus_name) == (
        "parity-prod",
        "https://sqs/q.fifo",
        "bus",
    )


@pytest.mark.parametrize(
    "name", ["EVENTS_QUEUE_URL", "RECONCILE_QUEUE_URL", "STRIPE_API_BASE", "APPLE_API_BASE", "GOOGLE_API_BASE", "GOOGLE_OIDC_CERTS_URL"]
)
@pytest.mark.parametrize("value", ["127.0.0.1:12111", "ftp://example.com", "https://", "not a url"])
def test_a_url_that_is_not_one_fails_fast_naming_its_variable(name, value):
    with pytest.raises(ConfigurationError, match=f"{name} must be an http"):
        settings(**{name: value})


def test_a_resource_a_service_needs_is_a_configuration_error_when_unset():
    # GIVEN no queue and no bus configured
    parsed = settings()
    # THEN asking for one names the missing variable
    for ask, name in (
        (parsed.aws.events_queue, "EVENTS_QUEUE_URL"),
        (parsed.aws.reconcile_queue, "RECONCILE_QUEUE_URL"),
        (parsed.aws.event_bus, "EVENT_BUS_NAME"),
    ):
        with pytest.raises(ConfigurationError, match=f"{name} is not set"):
            ask()
    configured = settings(EVENTS_QUEUE_URL="https://sqs/q.fifo", RECONCILE_QUEUE_URL="http://localhost:5000/r", EVENT_BUS_NAME="b")
    assert (configured.aws.events_queue(), configured.aws.reconcile_queue(), configured.aws.event_bus()) == (
        "https://sqs/q.fifo",
        "http://localhost:5000/r",
        "b",
    )


def test_the_receive_counts_come_from_the_environment():
    assert (settings().redelivery.max_receive_count, settings().redelivery.unresolved_after_receives) == (None, 8)
    parsed = settings(MAX_RECEIVE_COUNT="50", UNRESOLVED_AFTER_RECEIVES="2")
    assert (parsed.redelivery.max_receive_count, parsed.redelivery.unresolved_after_receives) == (50, 2)


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"MAX_RECEIVE_COUNT": "fifty"}, "MAX_RECEIVE_COUNT must be a whole number"),
        ({"MAX_RECEIVE_COUNT": "0"}, "MAX_RECEIVE_COUNT must be at least 1"),
        ({"UNRESOLVED_AFTER_RECEIVES": "0"}, "UNRESOLVED_AFTER_RECEIVES must be at least 1"),
        ({"MAX_RECEIVE_COUNT": "10", "UNRESOLVED_AFTER_RECEIVES": "11"}, "must not exceed MAX_RECEIVE_COUNT"),
    ],
)
def test_unusable_receive_counts_fail_fast(env, named):
    with pytest.raises(ConfigurationError, match=named):
        settings(**env)


def test_the_template_passes_its_max_receive_count_to_the_functions():
    from local.resources import _Tag, load_template

    template = load_template()
    passed = template["Globals"]["Function"]["Environment"]["Variables"]["MAX_RECEIVE_COUNT"]
    redrives = [
        resource["Properties"]["RedrivePolicy"]["maxReceiveCount"]
        for resource in template["Resources"].values()
        if "RedrivePolicy" in resource.get("Properties", {})
    ]
    # THEN one parameter sets it: the queues' redrive policies and the functions' environment
    assert isinstance(passed, _Tag) and passed.value == "MaxReceiveCount"
    assert redrives and all(isinstance(r, _Tag) and r.value == "MaxReceiveCount" for r in redrives)
