"""The notifier against real Kafka and Redis: flaky sinks, e-mail, the read model, SSE, parking."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta

import aiohttp
import pytest
import redis.asyncio as redis

from schemas import Lifecycle, Risk
from schemas.profile import AccountManager
from schemas.tier_changed import TierChanged
from streams.cli.main import main
from streams.notifier.keys import Keys
from streams.notifier.read_model import ReadModel
from streams.notifier.signing import verify_signature
from streams.notifier.testing import classification, tier_changed
from tests.conftest import Infra
from tests.integration.notifier_harness import (
    SECRET,
    START,
    SmtpSink,
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

# The default policy's tier names, highest first.
POLICY_TIERS = ("A", "B", "C")


async def test_a_sink_failing_half_the_requests_still_gets_every_alert_once(
    infra: Infra, unique_name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    topics = await create_topics(infra, unique_name)
    customers = [f"c-{n}" for n in range(12)]
    managers = {
        c: AccountManager(id=f"m-{n % 2}", name="Ada", email=f"m{n % 2}@example.com")
        for n, c in enumerate(customers)
    }
    await produce(infra, topics[1], profile_records(managers))
    events = history(customers)
    await produce(infra, topics[0], event_records(events.events))
    sink = WebhookSink(fail_first_try=True)
    url = await sink.start()
    try:
        with SmtpSink() as smtp:
            env = notifier_env(
                infra,
                unique_name,
                topics,
                webhook__url=url,
                webhook__secret=SECRET,
                email__host="127.0.0.1",
                email__port=str(smtp.port),
                burst="100",
                rate_per_minute="6000",
            )
            async with running_notifier(env, monkeypatch):
                await wait_until(
                    lambda: set(sink.deliveries()) >= events.alerting, 40, "webhook deliveries"
                )

                def mailed() -> set[str]:
                    return {m["X-Tierstream-Idempotency-Key"] for m in smtp.messages}

                await wait_until(lambda: mailed() >= events.alerting, 20, "e-mails")
                await asyncio.sleep(0.5)  # room for a duplicate to show up, if there were one
            assert sink.requests == 2 * len(sink.accepted)  # half of the requests were refused
            assert sink.deliveries() == dict.fromkeys(events.alerting, 1)
            assert sink.bad_signatures == 0
            assert sorted(m["X-Tierstream-Idempotency-Key"] for m in smtp.messages) == sorted(
                events.alerting
            )
            message = smtp.messages[0]
            assert message["To"] in {"m0@example.com", "m1@example.com"}
            assert "Service level for tier A (core)" in message.get_body().get_content()
    finally:
        await sink.close()


async def test_delivered_signatures_verify_and_a_tampered_body_does_not(
    infra: Infra, unique_name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    topics = await create_topics(infra, unique_name)
    events = history(["c-1"])
    await produce(infra, topics[0], event_records(events.events))
    sink = WebhookSink()
    url = await sink.start()
    try:
        env = notifier_env(
            infra,
            unique_name,
            topics,
            default_owner="owner",
            webhook__url=url,
            webhook__secret=SECRET,
            webhook__format="slack",
        )
        async with running_notifier(env, monkeypatch):
            await wait_until(lambda: len(sink.raw) >= 1, 30, "a webhook request")
    finally:
        await sink.close()
    body, headers = sink.raw[0]
    assert headers["Idempotency-Key"] in events.alerting
    timestamp, signature = headers["X-Tierstream-Timestamp"], headers["X-Tierstream-Signature"]
    now = float(timestamp)
    assert verify_signature(SECRET, body, timestamp, signature, now=now)
    tampered = body.replace(b"tier upgrade", b"tier downgrade")
    assert tampered != body
    assert not verify_signature(SECRET, tampered, timestamp, signature, now=now)
    assert "blocks" in json.loads(body)


async def test_read_model_equals_the_last_tier_change_of_every_customer(
    infra: Infra,
    unique_name: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    topics = await create_topics(infra, unique_name)
    events = history([f"c-{n}" for n in range(15)])
    await produce(infra, topics[0], event_records(events.events))
    last: dict[str, TierChanged] = {}
    for event in events.events:
        last[event.customer_id] = event
    env = notifier_env(infra, unique_name, topics)
    client = redis.from_url(infra.redis_url)
    model = ReadModel(client, Keys(unique_name))
    try:
        async with running_notifier(env, monkeypatch):

            async def caught_up() -> bool:
                stored = [await model.get(c) for c in last]
                return all(
                    s is not None and s.event_id == last[s.customer_id].event_id for s in stored
                )

            await wait_until(caught_up, 30, "read model caught up")
        for customer, event in last.items():
            stored = await model.get(customer)
            assert stored is not None
            assert stored.classification == event.current
            assert stored.metrics == event.metrics
            assert stored.reasons == event.reasons
        assert await model.tier_counts(POLICY_TIERS) == {"A": 15, "B": 0, "C": 0}
        assert sorted(await model.tier_members("A")) == sorted(last)

        # An older or repeated event never overwrites a newer one, and counts do not drift.
        oldest = events.events[0]
        assert not await model.apply(oldest, offset=0)
        assert not await model.apply(last[oldest.customer_id], offset=0)
        assert (await model.get(oldest.customer_id)).event_id == last[oldest.customer_id].event_id  # type: ignore[union-attr]
        assert await model.tier_counts(POLICY_TIERS) == {"A": 15, "B": 0, "C": 0}

        # `tierstream tier` reads the same model.
        assert await asyncio.to_thread(main, ["tier", "c-1"]) == 0
        assert "tier          A" in capsys.readouterr().out
        assert await asyncio.to_thread(main, ["tier", "c-unknown"]) == 1
        assert "unknown customer 'c-unknown'" in capsys.readouterr().err

        # A tombstone on the customers topic erases the customer from the read model.
        async with running_notifier(env, monkeypatch):
            await produce(infra, topics[1], [("c-2", None)])

            async def erased() -> bool:
                return await model.get("c-2") is None

            await wait_until(erased, 30, "c-2 erased")
        assert (await model.tier_counts())["A"] == 14
    finally:
        await client.aclose()


async def test_sse_endpoint_streams_a_new_alert_to_a_subscriber(
    infra: Infra, unique_name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    topics = await create_topics(infra, unique_name)
    env = notifier_env(infra, unique_name, topics, default_owner="owner")
    port = int(env["TIERSTREAM_NOTIFIER__PORT"])
    previous = classification("A")
    event = tier_changed("c-7", previous, classification("A", risk=Risk.AT_RISK), occurred_at=START)
    async with running_notifier(env, monkeypatch), aiohttp.ClientSession() as session:
        base = f"http://127.0.0.1:{port}"
        async with session.get(f"{base}/healthz") as health:
            assert health.status == 200
        async with session.get(f"{base}/alerts/stream", params={"manager": "owner"}) as stream:
            assert stream.headers["Content-Type"].startswith("text/event-stream")
            assert await stream.content.readline() == b": connected\n"
            await produce(infra, topics[0], event_records([event]))
            frame: list[str] = []
            async with asyncio.timeout(30):
                while not any(line.startswith("data: ") for line in frame):
                    line = (await stream.content.readline()).decode().rstrip("\n")
                    if line and not line.startswith(":"):
                        frame.append(line)
        data = json.loads(next(line for line in frame if line.startswith("data: "))[6:])
        assert "event: alert" in frame
        assert data["event_id"] == event.event_id
        assert data["triggers"] == ["risk_at_risk"]
        assert data["manager_id"] == "owner"
        # The counter moves once the append returns to the notifier, which can be after the
        # subscriber has read the frame: poll (bounded) instead of reading once.
        sent = 'tierstream_alerts_total{channel="redis",outcome="sent"} 1.0'
        text = ""
        async with asyncio.timeout(10):
            while sent not in text:
                async with session.get(f"{base}/metrics") as metrics:
                    text = await metrics.text()
                if sent not in text:
                    await asyncio.sleep(0.05)
        assert sent in text


async def test_undeliverable_alerts_are_parked_and_replayed(
    infra: Infra,
    unique_name: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    topics = await create_topics(infra, unique_name)
    event = tier_changed(
        "c-3",
        classification("B"),
        classification("B", lifecycle=Lifecycle.DECLINE),
        occurred_at=START + timedelta(days=1),
    )
    await produce(infra, topics[0], event_records([event]))
    sink = WebhookSink(fail_every=1)  # refuses everything for now
    url = await sink.start()
    try:
        env = notifier_env(
            infra,
            unique_name,
            topics,
            default_owner="owner",
            webhook__url=url,
            webhook__secret=SECRET,
            max_attempts="3",
        )
        async with running_notifier(env, monkeypatch) as notifier:

            async def parked() -> bool:
                return len(await notifier.deliverer.parked()) == 1

            await wait_until(parked, 30, "alert parked")
        assert sink.requests == 3
        assert await asyncio.to_thread(main, ["alerts", "parked"]) == 0
        listing = capsys.readouterr()
        assert "webhook" in listing.out and "HTTP 503" in listing.out

        sink.fail_every = 0
        assert await asyncio.to_thread(main, ["alerts", "replay"]) == 0
        assert sink.deliveries() == {event.event_id: 1}
        assert await asyncio.to_thread(main, ["alerts", "parked"]) == 0
        assert "0 parked deliveries" in capsys.readouterr().err
    finally:
        await sink.close()


async def test_a_burst_for_one_manager_arrives_as_a_digest(
    infra: Infra, unique_name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    topics = await create_topics(infra, unique_name, partitions=1)
    customers = [f"c-{n}" for n in range(8)]
    events = history(customers)
    await produce(infra, topics[0], event_records(events.events))
    sink = WebhookSink()
    url = await sink.start()
    try:
        env = notifier_env(
            infra,
            unique_name,
            topics,
            default_owner="owner",
            webhook__url=url,
            webhook__secret=SECRET,
            burst="1",
            rate_per_minute="60",
        )
        async with running_notifier(env, monkeypatch) as notifier:
            await wait_until(
                lambda: set(sink.deliveries()) >= events.alerting, 30, "every alert delivered"
            )
            pending = notifier.registry.get_sample_value("tierstream_notifier_pending_alerts")
    finally:
        await sink.close()
    assert sink.deliveries() == dict.fromkeys(events.alerting, 1)
    # The alerts were all queued at once, and a one-token bucket does not send them one by one.
    assert len(sink.accepted) < len(events.alerting)
    digests = [body for body in sink.accepted if body["type"] == "tierstream.alert_digest"]
    assert digests and all(body["count"] == len(body["alerts"]) > 1 for body in digests)
    assert pending == 0


async def test_an_unroutable_alert_is_parked_and_replayed_to_the_default_owner(
    infra: Infra, unique_name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    topics = await create_topics(infra, unique_name)
    event = tier_changed("c-4", classification("C"), classification("B"))
    await produce(infra, topics[0], event_records([event]))
    sink = WebhookSink()
    url = await sink.start()
    try:
        env = notifier_env(infra, unique_name, topics, webhook__url=url, webhook__secret=SECRET)
        async with running_notifier(env, monkeypatch) as notifier:

            async def parked() -> bool:
                return len(await notifier.deliverer.parked()) == 1

            await wait_until(parked, 30, "unroutable alert parked")
        assert sink.requests == 0
        # Still no owner: replay cannot route it either, and keeps it.
        assert await asyncio.to_thread(main, ["alerts", "replay"]) == 1
        monkeypatch.setenv("TIERSTREAM_NOTIFIER__DEFAULT_OWNER", "owner")
        assert await asyncio.to_thread(main, ["alerts", "replay"]) == 0
        assert sink.managers() == {event.event_id: "owner"}
    finally:
        await sink.close()


async def test_read_model_keeps_the_value_fields_and_the_value_model_version(
    infra: Infra, unique_name: str
) -> None:
    event = tier_changed("c-valued", None, classification("A"))
    valued = event.model_copy(
        update={
            "metrics": event.metrics.model_copy(
                update={
                    "p_alive": 0.42,
                    "predicted_clv": 1234.5,
                    "expected_next_order_at": event.occurred_at + timedelta(days=9),
                }
            ),
            "value_model_version": "1997-09-30.0123456789ab",
        }
    )
    client = redis.from_url(infra.redis_url)
    model = ReadModel(client, Keys(unique_name))
    try:
        assert await model.apply(valued, offset=0)
        stored = await model.get("c-valued")
        assert stored is not None
        assert stored.metrics == valued.metrics
        assert stored.value_model_version == "1997-09-30.0123456789ab"
    finally:
        await model.erase("c-valued")
        await client.aclose()
