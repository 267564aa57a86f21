"""Outages on real servers: a slow receiver and a Redis that goes away and comes back.

Liveness here is `TIERSTREAM_NOTIFIER__HEALTH_WINDOW_SECONDS=3` instead of the 60 s default:
the same rule (the loop must go round within the window), with a window much shorter than
the stalls under test, so a loop that blocked on them would show as 503 within the test.
The Redis outage lasts `TIERSTREAM_TEST_REDIS_OUTAGE_SECONDS` (default 60, the issue's
scenario: longer than the 60 s health window a blocked loop would overrun).
"""

from __future__ import annotations

import asyncio
import json
import os
from collections import Counter
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import redis.asyncio as redis
from prometheus_client import CollectorRegistry

from schemas.profile import AccountManager
from streams.metrics import NotifierMetrics
from streams.notifier.delivery import Deliverer, PendingAlert, SystemClock
from streams.notifier.dispatch import Dispatcher
from streams.notifier.keys import Keys
from streams.notifier.pacing import Backoff, TokenBucket
from streams.notifier.render import Message
from streams.notifier.routing import Recipient, RouteSource
from streams.notifier.rules import decide
from streams.notifier.testing import classification, tier_changed
from tests.conftest import Infra
from tests.integration.notifier_harness import (
    SECRET,
    OwnRedis,
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
from tiering import default_policy

pytestmark = pytest.mark.integration

WINDOW_SECONDS = "3"
OUTAGE_SECONDS = float(os.environ.get("TIERSTREAM_TEST_REDIS_OUTAGE_SECONDS", "60"))


async def _health(session: aiohttp.ClientSession, port: int, path: str) -> tuple[int, Any]:
    async with session.get(f"http://127.0.0.1:{port}{path}") as reply:
        return reply.status, await reply.json()


def _managers(customers: list[str]) -> dict[str, AccountManager]:
    return {c: AccountManager(id=f"m-{n % 3}", name="Ada") for n, c in enumerate(customers)}


async def test_a_sink_answering_after_10_s_leaves_the_notifier_live_and_gets_each_alert_once(
    infra: Infra, unique_name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    topics = await create_topics(infra, unique_name)
    customers = [f"c-{n}" for n in range(6)]
    await produce(infra, topics[1], profile_records(_managers(customers)))
    events = history(customers)
    await produce(infra, topics[0], event_records(events.events))
    sink = WebhookSink(delay=10.0)
    url = await sink.start()
    env = notifier_env(
        infra,
        unique_name,
        topics,
        webhook__url=url,
        webhook__secret=SECRET,
        burst="1",
        rate_per_minute="60",
        health_window_seconds=WINDOW_SECONDS,
    )
    port = int(env["TIERSTREAM_NOTIFIER__PORT"])
    liveness: list[int] = []
    try:
        async with (
            running_notifier(env, monkeypatch),
            aiohttp.ClientSession() as session,
        ):

            async def delivered() -> bool:
                liveness.append((await _health(session, port, "/healthz"))[0])
                return set(sink.deliveries()) >= events.alerting

            await wait_until(delivered, 120, "every alert through the slow sink")
            await asyncio.sleep(1)  # room for a resend to show up, if there were one
    finally:
        await sink.close()
    assert sink.deliveries() == dict.fromkeys(events.alerting, 1)
    assert sink.requests == len(sink.accepted)  # no request was given up on and resent
    assert len(liveness) > 20 and set(liveness) == {200}


async def test_a_redis_outage_delays_alerts_reports_why_and_loses_or_repeats_none(
    infra: Infra, unique_name: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    own = OwnRedis(tmp_path / "redis")
    await own.start()
    topics = await create_topics(infra, unique_name)
    before = history([f"c-{n}" for n in range(3)])
    during = history([f"c-{n}" for n in range(3, 6)], hour_offset=100)
    customers = [event.customer_id for event in before.events + during.events]
    await produce(infra, topics[1], profile_records(_managers(sorted(set(customers)))))
    await produce(infra, topics[0], event_records(before.events))
    sink = WebhookSink()
    url = await sink.start()
    env = notifier_env(
        infra,
        unique_name,
        topics,
        webhook__url=url,
        webhook__secret=SECRET,
        burst="100",
        rate_per_minute="6000",
        health_window_seconds=WINDOW_SECONDS,
    )
    env["TIERSTREAM_REDIS_URL"] = own.url
    port = int(env["TIERSTREAM_NOTIFIER__PORT"])
    outage: list[tuple[int, int, Any]] = []
    client = redis.from_url(own.url)
    try:
        async with running_notifier(env, monkeypatch), aiohttp.ClientSession() as session:
            await wait_until(
                lambda: set(sink.deliveries()) >= before.alerting, 30, "alerts before the outage"
            )
            own.stop()
            await produce(infra, topics[0], event_records(during.events))
            deadline = asyncio.get_running_loop().time() + OUTAGE_SECONDS
            while asyncio.get_running_loop().time() < deadline:
                live, _ = await _health(session, port, "/healthz")
                ready, body = await _health(session, port, "/readyz")
                outage.append((live, ready, body))
                await asyncio.sleep(0.5)
            sent_during_outage = set(sink.deliveries()) & during.alerting
            await own.start()
            await wait_until(
                lambda: set(sink.deliveries()) >= during.alerting, 60, "alerts after the outage"
            )

            async def ready_again() -> bool:
                return (await _health(session, port, "/readyz"))[0] == 200

            await wait_until(ready_again, 15, "/readyz 200 once Redis answers")
            await asyncio.sleep(1)  # room for a resend to show up, if there were one
        stream: Any = await client.xrange(f"{unique_name}:alerts")
        in_stream = Counter(json.loads(fields[b"alert"])["event_id"] for _, fields in stream)
    finally:
        await client.aclose()
        await sink.close()
        own.stop()
    everything = before.alerting | during.alerting
    assert sent_during_outage == set()
    assert sink.deliveries() == dict.fromkeys(everything, 1)
    assert in_stream == Counter(dict.fromkeys(everything, 1))
    assert len(outage) >= OUTAGE_SECONDS  # two probes a second, less the request times
    assert {live for live, _, _ in outage} == {200}
    assert {ready for _, ready, _ in outage[4:]} == {503}
    reasons = [body["problems"].get("redis", "") for _, _, body in outage[4:]]
    assert all(reason.startswith("Redis unreachable since") for reason in reasons)


class _GatedChannel:
    """A push channel whose sends wait until released, counting how many are in flight."""

    name = "webhook"

    def __init__(self) -> None:
        self.in_flight = 0
        self.most = 0
        self.release = asyncio.Event()
        self.sent: list[str] = []

    def accepts(self, recipient: Recipient) -> bool:
        return True

    async def send(self, message: Message, recipient: Recipient) -> None:
        self.in_flight += 1
        self.most = max(self.most, self.in_flight)
        await self.release.wait()
        self.in_flight -= 1
        self.sent.append(message.idempotency_key)

    async def close(self) -> None:
        return None


async def test_flush_returns_at_once_and_a_channel_has_at_most_its_concurrency_in_flight(
    infra: Infra, unique_name: str
) -> None:
    client = redis.from_url(infra.redis_url)
    metrics = NotifierMetrics.create(CollectorRegistry())
    deliverer = Deliverer(
        client,
        Keys(unique_name),
        metrics,
        Backoff(0.01, 0.1, 3),
        3600,
        SystemClock(),
        concurrency=2,
    )
    channel = _GatedChannel()
    dispatcher = Dispatcher(deliverer, [channel], metrics, lambda: TokenBucket(10, 1.0), 50)
    alerts = {}
    for n in range(5):
        event = tier_changed(f"c-{n}", classification("B"), classification("A"))
        alert = decide(event, default_policy())
        assert alert is not None
        alerts[alert.event_id] = alert
        recipient = Recipient(f"m-{n}", None, None, None, RouteSource.DEFAULT)
        dispatcher.enqueue(PendingAlert(alert, recipient, 0.0, "p", n))
        dispatcher.offsets.consumed("p", n)
    try:
        dispatcher.flush(0.0)
        assert channel.sent == [] and dispatcher.offsets.safe() == {"p": 0}
        await wait_until(lambda: channel.in_flight == 2, 10, "two sends in flight")
        await asyncio.sleep(0.2)  # room for a third to start, if the bound did not hold
        assert channel.most == 2
        channel.release.set()
        await wait_until(dispatcher.idle, 10, "every send done")
    finally:
        await client.aclose()
    assert sorted(channel.sent) == sorted(alerts)
    assert dispatcher.offsets.safe() == {"p": 5}
