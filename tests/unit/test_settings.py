"""Configuration comes from TIERSTREAM_* variables and fails fast naming the field."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

import tiering
from streams.settings import (
    Clock,
    ConfigError,
    load_settings,
    with_policy_value_model,
)
from streams.worker.model_source import value_models_of
from tests.unit.cdnow import PUBLISHED_MODEL_JSON as _MODEL
from tiering import Policy, load_policy


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


def test_clv_model_variable_gives_the_worker_its_value_model(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    path = tmp_path / "model.json"
    path.write_text(_MODEL, encoding="utf-8")
    monkeypatch.setenv("TIERSTREAM_CLV_MODEL", str(path))
    models = value_models_of(load_settings())
    assert models is not None
    model = models.current()
    assert model is not None
    assert model.bg_nbd.r == 0.243


def test_no_clv_model_variable_means_no_value_model(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TIERSTREAM_CLV_MODEL", raising=False)
    assert value_models_of(load_settings()) is None


def test_bad_clv_model_file_fails_fast_naming_the_variable_and_the_model_field(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    path = tmp_path / "model.json"
    path.write_text(_MODEL.replace('"r": 0.243', '"r": -1'), encoding="utf-8")
    monkeypatch.setenv("TIERSTREAM_CLV_MODEL", str(path))
    with pytest.raises(ConfigError, match=r"TIERSTREAM_CLV_MODEL.*bg_nbd\.r"):
        load_settings()


def test_missing_clv_model_file_fails_fast(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("TIERSTREAM_CLV_MODEL", str(tmp_path / "absent.json"))
    with pytest.raises(ConfigError, match=r"TIERSTREAM_CLV_MODEL.*cannot read"):
        load_settings()


def test_clv_model_check_seconds_sets_how_often_the_worker_looks_at_the_model_file(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    path = tmp_path / "model.json"
    path.write_text(_MODEL, encoding="utf-8")
    monkeypatch.setenv("TIERSTREAM_CLV_MODEL", str(path))
    monkeypatch.setenv("TIERSTREAM_CLV_MODEL_CHECK_SECONDS", "300")
    assert load_settings().clv_model_check_seconds == 300


def _policy_naming(tmp_path: Path, model_file: str) -> Policy:
    document = yaml.safe_load(
        (Path(tiering.__file__).parent / "default_policy.yaml").read_text(encoding="utf-8")
    )
    document["value_model"] = model_file
    path = tmp_path / "policy.yaml"
    path.write_text(yaml.safe_dump(document), encoding="utf-8")
    return load_policy(path)


def test_a_policy_can_name_the_value_model_beside_it(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("TIERSTREAM_CLV_MODEL", raising=False)
    (tmp_path / "model.json").write_text(_MODEL, encoding="utf-8")
    settings = with_policy_value_model(load_settings(), _policy_naming(tmp_path, "model.json"))
    assert settings.clv_model == tmp_path / "model.json"


def test_the_clv_model_variable_wins_over_the_policy(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    variable = tmp_path / "from-variable.json"
    variable.write_text(_MODEL, encoding="utf-8")
    monkeypatch.setenv("TIERSTREAM_CLV_MODEL", str(variable))
    (tmp_path / "model.json").write_text(_MODEL, encoding="utf-8")
    settings = with_policy_value_model(load_settings(), _policy_naming(tmp_path, "model.json"))
    assert settings.clv_model == variable


def test_a_bad_model_named_by_the_policy_fails_naming_the_policy_field(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("TIERSTREAM_CLV_MODEL", raising=False)
    (tmp_path / "model.json").write_text('{"bg_nbd": {}}', encoding="utf-8")
    with pytest.raises(ConfigError, match="policy value_model"):
        with_policy_value_model(load_settings(), _policy_naming(tmp_path, "model.json"))
