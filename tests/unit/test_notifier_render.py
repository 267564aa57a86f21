"""Alert messages say what changed, why, the figures and the service level owed."""

from __future__ import annotations

import json

import pytest

from schemas import Risk
from streams.notifier.render import render
from streams.notifier.routing import Recipient, RouteSource
from streams.notifier.rules import Alert, decide
from streams.notifier.testing import RISING_STAR_REASON, classification, tier_changed
from tiering.policy import default_policy

POLICY = default_policy()
RECIPIENT = Recipient("m-1", "Ada", "ada@example.com", "U123ABC", RouteSource.PROFILE)


def _alert(customer: str = "c-1", previous: str = "B", current: str = "A") -> Alert:
    alert = decide(
        tier_changed(customer, classification(previous), classification(current)), POLICY
    )
    assert alert is not None
    return alert


def test_single_alert_text_has_change_reasons_figures_and_service_level() -> None:
    message = render([_alert()], RECIPIENT)
    assert "tier upgrade" in message.subject
    assert "tier: B -> A" in message.text
    assert "top 4.1 % of 12,904 active customers" in message.text
    assert "[tier.abc_rank]" in message.text
    assert "monetary 48,210.00" in message.text
    assert POLICY.tier("A").service_level in message.text


def test_rising_star_alert_says_why_in_text_payload_and_slack() -> None:
    event = tier_changed("c-1", classification("C"), classification("C", rising_star=True))
    alert = decide(event, POLICY)
    assert alert is not None
    message = render([alert], RECIPIENT)
    assert "customer c-1: rising star" in message.subject
    assert "rising_star: no -> yes" in message.text
    assert f"{RISING_STAR_REASON.text} [tier.rising_star]" in message.text
    assert RISING_STAR_REASON.model_dump(mode="json") in message.payload["alerts"][0]["reasons"]
    assert RISING_STAR_REASON.text in json.dumps(message.slack)


def test_single_alert_idempotency_key_is_the_event_id() -> None:
    alert = _alert()
    message = render([alert], RECIPIENT)
    assert message.idempotency_key == alert.event_id
    assert message.payload["type"] == "tierstream.alert"
    assert [item["event_id"] for item in message.payload["alerts"]] == [alert.event_id]


def test_digest_summarises_many_changes_in_one_message() -> None:
    alerts = [_alert(f"c-{n}") for n in range(4)]
    message = render(alerts, RECIPIENT)
    assert message.subject == "[tierstream] 4 customer changes"
    assert message.payload["type"] == "tierstream.alert_digest"
    assert message.payload["count"] == 4
    assert set(message.event_ids) == {alert.event_id for alert in alerts}
    assert all(f"customer c-{n}" in message.text for n in range(4))


def test_payload_is_plain_json() -> None:
    payload = render([_alert()], RECIPIENT).payload
    item = json.loads(json.dumps(payload))["alerts"][0]
    assert item["changes"] == [{"field": "tier", "from": "B", "to": "A"}]
    assert item["metrics"]["monetary"] == "48210.00"
    assert item["tier_label"] == "core"


def test_slack_payload_mentions_a_slack_member_id() -> None:
    slack = render([_alert()], RECIPIENT).slack
    assert slack["text"].startswith("<@U123ABC>")
    assert slack["blocks"][0]["type"] == "header"
    assert "tier: B -> A" in slack["blocks"][1]["text"]["text"]


def test_at_risk_alert_lists_the_risk_change() -> None:
    event = tier_changed("c-9", classification("A"), classification("A", risk=Risk.AT_RISK))
    alert = decide(event, POLICY)
    assert alert is not None
    assert "risk: ok -> at_risk" in render([alert], RECIPIENT).text


def test_render_refuses_an_empty_message() -> None:
    with pytest.raises(ValueError, match="at least one alert"):
        render([], RECIPIENT)
