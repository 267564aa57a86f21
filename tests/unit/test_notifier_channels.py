"""Notifier settings and the parts of the channels that need no network."""

from __future__ import annotations

import json

import pytest
from pydantic import SecretStr

from streams.notifier.channels import EmailChannel, WebhookChannel
from streams.notifier.render import Message, render
from streams.notifier.routing import Recipient, RouteSource
from streams.notifier.rules import decide
from streams.notifier.signing import verify_signature
from streams.notifier.testing import classification, tier_changed
from streams.settings import ConfigError, EmailSettings, WebhookSettings, load_settings
from tiering.policy import default_policy

RECIPIENT = Recipient("m-1", "Ada", "ada@example.com", None, RouteSource.PROFILE)


def _message() -> Message:
    alert = decide(tier_changed("c-1", classification("B"), classification("A")), default_policy())
    assert alert is not None
    return render([alert], RECIPIENT)


def test_notifier_settings_come_from_nested_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TIERSTREAM_NOTIFIER__DEFAULT_OWNER", "owner-1")
    monkeypatch.setenv("TIERSTREAM_NOTIFIER__WEBHOOK__URL", "https://hooks.example.com/x")
    monkeypatch.setenv("TIERSTREAM_NOTIFIER__WEBHOOK__SECRET", "s3cret")
    monkeypatch.setenv("TIERSTREAM_REDIS__KEY_PREFIX", "blue")
    settings = load_settings()
    assert settings.notifier.default_owner == "owner-1"
    assert settings.notifier.webhook.secret == SecretStr("s3cret")
    assert settings.redis.key_prefix == "blue"
    assert "s3cret" not in repr(settings)


def test_a_webhook_without_a_secret_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TIERSTREAM_NOTIFIER__WEBHOOK__URL", "https://hooks.example.com/x")
    with pytest.raises(ConfigError, match="TIERSTREAM_NOTIFIER__WEBHOOK"):
        load_settings()


def test_channels_are_off_unless_configured(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("TIERSTREAM_NOTIFIER__WEBHOOK__URL", "TIERSTREAM_NOTIFIER__EMAIL__HOST"):
        monkeypatch.delenv(name, raising=False)
    notifier = load_settings().notifier
    assert notifier.webhook.url is None and notifier.email.host is None
    assert notifier.redis_streams


def test_webhook_body_is_the_json_payload_or_the_slack_payload() -> None:
    message = _message()
    plain = WebhookSettings(url="http://sink/x", secret=SecretStr("k"), allow_plain_http=True)
    slack = WebhookSettings(
        url="http://sink/x", secret=SecretStr("k"), allow_plain_http=True, format="slack"
    )
    assert json.loads(WebhookChannel(plain, lambda: 0.0).body(message)) == message.payload
    assert "blocks" in json.loads(WebhookChannel(slack, lambda: 0.0).body(message))


def test_signed_headers_verify_against_the_sent_body() -> None:
    from streams.notifier.signing import signature_headers

    message = _message()
    body = WebhookChannel(
        WebhookSettings(url="http://sink/x", secret=SecretStr("k"), allow_plain_http=True),
        lambda: 1e9,
    ).body(message)
    headers = signature_headers("k", body, 1e9, message.idempotency_key)
    assert verify_signature(
        "k", body, headers["X-Tierstream-Timestamp"], headers["X-Tierstream-Signature"], now=1e9
    )


def test_email_carries_a_stable_message_id_and_the_payload() -> None:
    message = _message()
    channel = EmailChannel(EmailSettings(host="smtp.example.com"))
    email = channel.compose(message, RECIPIENT)
    assert email["To"] == "ada@example.com"
    assert email["Message-ID"] == f"<{message.idempotency_key}@tierstream>"
    assert email["Subject"] == message.subject
    attachment = next(email.iter_attachments())
    assert json.loads(attachment.get_content())["alerts"][0]["event_id"] == message.event_ids[0]


def test_email_needs_an_address() -> None:
    channel = EmailChannel(EmailSettings(host="smtp.example.com"))
    assert channel.accepts(RECIPIENT)
    assert not channel.accepts(Recipient("m-2", None, None, None, RouteSource.DEFAULT))
