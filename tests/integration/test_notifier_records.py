"""What the notifier keeps on real Kafka and Redis: dead letters, a bounded park list, and
replays that send each parked alert once."""

from __future__ import annotations

import asyncio
import base64
import json
from typing import Any

import pytest
import redis.asyncio as redis
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from prometheus_client import CollectorRegistry

from schemas import Lifecycle
from streams.cli.main import main
from streams.metrics import NotifierMetrics
from streams.notifier.delivery import Deliverer, SystemClock
from streams.notifier.keys import Keys
from streams.notifier.pacing import Backoff
from streams.notifier.routing import Recipient, RouteSource
from streams.notifier.rules import Alert, decide
from streams.notifier.testing import classification, tier_changed
from tests.conftest import Infra
from tests.integration.notifier_harness import (
    SECRET,
    WebhookSink,
    create_topics,
    event_records,
    history,
    notifier_env,
    produce,
    running_notifier,
    wait_until,
)
from tiering import default_policy

pytestmark = pytest.mark.integration

OWNER = Recipient("owner", None, None, None, RouteSource.DEFAULT)


def _alert(customer: str) -> Alert:
    event = tier_changed(
        customer, classification("B"), classification("B", lifecycle=Lifecycle.DECLINE)
    )
    alert = decide(event, default_policy())
    assert alert is not None
    return alert


def _deliverer(
    client: redis.Redis, prefix: str, parked_max: int = 10_000, registry: Any = None
) -> Deliverer:
    return Deliverer(
        client,
        Keys(prefix),
        NotifierMetrics.create(registry or CollectorRegistry()),
        Backoff(0.01, 0.1, 3),
        3600,
        SystemClock(),
        parked_max_entries=parked_max,
    )


def _replay_env(
    monkeypatch: pytest.MonkeyPatch, infra: Infra, prefix: str, webhook_url: str
) -> None:
    """What `tierstream alerts replay` reads: this test's Redis keys and the local sink."""
    monkeypatch.setenv("TIERSTREAM_REDIS_URL", infra.redis_url)
    monkeypatch.setenv("TIERSTREAM_REDIS__KEY_PREFIX", prefix)
    monkeypatch.setenv("TIERSTREAM_NOTIFIER__WEBHOOK__URL", webhook_url)
    monkeypatch.setenv("TIERSTREAM_NOTIFIER__WEBHOOK__SECRET", SECRET)
    monkeypatch.setenv("TIERSTREAM_NOTIFIER__WEBHOOK__ALLOW_PLAIN_HTTP", "true")  # local sink


async def _dead_letters(infra: Infra, topic: str, count: int) -> list[dict[str, Any]]:
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=infra.kafka_bootstrap, auto_offset_reset="earliest"
    )
    await consumer.start()
    letters: list[dict[str, Any]] = []
    try:
        async with asyncio.timeout(30):
            while len(letters) < count:
                batch = await consumer.getmany(timeout_ms=500)
                letters += [json.loads(r.value) for rs in batch.values() for r in rs if r.value]
    finally:
        await consumer.stop()
    return letters


async def test_invalid_tier_changed_records_go_to_the_dead_letter_topic_with_the_reason(
    infra: Infra, unique_name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    topics = await create_topics(infra, unique_name, partitions=1)
    events = history(["c-1"])
    bad = [("c-bad", b"not json"), ("c-bad", b'{"event_id": 1}')]
    await produce(infra, topics[0], [*bad, *event_records(events.events)])
    sink = WebhookSink()
    url = await sink.start()
    env = notifier_env(
        infra, unique_name, topics, default_owner="owner", webhook__url=url, webhook__secret=SECRET
    )
    try:
        async with running_notifier(env, monkeypatch):
            await wait_until(
                lambda: set(sink.deliveries()) >= events.alerting, 30, "valid alerts delivered"
            )
    finally:
        await sink.close()
    admin = AIOKafkaAdminClient(bootstrap_servers=infra.kafka_bootstrap)
    await admin.start()
    try:
        committed = await admin.list_consumer_group_offsets(f"{unique_name}-notifier")
    finally:
        await admin.close()
    # Every record is committed, the dead-lettered ones too.
    assert committed[TopicPartition(topics[0], 0)].offset == len(bad) + len(events.events)
    letters = await _dead_letters(infra, f"{unique_name}-dlq", len(bad))
    assert [letter["offset"] for letter in letters] == [0, 1]
    assert {letter["topic"] for letter in letters} == {topics[0]}
    assert [letter["error_type"] for letter in letters] == ["json_invalid", "schema_invalid"]
    assert all(letter["reason"] for letter in letters)
    assert [base64.b64decode(letter["value_b64"]) for letter in letters] == [v for _, v in bad]


async def test_the_park_list_keeps_the_newest_entries_up_to_its_bound_and_counts_the_rest(
    infra: Infra, unique_name: str
) -> None:
    client = redis.from_url(infra.redis_url)
    registry = CollectorRegistry()
    deliverer = _deliverer(client, unique_name, parked_max=3, registry=registry)
    alerts = [_alert(f"c-{n}") for n in range(5)]
    try:
        for alert in alerts:
            await deliverer.park("webhook", [alert], OWNER, "webhook: HTTP 503", 3)
        parked = await deliverer.parked()
        marks = await deliverer.marked("webhook", [alert.event_id for alert in alerts])
    finally:
        await client.aclose()
    assert [entry.event_ids for entry in parked] == [(alert.event_id,) for alert in alerts[2:]]
    assert marks == {alert.event_id for alert in alerts}  # dropped ones stay marked: no resend
    assert registry.get_sample_value("tierstream_notifier_parked_trimmed_total") == 2
    assert registry.get_sample_value("tierstream_notifier_parked_entries") == 3


async def test_replay_sends_an_alert_parked_twice_once_and_marks_it_sent(
    infra: Infra, unique_name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = redis.from_url(infra.redis_url)
    deliverer = _deliverer(client, unique_name)
    alert = _alert("c-1")
    sink = WebhookSink()
    url = await sink.start()
    _replay_env(monkeypatch, infra, unique_name, url)
    try:
        # Two entries for one alert: two replicas parked it, or a replay re-parked it.
        for _ in range(2):
            await deliverer.store.add("webhook", [alert], OWNER, "webhook: HTTP 503", 3)
        assert await asyncio.to_thread(main, ["alerts", "replay"]) == 0
        assert await asyncio.to_thread(main, ["alerts", "replay"]) == 0
        mark = await client.get(Keys(unique_name).sent("webhook", alert.event_id))
        left = await deliverer.parked()
    finally:
        await sink.close()
        await client.aclose()
    assert sink.deliveries() == {alert.event_id: 1}
    assert mark == b"sent"
    assert left == []


async def test_replay_skips_an_alert_already_marked_sent_and_drops_its_entry(
    infra: Infra, unique_name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = redis.from_url(infra.redis_url)
    deliverer = _deliverer(client, unique_name)
    sent, waiting = _alert("c-1"), _alert("c-2")
    sink = WebhookSink()
    url = await sink.start()
    _replay_env(monkeypatch, infra, unique_name, url)
    try:
        # A digest of both was parked; one of them went out since (a replay that stopped
        # after sending, before dropping the entry, leaves exactly this).
        await deliverer.park("webhook", [sent, waiting], OWNER, "webhook: HTTP 503", 3)
        await deliverer.mark("webhook", [sent.event_id], "sent", overwrite=True)
        assert await asyncio.to_thread(main, ["alerts", "replay"]) == 0
        left = await deliverer.parked()
    finally:
        await sink.close()
        await client.aclose()
    assert sink.deliveries() == {waiting.event_id: 1}
    assert left == []


async def test_a_live_delivery_after_a_replay_is_a_duplicate(
    infra: Infra, unique_name: str
) -> None:
    from streams.notifier.channels import WebhookChannel
    from streams.notifier.delivery import PendingAlert
    from streams.settings import WebhookSettings

    client = redis.from_url(infra.redis_url)
    deliverer = _deliverer(client, unique_name)
    alert = _alert("c-1")
    sink = WebhookSink()
    url = await sink.start()
    channel = WebhookChannel(
        WebhookSettings(url=url, secret=SECRET, allow_plain_http=True), SystemClock().time
    )
    try:
        await deliverer.store.add("webhook", [alert], OWNER, "webhook: HTTP 503", 3, mark=False)
        assert await deliverer.replay([channel]) == (1, 0)
        # The record is re-read after a crash before its offset was committed.
        await deliverer.deliver(channel, [PendingAlert(alert, OWNER, 0.0)], OWNER)
    finally:
        await channel.close()
        await sink.close()
        await client.aclose()
    assert sink.deliveries() == {alert.event_id: 1}
