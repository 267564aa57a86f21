"""Every alert-worthy change reaches its manager once, across a notifier SIGKILL and restart."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as redis

from schemas.profile import AccountManager
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
    profile_records,
    wait_until,
)

pytestmark = pytest.mark.integration

CUSTOMERS = [f"c-{n:02d}" for n in range(24)]
MANAGERS = {"m-1": AccountManager(id="m-1", name="Ada"), "m-2": AccountManager(id="m-2", name="Bo")}
DIGEST_MAX = 4


def _expected_manager(customer: str) -> str:
    # Two thirds by the customers topic, the rest fall back to the default owner.
    number = int(customer.split("-")[1])
    return ("m-1", "m-2", "owner")[number % 3]


async def _stream_ids(client: redis.Redis, key: str) -> list[str]:
    entries: Any = await client.xrange(key)
    return [json.loads(fields[b"alert"])["event_id"] for _, fields in entries]


async def test_each_alert_reaches_its_manager_once_across_a_kill_and_restart(
    infra: Infra, unique_name: str, tmp_path: Path
) -> None:
    topics = await create_topics(infra, unique_name)
    profiles = {
        customer: MANAGERS[_expected_manager(customer)]
        for customer in CUSTOMERS
        if _expected_manager(customer) != "owner"
    }
    await produce(infra, topics[1], profile_records(profiles))
    events = history(CUSTOMERS)
    await produce(infra, topics[0], event_records(events.events))
    manager_of = {e.event_id: _expected_manager(e.customer_id) for e in events.events}

    sink = WebhookSink(delay=0.3)
    url = await sink.start()
    env = notifier_env(
        infra,
        unique_name,
        topics,
        default_owner="owner",
        webhook__url=url,
        webhook__secret=SECRET,
        burst="2",
        rate_per_minute="600",
        digest_max=str(DIGEST_MAX),
    )
    client = redis.from_url(infra.redis_url)
    try:
        first = NotifierProcess(env, tmp_path / "notifier.log")
        try:
            await wait_until(lambda: len(sink.deliveries()) >= 6, 45, "first alerts delivered")
        finally:
            first.kill()
        delivered_before_kill = set(sink.deliveries())
        assert delivered_before_kill < events.alerting, "kill came too late to test a restart"

        second = NotifierProcess(env, tmp_path / "notifier.log")
        try:
            await wait_until(
                lambda: set(sink.deliveries()) >= events.alerting, 45, "every alert delivered"
            )

            async def streams_complete() -> bool:
                ids = await _stream_ids(client, f"{unique_name}:alerts")
                return set(ids) >= events.alerting

            await wait_until(streams_complete, 20, "every alert in the Redis stream")
        finally:
            second.stop()

        deliveries = sink.deliveries()
        assert set(deliveries) == events.alerting
        assert sink.bad_signatures == 0
        routed = sink.managers()
        assert {eid: routed[eid] for eid in events.alerting} == {
            eid: manager_of[eid] for eid in events.alerting
        }
        # Webhooks are at-least-once: only what was in flight at the kill may come again
        # (one message per manager, each at most DIGEST_MAX alerts), with the same key.
        resent = sum(count - 1 for count in deliveries.values())
        assert resent <= len({*MANAGERS, "owner"}) * DIGEST_MAX
        # The Redis streams are exactly once: mark and XADD are one transaction.
        global_ids = await _stream_ids(client, f"{unique_name}:alerts")
        assert Counter(global_ids) == Counter(dict.fromkeys(events.alerting, 1))
        for manager in ("m-1", "m-2", "owner"):
            ids = await _stream_ids(client, f"{unique_name}:alerts:{manager}")
            assert sorted(ids) == sorted(e for e in events.alerting if manager_of[e] == manager)
    finally:
        await sink.close()
        await client.aclose()
