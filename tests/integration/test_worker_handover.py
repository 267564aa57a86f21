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
from contextlib import ExitStack
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from schemas import FeedbackEvent, FeedbackKind
from streams.pipeline.epochs import boundary_at_or_before
from streams.pipeline.local_pipeline import LocalPipeline
from tests.conftest import Infra
from tests.integration.worker_process import (
    DAY,
    Outgoing,
    difference,
    expected_history,
    input_records,
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


def _join_after_half(infra: Infra, name: str, tmp_path: Path, *, restart_first: bool) -> None:
    """The first worker ranks the first half of a history; a second worker joins; both take
    the second half and must give the in-process pipeline's TierChanged. With
    `restart_first` the first worker restarts before the join, so the join finds it with
    tables it restored from non-empty changelogs."""
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

    env = worker_env(infra, name, tmp_path / "data", partitions=PARTITIONS)
    prepare_topics(infra, name, PARTITIONS)
    bootstrap = infra.kafka_bootstrap
    first_log, second_log = tmp_path / "first.log", tmp_path / "second.log"
    second_env = with_own_port({**env, "TIERSTREAM_DATA_DIR": str(tmp_path / "data-2")})
    with ExitStack() as first_worker_running:
        first_worker = first_worker_running.enter_context(running_worker(env, first_log))
        first_half = input_records(name, first)
        first_half += watermarks(name, halfway + timedelta(microseconds=1), PARTITIONS)
        asyncio.run(produce(bootstrap, first_half))
        # Every partition's tables are committed before anyone else takes them.
        assert wait_until_ranked(infra, name, PARTITIONS, halfway.isoformat(), 240), log_tail(
            first_log
        )
        if restart_first:
            first_worker_running.close()
            first_worker = first_worker_running.enter_context(running_worker(env, first_log))
            _wait_ready(env["TIERSTREAM_WEB__PORT"], first_log)
        with running_worker(second_env, second_log) as second_worker:
            _wait_ready(second_env["TIERSTREAM_WEB__PORT"], second_log)
            second_half = input_records(name, second)
            second_half += watermarks(name, history.watermark, PARTITIONS)
            asyncio.run(produce(bootstrap, second_half))
            received = tier_changes(infra, name, len(expected.emitted), 240)
            # Both took part until the end.
            assert (first_worker.poll(), second_worker.poll()) == (None, None), log_tail(second_log)

    assert len(received) == len(expected.emitted), (
        difference(received, expected.emitted) + log_tail(first_log) + log_tail(second_log)
    )
    assert per_customer(received) == per_customer(expected.emitted)


def test_a_worker_joining_later_takes_partitions_over_with_their_tables(
    infra: Infra, unique_name: str, tmp_path: Path
) -> None:
    _join_after_half(infra, unique_name, tmp_path, restart_first=False)


def test_a_worker_keeps_whole_tables_for_the_partitions_it_keeps_when_another_joins(
    infra: Infra, unique_name: str, tmp_path: Path
) -> None:
    """The first worker restored its tables from non-empty changelogs at its restart; when
    the second joins, it rebuilds the partitions it keeps from their whole changelogs, not
    from where that restore ended."""
    _join_after_half(infra, unique_name, tmp_path, restart_first=True)


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
    asyncio.run(produce(bootstrap, [*input_records(unique_name, [purchase, complaint])]))
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


def _wait_for_a_dead_letter_sent(bootstrap: str, topic: str, log: Path) -> None:
    """Poll (bounded) until `topic` holds a record, committed or not: it is written before the
    rejected record is acknowledged, in the same turn of the worker's record lock."""
    from aiokafka import AIOKafkaConsumer

    async def read() -> None:
        consumer = AIOKafkaConsumer(
            topic,
            bootstrap_servers=bootstrap,
            auto_offset_reset="earliest",
            isolation_level="read_uncommitted",
            enable_auto_commit=False,
        )
        await consumer.start()
        try:
            deadline = asyncio.get_running_loop().time() + 120
            while not await consumer.getmany(timeout_ms=500):
                assert asyncio.get_running_loop().time() < deadline, log_tail(log)
        finally:
            await consumer.stop()

    asyncio.run(read())


def _wait_for_a_commit(
    bootstrap: str, group: str, topic: str, partitions: int, offset: int, log: Path
) -> None:
    """Poll (bounded) until some partition of `topic` has `offset` committed."""
    deadline = time.monotonic() + 120
    while offset not in _committed(bootstrap, group, topic, partitions).values():
        assert time.monotonic() < deadline, log_tail(log)
        time.sleep(1)


def test_a_record_held_at_the_committed_offset_survives_a_dead_letter_behind_it_and_a_sigkill(
    infra: Infra, unique_name: str, tmp_path: Path
) -> None:
    """Feedback offset 0 is committed; the complaint at offset 1 waits in the merge for the
    orders input to reach its time, and a malformed record at offset 2 is dead-lettered at
    once. Faust's gap check lets a run of acknowledged offsets start one past the committed
    offset: committing 3 would lose the complaint at the restart (no at_risk change)."""
    partitions = 2
    start = datetime(2026, 1, 5, 9, tzinfo=UTC)
    first, second, third = (
        order("C1", f"O{day}", start + timedelta(days=day), "120") for day in range(3)
    )
    praise = FeedbackEvent(
        event_id="f-0",
        customer_id="C1",
        occurred_at=start + timedelta(hours=1),
        kind=FeedbackKind.PRAISE,
    )
    complaint = FeedbackEvent(
        event_id="f-1",
        customer_id="C1",
        occurred_at=start + timedelta(days=3),
        kind=FeedbackKind.COMPLAINT,
    )
    end = start + timedelta(days=10)
    expected = LocalPipeline(default_policy(), partitions, DAY)
    for event in (first, praise, second, third, complaint):
        expected.feed(event)
    for partition in range(partitions):
        expected.watermark(partition, end)
    assert any(change.current.risk.value == "at_risk" for change in expected.emitted)

    env = worker_env(infra, unique_name, tmp_path / "data", partitions=partitions)
    prepare_topics(infra, unique_name, partitions)
    bootstrap = infra.kafka_bootstrap
    orders_topic, feedback_topic = f"{unique_name}-orders", f"{unique_name}-feedback"
    malformed: Outgoing = (feedback_topic, b"C1", b"{not json", [], None)
    log = tmp_path / "worker.log"
    with running_worker(env, log) as worker:
        # The praise is released (the orders input reached the second day): offset 1 of
        # its feedback partition is committed.
        asyncio.run(produce(bootstrap, input_records(unique_name, [first, praise, second])))
        _wait_for_a_commit(bootstrap, unique_name, feedback_topic, partitions, 1, log)
        asyncio.run(produce(bootstrap, [*input_records(unique_name, [complaint]), malformed]))
        _wait_for_a_dead_letter_sent(bootstrap, f"{unique_name}-dlq", log)
        # Acknowledged after the dead letter, so the commit of its offset comes after the
        # commit that could pass the complaint.
        asyncio.run(produce(bootstrap, input_records(unique_name, [third])))
        _wait_for_a_commit(bootstrap, unique_name, orders_topic, partitions, 3, log)
        worker.kill()
        worker.wait(timeout=30)
    asyncio.run(produce(bootstrap, watermarks(unique_name, end, partitions)))
    with running_worker(env, log):
        received = tier_changes(infra, unique_name, len(expected.emitted), 120)

    assert per_customer(received) == per_customer(expected.emitted), log_tail(log)
