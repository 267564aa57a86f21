"""Hand-overs: a partition's next owner (a joining worker, or the same worker restarted)
continues exactly where the committed state of the last one ends.

Under exactly_once the joining worker must rebuild each table partition it is given from its
changelog; starting from empty tables it would classify those customers from nothing. And no
commit may pass a record still held in the event-time merge, or the next owner never sees it.
"""

from __future__ import annotations

import asyncio
import time
import urllib.error
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from schemas import FeedbackEvent, FeedbackKind, OrderEvent
from streams.pipeline.epochs import boundary_at_or_before
from streams.pipeline.local_pipeline import LocalPipeline
from tests.conftest import Infra
from tests.integration.worker_process import (
    DAY,
    Outgoing,
    expected_history,
    log_tail,
    order,
    per_customer,
    prepare_topics,
    produce,
    running_worker,
    tier_changes,
    wait_until_ranked,
    watermarks,
    with_own_port,
    worker_env,
)
from tiering import default_policy

pytestmark = pytest.mark.integration

PARTITIONS = 4


def _records(name: str, events: list[OrderEvent | FeedbackEvent]) -> list[Outgoing]:
    """Events in event-time order to their input topic, keyed (and so partitioned) by
    customer, as `tierstream replay` publishes them."""
    return [
        (
            f"{name}-{'orders' if isinstance(event, OrderEvent) else 'feedback'}",
            event.customer_id.encode(),
            event.model_dump_json().encode(),
            [],
            None,
        )
        for event in events
    ]


def _wait_ready(port: str, log: Path, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2) as reply:
                if reply.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(1)
    raise AssertionError(f"the joining worker never became ready\n{log_tail(log)}")


def test_a_worker_joining_later_takes_partitions_over_with_their_tables(
    infra: Infra, unique_name: str, tmp_path: Path
) -> None:
    history = expected_history(tmp_path, 200, 2_500, PARTITIONS, seed=6, span_days=500)
    events = history.events
    halfway = boundary_at_or_before(events[len(events) // 2].occurred_at, DAY)
    first = [event for event in events if event.occurred_at < halfway]
    second = [event for event in events if event.occurred_at >= halfway]
    expected = LocalPipeline(default_policy(), PARTITIONS, DAY)
    for event in first:
        expected.feed(event)
    for partition in range(PARTITIONS):
        expected.watermark(partition, halfway + timedelta(microseconds=1))
    for event in second:
        expected.feed(event)
    for partition in range(PARTITIONS):
        expected.watermark(partition, history.watermark)

    env = worker_env(infra, unique_name, tmp_path / "data", partitions=PARTITIONS)
    prepare_topics(infra, unique_name, PARTITIONS)
    bootstrap = infra.kafka_bootstrap
    first_log, second_log = tmp_path / "first.log", tmp_path / "second.log"
    second_env = with_own_port({**env, "TIERSTREAM_DATA_DIR": str(tmp_path / "data-2")})
    with running_worker(env, first_log) as first_worker:
        first_half = _records(unique_name, first)
        first_half += watermarks(unique_name, halfway + timedelta(microseconds=1), PARTITIONS)
        asyncio.run(produce(bootstrap, first_half))
        # Every partition's tables are committed before anyone else takes them.
        assert wait_until_ranked(infra, unique_name, PARTITIONS, halfway.isoformat(), 240), (
            log_tail(first_log)
        )
        with running_worker(second_env, second_log) as second_worker:
            _wait_ready(second_env["TIERSTREAM_WEB__PORT"], second_log)
            second_half = _records(unique_name, second)
            second_half += watermarks(unique_name, history.watermark, PARTITIONS)
            asyncio.run(produce(bootstrap, second_half))
            received = tier_changes(infra, unique_name, len(expected.emitted), 240)
            # Both took part until the end.
            assert (first_worker.poll(), second_worker.poll()) == (None, None), log_tail(second_log)

    assert len(received) == len(expected.emitted), log_tail(first_log) + log_tail(second_log)
    assert per_customer(received) == per_customer(expected.emitted)


def _committed(bootstrap: str, group: str, topic: str, partitions: int) -> dict[int, int | None]:
    from aiokafka import AIOKafkaConsumer, TopicPartition

    async def read() -> dict[int, int | None]:
        consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=group)
        await consumer.start()
        try:
            return {
                p: await consumer.committed(TopicPartition(topic, p)) for p in range(partitions)
            }
        finally:
            await consumer.stop()

    return asyncio.run(read())


def test_a_commit_never_passes_feedback_still_held_in_the_event_time_merge(
    infra: Infra, unique_name: str, tmp_path: Path
) -> None:
    """The complaint waits in the merge for the orders input to reach its time; the feedback
    watermark behind it is acknowledged at once. A commit past the complaint would lose it
    at the restart: no at_risk change."""
    partitions = 2
    start = datetime(2026, 1, 5, 9, tzinfo=UTC)
    purchase = order("C1", "O1", start, "120")
    complaint = FeedbackEvent(
        event_id="f-1",
        customer_id="C1",
        occurred_at=start + timedelta(days=3),
        kind=FeedbackKind.COMPLAINT,
    )
    end = start + timedelta(days=10)
    expected = LocalPipeline(default_policy(), partitions, DAY)
    expected.feed(purchase)
    expected.feed(complaint)
    for partition in range(partitions):
        expected.watermark(partition, end)
    assert any(change.current.risk.value == "at_risk" for change in expected.emitted)

    env = worker_env(infra, unique_name, tmp_path / "data", partitions=partitions)
    prepare_topics(infra, unique_name, partitions)
    bootstrap = infra.kafka_bootstrap
    feedback_watermarks = [
        record for record in watermarks(unique_name, end, partitions) if "feedback" in record[0]
    ]
    orders_watermarks = [
        record for record in watermarks(unique_name, end, partitions) if "orders" in record[0]
    ]
    asyncio.run(produce(bootstrap, [*_records(unique_name, [purchase, complaint])]))
    asyncio.run(produce(bootstrap, feedback_watermarks))
    log = tmp_path / "worker.log"
    with running_worker(env, log):
        deadline = time.monotonic() + 120
        orders_topic = f"{unique_name}-orders"
        while not any(_committed(bootstrap, unique_name, orders_topic, partitions).values()):
            assert time.monotonic() < deadline, log_tail(log)
            time.sleep(1)
    asyncio.run(produce(bootstrap, orders_watermarks))
    with running_worker(env, log):
        received = tier_changes(infra, unique_name, len(expected.emitted), 120)

    assert per_customer(received) == per_customer(expected.emitted), log_tail(log)
