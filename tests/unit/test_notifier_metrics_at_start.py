"""The notifier exports every labelled series it can move at 0 from start-up, so a healthy
notifier's delivery panels and failing/parked alert rules show 0, not "no data"."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry
from pydantic import SecretStr

from streams.metrics import (
    CUSTOMER_RECORD_OUTCOMES,
    PUSH_ALERT_OUTCOMES,
    STREAM_ALERT_OUTCOMES,
    TIER_CHANGE_RECORD_OUTCOMES,
)
from streams.notifier.service import Notifier
from streams.settings import (
    EmailSettings,
    NotifierSettings,
    Settings,
    TopicSettings,
    WebhookSettings,
)
from tiering import default_policy

NOTIFIER_CODE = Path(__file__).resolve().parents[2] / "streams" / "notifier"
TOPICS = TopicSettings(tier_changes="t-tier-changes", customers="t-customers")


def _started(notifier: NotifierSettings) -> CollectorRegistry:
    registry = CollectorRegistry()
    Notifier(Settings(topics=TOPICS, notifier=notifier), default_policy(), registry)
    return registry


def _alert_series(registry: CollectorRegistry) -> dict[tuple[str, str], float]:
    return {
        (sample.labels["channel"], sample.labels["outcome"]): sample.value
        for family in registry.collect()
        if family.name == "tierstream_alerts"
        for sample in family.samples
        if sample.name == "tierstream_alerts_total"
    }


def test_every_channel_and_outcome_is_exported_at_zero_before_any_record() -> None:
    registry = _started(
        NotifierSettings(
            webhook=WebhookSettings(
                url="http://127.0.0.1:9/hook", secret=SecretStr("k"), allow_plain_http=True
            ),
            email=EmailSettings(host="smtp.example.com"),
        )
    )
    expected = {
        **{(channel, o): 0.0 for channel in ("webhook", "email") for o in PUSH_ALERT_OUTCOMES},
        **{("redis", outcome): 0.0 for outcome in STREAM_ALERT_OUTCOMES},
    }
    assert _alert_series(registry) == expected
    for channel in ("webhook", "email"):
        count = registry.get_sample_value(
            "tierstream_alert_delivery_latency_seconds_count", {"channel": channel}
        )
        assert count == 0.0
    records = {
        (topic, outcome): registry.get_sample_value(
            "tierstream_notifier_records_total", {"topic": topic, "outcome": outcome}
        )
        for topic, outcomes in (
            ("t-tier-changes", TIER_CHANGE_RECORD_OUTCOMES),
            ("t-customers", CUSTOMER_RECORD_OUTCOMES),
        )
        for outcome in outcomes
    }
    assert set(records.values()) == {0.0}
    assert registry.get_sample_value("tierstream_notifier_pending_alerts") == 0.0


def test_only_the_enabled_channels_get_series() -> None:
    registry = _started(NotifierSettings(redis_streams=False))
    assert _alert_series(registry) == {}
    assert (
        registry.get_sample_value(
            "tierstream_alert_delivery_latency_seconds_count", {"channel": "webhook"}
        )
        is None
    )


def _outcome_values(tree: ast.AST) -> set[str]:
    """String constants passed as `outcome=` or assigned to a name `outcome`."""
    nodes = list(ast.walk(tree))
    values = [n.value for n in nodes if isinstance(n, ast.keyword) and n.arg == "outcome"]
    values += [
        n.value
        for n in nodes
        if isinstance(n, ast.Assign)
        and any(isinstance(target, ast.Name) and target.id == "outcome" for target in n.targets)
    ]
    return {
        leaf.value
        for value in values
        for leaf in ast.walk(value)
        if isinstance(leaf, ast.Constant) and isinstance(leaf.value, str)
    }


@pytest.mark.parametrize("path", sorted(NOTIFIER_CODE.glob("*.py")), ids=lambda p: p.name)
def test_the_notifier_moves_no_outcome_it_does_not_start_at_zero(path: Path) -> None:
    known = {
        *PUSH_ALERT_OUTCOMES,
        *STREAM_ALERT_OUTCOMES,
        *TIER_CHANGE_RECORD_OUTCOMES,
        *CUSTOMER_RECORD_OUTCOMES,
    }
    assert _outcome_values(ast.parse(path.read_text())) <= known


def test_the_outcome_scan_sees_the_notifier_code() -> None:
    # Guards the scan above: were it to find nothing, it would pass vacuously.
    found = set().union(
        *(_outcome_values(ast.parse(path.read_text())) for path in NOTIFIER_CODE.glob("*.py"))
    )
    assert {"sent", "failed", "parked", "duplicate", "skipped", "no_alert", "erased"} <= found
