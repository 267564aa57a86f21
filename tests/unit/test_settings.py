"""Configuration comes from TIERSTREAM_* variables and fails fast naming the field."""

from __future__ import annotations

import pytest

from streams.settings import Clock, ConfigError, load_settings


def test_defaults_match_the_design_contract(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("TIERSTREAM_KAFKA_BOOTSTRAP", "TIERSTREAM_REDIS_URL", "TIERSTREAM_CLOCK"):
        monkeypatch.delenv(name, raising=False)
    settings = load_settings()
    assert settings.topics.orders == "orders"
    assert settings.topics.tier_changes == "tier-changes"
    assert settings.topics.dead_letter == "tierstream-dlq"
    assert settings.processing_guarantee == "exactly_once"
    assert settings.clock is Clock.WALL


def test_flat_bootstrap_and_redis_url_variables_set_the_nested_groups(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TIERSTREAM_KAFKA_BOOTSTRAP", "127.0.0.1:19092")
    monkeypatch.setenv("TIERSTREAM_REDIS_URL", "redis://127.0.0.1:16379/0")
    settings = load_settings()
    assert settings.kafka.bootstrap == "127.0.0.1:19092"
    assert settings.redis.url.get_secret_value() == "redis://127.0.0.1:16379/0"


def test_nested_variables_use_a_double_underscore(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TIERSTREAM_TOPICS__PARTITIONS", "8")
    assert load_settings().topics.partitions == 8


def test_bad_value_fails_fast_naming_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TIERSTREAM_PROCESSING_GUARANTEE", "maybe_once")
    with pytest.raises(ConfigError, match="TIERSTREAM_PROCESSING_GUARANTEE"):
        load_settings()


def test_sasl_without_credentials_is_rejected(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TIERSTREAM_KAFKA__SECURITY_PROTOCOL", "SASL_SSL")
    with pytest.raises(ConfigError, match="TIERSTREAM_KAFKA"):
        load_settings()


def test_secrets_are_not_shown_in_the_settings_repr(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TIERSTREAM_REDIS_URL", "redis://:hunter2@127.0.0.1:6379/0")
    assert "hunter2" not in repr(load_settings())
