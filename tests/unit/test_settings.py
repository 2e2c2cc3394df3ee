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
    assert parsed.strategy is Strategy.LAST
    assert parsed.offline_grace == timedelta(seconds=86400)
    assert parsed.catalog.products == {}
    assert parsed.table_name == "parity"
    assert parsed.stripe_webhook_secret.get() is None
    assert parsed.stripe_api_base is None


@pytest.mark.parametrize(
    ("text", "strategy"), [("ALL", Strategy.ALL), ("first", Strategy.FIRST), ("Last", Strategy.LAST)]
)
def test_the_strategy_is_read_case_insensitively(text, strategy):
    assert settings(ENTITLEMENT_STRATEGY=text).strategy is strategy


def test_an_unknown_strategy_fails_fast():
    with pytest.raises(ConfigurationError, match="ENTITLEMENT_STRATEGY"):
        settings(ENTITLEMENT_STRATEGY="NEWEST")


def test_the_offline_grace_is_read_in_seconds():
    assert settings(OFFLINE_GRACE_SECONDS="3600").offline_grace == timedelta(hours=1)
    assert settings(OFFLINE_GRACE_SECONDS="0").offline_grace == timedelta(0)


def test_the_bound_on_sharing_defaults_to_ten_and_is_read_from_the_environment():
    assert settings().max_shared_owners == 10
    assert settings(MAX_SHARED_OWNERS="60").max_shared_owners == 60
    assert settings(MAX_SHARED_OWNERS="1").max_shared_owners == 1


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
    assert settings(CATALOG_FILE=str(catalog_file)).catalog.products == {
        "price_pro_monthly": ("pro",),
        "prod_pro": ("pro", "extra"),
    }


def test_the_shipped_catalog_is_usable():
    from pathlib import Path

    import parity

    shipped = Path(parity.__file__).parent.parent / "catalog.json"
    assert "pro" in settings(CATALOG_FILE=str(shipped)).catalog.products["price_pro_monthly"]


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
    assert parsed.stripe_webhook_secret.get() == WEBHOOK_SECRET


def test_a_secret_not_in_the_environment_is_read_from_the_secret_store(monkeypatch):
    from aws_lambda_powertools.utilities import parameters

    store = {"parity/secrets": {"STRIPE_WEBHOOK_SECRET": WEBHOOK_SECRET}}
    monkeypatch.setattr(parameters, "get_secret", lambda name, transform=None, max_age=None: store[name])
    parsed = settings(SECRETS_ID="parity/secrets")

    assert parsed.stripe_webhook_secret.get() == WEBHOOK_SECRET
    assert parsed.stripe_api_key.get() is None  # an empty placeholder is no secret


def test_an_empty_environment_value_is_no_secret():
    assert settings(STRIPE_WEBHOOK_SECRET="").stripe_webhook_secret.get() is None


def test_secret_values_never_appear_in_a_repr():
    parsed = settings(STRIPE_WEBHOOK_SECRET=WEBHOOK_SECRET, STRIPE_API_KEY="sk_test_secretkey")
    for text in (repr(parsed), str(parsed), repr(parsed.stripe_webhook_secret)):
        assert WEBHOOK_SECRET not in text
        assert "sk_test_secretkey" not in text
    assert "STRIPE_WEBHOOK_SECRET" in repr(parsed.stripe_webhook_secret)


def test_settings_are_frozen():
    parsed = settings()
    with pytest.raises(AttributeError):
        parsed.strategy = Strategy.ALL  # type: ignore[misc]
    with pytest.raises(AttributeError):
        Secret("X", "v").value = "w"  # type: ignore[misc]


@pytest.mark.parametrize("base", ["http://127.0.0.1:12111", "http://127.0.0.1:12111/"])
def test_the_stripe_api_base_works_with_or_without_a_trailing_slash(base):
    assert settings(STRIPE_API_BASE=base).stripe_api_base == "http://127.0.0.1:12111"


def test_aws_resource_names_come_from_the_environment():
    parsed = settings(TABLE_NAME="parity-prod", EVENTS_QUEUE_URL="https://sqs/q.fifo", EVENT_BUS_NAME="bus")
    assert (parsed.table_name, parsed.events_queue_url, parsed.event_bus_name) == (
        "parity-prod",
        "https://sqs/q.fifo",
        "bus",
    )
