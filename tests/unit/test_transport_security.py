"""Secrets only cross the network encrypted: an SMTP password needs TLS, a webhook needs https
unless plain http is allowed explicitly. Both fail at start-up, naming the variable to fix."""

from __future__ import annotations

import asyncio
import socket

import pytest
from pydantic import SecretStr

from streams.kafka.security import explain_connection_failure
from streams.settings import ConfigError, KafkaSettings, load_settings

PASSWORD = "smtp-pass-8c1f"  # noqa: S105 - a test value


def _smtp(monkeypatch: pytest.MonkeyPatch, **values: str) -> None:
    monkeypatch.setenv("TIERSTREAM_NOTIFIER__EMAIL__HOST", "smtp.example.com")
    monkeypatch.setenv("TIERSTREAM_NOTIFIER__EMAIL__USERNAME", "alerts")
    monkeypatch.setenv("TIERSTREAM_NOTIFIER__EMAIL__PASSWORD", PASSWORD)
    for name, value in values.items():
        monkeypatch.setenv(f"TIERSTREAM_NOTIFIER__EMAIL__{name.upper()}", value)


def test_an_smtp_password_with_tls_off_fails_at_start_naming_the_password_variable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _smtp(monkeypatch)
    with pytest.raises(ConfigError, match="TIERSTREAM_NOTIFIER__EMAIL__PASSWORD") as raised:
        load_settings()
    assert "USE_TLS" in str(raised.value) and "START_TLS" in str(raised.value)
    assert PASSWORD not in str(raised.value)


def test_an_smtp_password_is_accepted_with_starttls(monkeypatch: pytest.MonkeyPatch) -> None:
    _smtp(monkeypatch, start_tls="true", port="587")
    assert load_settings().notifier.email.password == SecretStr(PASSWORD)


def test_an_smtp_password_is_accepted_with_implicit_tls(monkeypatch: pytest.MonkeyPatch) -> None:
    _smtp(monkeypatch, use_tls="true", port="465")
    assert load_settings().notifier.email.password == SecretStr(PASSWORD)


def test_smtp_without_a_password_may_stay_unencrypted(monkeypatch: pytest.MonkeyPatch) -> None:
    # A relay on the local network that takes mail without AUTH has no secret to protect.
    monkeypatch.setenv("TIERSTREAM_NOTIFIER__EMAIL__HOST", "relay.internal")
    assert load_settings().notifier.email.use_tls is False


def _webhook(monkeypatch: pytest.MonkeyPatch, url: str) -> None:
    monkeypatch.setenv("TIERSTREAM_NOTIFIER__WEBHOOK__URL", url)
    monkeypatch.setenv("TIERSTREAM_NOTIFIER__WEBHOOK__SECRET", "hook-secret")


def test_a_plain_http_webhook_is_refused_naming_the_flag_that_allows_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _webhook(monkeypatch, "http://hooks.example.com/tierstream")
    with pytest.raises(ConfigError, match="TIERSTREAM_NOTIFIER__WEBHOOK__ALLOW_PLAIN_HTTP=true"):
        load_settings()


def test_a_plain_http_webhook_is_accepted_with_the_explicit_flag(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _webhook(monkeypatch, "http://127.0.0.1:8080/hook")
    monkeypatch.setenv("TIERSTREAM_NOTIFIER__WEBHOOK__ALLOW_PLAIN_HTTP", "true")
    assert load_settings().notifier.webhook.url == "http://127.0.0.1:8080/hook"


def test_an_https_webhook_needs_no_flag(monkeypatch: pytest.MonkeyPatch) -> None:
    _webhook(monkeypatch, "https://hooks.example.com/tierstream")
    webhook = load_settings().notifier.webhook
    assert webhook.url == "https://hooks.example.com/tierstream"
    assert webhook.allow_plain_http is False


def test_an_unreachable_broker_is_explained_naming_the_bootstrap_variable() -> None:
    with socket.socket() as probe:  # a loopback port nobody listens on once closed
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    kafka = KafkaSettings(bootstrap=f"127.0.0.1:{port}")
    reason = asyncio.run(explain_connection_failure(kafka, timeout=5))
    assert f"TIERSTREAM_KAFKA__BOOTSTRAP=127.0.0.1:{port}" in reason
