"""The notifier rides out a broker restart (issue #17, outages): alerts of records written
before and after it each reach their manager once, and the process keeps running.

The broker is the test's own (tests/integration/own_broker.py), so stopping it leaves the
session's shared broker alone; Redis is the shared one.
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as redis

from tests.conftest import Infra
from tests.integration.notifier_harness import (
    SECRET,
    NotifierProcess,
    WebhookSink,
    create_topics,
    event_records,
    history,
    notifier_env,
    produce,
    wait_until,
)
from tests.integration.own_broker import OwnBroker

pytestmark = pytest.mark.integration

BEFORE = [f"b-{n:02d}" for n in range(12)]
AFTER = [f"a-{n:02d}" for n in range(12)]


async def _stream_ids(client: redis.Redis, key: str) -> list[str]:
    entries: Any = await client.xrange(key)
    return [json.loads(fields[b"alert"])["event_id"] for _, fields in entries]


async def test_alerts_before_and_after_a_broker_restart_each_reach_their_manager_once(
    infra: Infra, unique_name: str, tmp_path: Path
) -> None:
    broker = OwnBroker(tmp_path / "broker")
    broker.start()
    sink = WebhookSink()
    client = redis.from_url(infra.redis_url)
    try:
        own = Infra(broker.bootstrap, infra.redis_url)
        topics = await create_topics(own, unique_name)
        before, after = history(BEFORE), history(AFTER, hour_offset=100)
        await produce(own, topics[0], event_records(before.events))
        url = await sink.start()
        env = notifier_env(
            own,
            unique_name,
            topics,
            default_owner="owner",
            webhook__url=url,
            webhook__secret=SECRET,
            rate_per_minute="6000",
            burst="100",
        )
        notifier = NotifierProcess(env, tmp_path / "notifier.log")
        try:
            await wait_until(
                lambda: set(sink.deliveries()) >= before.alerting, 60, "alerts before the restart"
            )
            broker.stop()
            await asyncio.sleep(5)  # down long enough for every client to notice
            broker.start()
            await produce(own, topics[0], event_records(after.events))
            everything = before.alerting | after.alerting
            await wait_until(
                lambda: set(sink.deliveries()) >= everything, 90, "alerts after the restart"
            )
            survived = notifier.process.poll() is None
        finally:
            notifier.stop()

        assert survived, (tmp_path / "notifier.log").read_text(errors="replace")[-3000:]
        assert Counter(sink.deliveries()) == Counter(dict.fromkeys(everything, 1))
        ids = await _stream_ids(client, f"{unique_name}:alerts")
        assert Counter(ids) == Counter(dict.fromkeys(everything, 1))
    finally:
        await sink.close()
        await client.aclose()
        broker.stop()
