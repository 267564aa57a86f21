"""The notifier against real Kafka and Redis: a tombstone on `customers` erases the customer's
read model entry, its alerts in every Redis alert stream and its parked deliveries, keeps
everyone else's, and a TierChanged written before the tombstone cannot bring it back."""

from __future__ import annotations

import json
import time
from datetime import timedelta
from typing import Any

import pytest
import redis.asyncio as redis
from aiokafka import AIOKafkaProducer

from schemas.profile import AccountManager
from streams.notifier.keys import Keys
from streams.notifier.read_model import ReadModel
from streams.notifier.service import Notifier
from streams.notifier.testing import classification, tier_changed
from tests.conftest import Infra
from tests.integration.notifier_harness import (
    SECRET,
    START,
    WebhookSink,
    create_topics,
    event_records,
    history,
    notifier_env,
    produce,
    profile_records,
    running_notifier,
    wait_until,
)

pytestmark = pytest.mark.integration

ERASED, KEPT = "c-erased", "c-kept"
MANAGER = AccountManager(id="m-1", name="Ada")


async def _stream_customers(client: redis.Redis, stream: str) -> list[str]:
    entries: Any = await client.xrange(stream)
    return [json.loads(fields[b"alert"])["customer_id"] for _, fields in entries]


async def _parked_customers(notifier: Notifier) -> list[str]:
    return [
        alert.event.customer_id
        for entry in await notifier.deliverer.store.entries()
        for alert in entry.alerts
    ]


async def _produce_at(infra: Infra, topic: str, key: str, value: bytes, at_ms: int) -> None:
    """One record with an explicit (create-time) timestamp."""
    producer = AIOKafkaProducer(bootstrap_servers=infra.kafka_bootstrap, acks="all")
    await producer.start()
    try:
        await producer.send_and_wait(topic, value, key=key.encode(), timestamp_ms=at_ms)
    finally:
        await producer.stop()


async def test_a_tombstone_erases_the_customer_from_the_read_model_alert_streams_and_park_list(
    infra: Infra, unique_name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    topics = await create_topics(infra, unique_name)
    await produce(infra, topics[1], profile_records({ERASED: MANAGER, KEPT: MANAGER}))
    events = history([ERASED, KEPT])
    await produce(infra, topics[0], event_records(events.events))
    keys = Keys(unique_name)
    streams = (keys.alerts, keys.manager_alerts(MANAGER.id))
    sink = WebhookSink(fail_every=1)  # refuses everything: every alert is parked
    url = await sink.start()
    client = redis.from_url(infra.redis_url)
    model = ReadModel(client, keys)
    env = notifier_env(
        infra, unique_name, topics, webhook__url=url, webhook__secret=SECRET, max_attempts="1"
    )
    try:
        async with running_notifier(env, monkeypatch) as notifier:

            async def everything_alerted_and_parked() -> bool:
                counts = [len(await _stream_customers(client, s)) for s in streams]
                counts.append(len(await _parked_customers(notifier)))
                return counts == [len(events.alerting)] * 3

            await wait_until(everything_alerted_and_parked, 30, "alerts streamed and parked")
            # Before the erase every place holds the customer (the control).
            before = [
                await model.get(ERASED) is not None,
                *[ERASED in await _stream_customers(client, s) for s in streams],
                ERASED in await _parked_customers(notifier),
            ]

            tombstone_ms = int(time.time() * 1000)
            await produce(infra, topics[1], [(ERASED, None)])

            async def erased() -> bool:
                return await model.get(ERASED) is None

            await wait_until(erased, 30, "read model entry erased")
            # The follower erases the streams and the park list after the read model.
            await wait_until(
                lambda: _no_trace(client, notifier, streams), 30, "alerts and parked erased"
            )

            # A TierChanged of the customer written before the tombstone, read after it,
            # then a newer one of the kept customer as proof that the first was read.
            late = tier_changed(
                ERASED,
                classification("A"),
                classification("B"),
                occurred_at=START + timedelta(days=30),
            )
            later = tier_changed(
                KEPT,
                classification("A"),
                classification("B"),
                occurred_at=START + timedelta(days=30),
            )
            await _produce_at(
                infra, topics[0], ERASED, late.model_dump_json().encode(), tombstone_ms - 1000
            )
            await produce(infra, topics[0], event_records([later]))

            async def kept_moved_on() -> bool:
                stored = await model.get(KEPT)
                return stored is not None and stored.event_id == later.event_id

            await wait_until(kept_moved_on, 30, "the later event of the kept customer applied")
            after = [
                await model.get(ERASED) is not None,
                *[ERASED in await _stream_customers(client, s) for s in streams],
                ERASED in await _parked_customers(notifier),
            ]
            kept = [KEPT in await _stream_customers(client, s) for s in streams] + [
                KEPT in await _parked_customers(notifier)
            ]
    finally:
        await sink.close()
        await client.aclose()
    assert before == [True, True, True, True]
    assert after == [False, False, False, False]
    assert kept == [True, True, True]


async def _no_trace(client: redis.Redis, notifier: Notifier, streams: tuple[str, ...]) -> bool:
    for stream in streams:
        if ERASED in await _stream_customers(client, stream):
            return False
    return ERASED not in await _parked_customers(notifier)
