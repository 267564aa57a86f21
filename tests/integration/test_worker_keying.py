"""`tierstream worker` on the real broker: inputs keyed by customer_id (the fast path, which
rejects a record keyed otherwise) and inputs keyed otherwise (re-keyed by stage 0 through
`{app}-{input}-repartition`, with per-source progress watermarks).
"""

from __future__ import annotations

import asyncio
import random
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from schemas import OrderEvent
from schemas.dead_letter import DeadLetter
from streams.pipeline.local_pipeline import LocalPipeline
from streams.pipeline.repartition import customer_partition
from tests.conftest import Infra
from tests.integration.worker_process import (
    Outgoing,
    difference,
    expected_history,
    log_tail,
    per_customer,
    prepare_topics,
    produce,
    read_records,
    running_worker,
    tier_changes,
    watermarks,
    worker_env,
)

pytestmark = pytest.mark.integration

PARTITIONS = 2


def _partition(key: bytes) -> int:
    return customer_partition(key.decode(), PARTITIONS)


def _keyed(topic: str, key: bytes, event: OrderEvent) -> Outgoing:
    return (topic, key, event.model_dump_json().encode(), [], None)


def _random_keyed_history(
    tmp_path: Path, name: str, customers: int, orders_count: int, seed: int
) -> tuple[list[Outgoing], LocalPipeline]:
    """A generated history in event-time order (as `tierstream replay` writes it) under keys
    that have nothing to do with the customer, closing watermarks on every input partition,
    and the customer-keyed result: the in-process stages, which the worker matches on the
    fast path (test_worker.py's determinism test)."""
    history = expected_history(
        tmp_path, customers, orders_count, PARTITIONS, seed=seed, span_days=400
    )
    events, watermark, expected = history.events, history.watermark, history.expected
    keys = random.Random(seed)
    records: list[Outgoing] = [
        (
            f"{name}-{'orders' if isinstance(event, OrderEvent) else 'feedback'}",
            f"k-{keys.getrandbits(48):x}".encode(),
            event.model_dump_json().encode(),
            [],
            None,
        )
        for event in events
    ]
    moved = sum(
        _partition(record[1]) != _partition(event.customer_id.encode())
        for record, event in zip(records, events, strict=True)
        if record[1] is not None
    )
    assert moved > len(records) // 4, "the keys must put many events off their customer's partition"
    return [*records, *watermarks(name, watermark, PARTITIONS)], expected


def _repartitioning_env(infra: Infra, name: str, tmp_path: Path, **extra: str) -> dict[str, str]:
    return worker_env(
        infra,
        name,
        tmp_path / "data",
        TIERSTREAM_TOPICS__ORDERS_KEYED_BY_CUSTOMER="false",
        TIERSTREAM_TOPICS__FEEDBACK_KEYED_BY_CUSTOMER="false",
        **extra,
    )


@pytest.mark.parametrize("guarantee", ["at_least_once", "exactly_once"])
def test_a_history_keyed_at_random_through_the_repartition_path_gives_the_customer_keyed_result(
    infra: Infra, unique_name: str, tmp_path: Path, guarantee: str
) -> None:
    records, expected = _random_keyed_history(tmp_path, unique_name, 120, 1_200, seed=12)
    env = _repartitioning_env(infra, unique_name, tmp_path, guarantee=guarantee)
    prepare_topics(infra, unique_name, PARTITIONS)
    asyncio.run(produce(infra.kafka_bootstrap, records))
    log = tmp_path / "worker.log"
    with running_worker(env, log):
        received = tier_changes(infra, unique_name, len(expected.emitted), 300)

    last = {change.customer_id: change for change in received}
    expected_last = {change.customer_id: change for change in expected.emitted}
    assert last.keys() == expected_last.keys(), log_tail(log)
    assert {c: change.event_id for c, change in last.items()} == {
        c: change.event_id for c, change in expected_last.items()
    }
    assert {c: change.current for c, change in last.items()} == {
        c: change.current for c, change in expected_last.items()
    }
    # Stronger, since the inputs were written in event-time order: the same sequences.
    assert per_customer(received) == per_customer(expected.emitted), log_tail(log)


def test_a_worker_killed_mid_repartition_resumes_without_losing_or_repeating_a_tier_change(
    infra: Infra, unique_name: str, tmp_path: Path
) -> None:
    """Under exactly_once a repartitioned record commits with the source offset it came
    from, and each source's progress with the target's checkpoint."""
    records, expected = _random_keyed_history(tmp_path, unique_name, 250, 3_000, seed=13)
    env = _repartitioning_env(infra, unique_name, tmp_path, TIERSTREAM_STORE="rocksdb://")
    prepare_topics(infra, unique_name, PARTITIONS)
    asyncio.run(produce(infra.kafka_bootstrap, records))
    log = tmp_path / "worker.log"
    with running_worker(env, log) as worker:
        partial = asyncio.run(
            read_records(
                infra.kafka_bootstrap,
                f"{unique_name}-tier-changes",
                expected=len(expected.emitted) // 4,
                timeout=180,
                linger=0.0,
            )
        )
        worker.kill()
        worker.wait(timeout=30)
    assert 0 < len(partial) < len(expected.emitted), "the kill must land mid-stream"
    with running_worker(env, log):
        received = tier_changes(infra, unique_name, len(expected.emitted), 300)

    assert len(received) == len(expected.emitted), difference(
        received, expected.emitted
    ) + log_tail(log)
    assert per_customer(received) == per_customer(expected.emitted)


def test_on_the_customer_keyed_path_a_record_keyed_otherwise_goes_to_the_dead_letter_topic(
    infra: Infra, unique_name: str, tmp_path: Path
) -> None:
    start = datetime(2026, 1, 5, 9, tzinfo=UTC)
    orders_topic = f"{unique_name}-orders"
    good = [
        OrderEvent(
            event_id=f"e-{n}",
            order_id=f"O{n}",
            customer_id=f"C{n}",
            occurred_at=start + timedelta(hours=n),
            amount=Decimal(10 * (n + 1)),
        )
        for n in range(4)
    ]
    stray = OrderEvent(
        event_id="e-stray", order_id="O9", customer_id="C9", occurred_at=start, amount=Decimal(5)
    )
    records: list[Outgoing] = [
        *(_keyed(orders_topic, e.customer_id.encode(), e) for e in good),
        _keyed(orders_topic, b"O9", stray),
        *watermarks(unique_name, start + timedelta(days=2), PARTITIONS),
    ]
    env = worker_env(infra, unique_name, tmp_path / "data")
    prepare_topics(infra, unique_name, PARTITIONS)
    asyncio.run(produce(infra.kafka_bootstrap, records))
    log = tmp_path / "worker.log"
    with running_worker(env, log):
        changes = tier_changes(infra, unique_name, len(good), 120)
        dead = asyncio.run(
            read_records(infra.kafka_bootstrap, f"{unique_name}-dlq", expected=1, timeout=30)
        )

    letters = [DeadLetter.model_validate_json(record.value) for record in dead if record.value]
    assert [letter.error_type for letter in letters] == ["key_mismatch"], log_tail(log)
    assert letters[0].topic == orders_topic
    assert letters[0].value == stray.model_dump_json().encode()
    assert sorted(change.customer_id for change in changes) == [e.customer_id for e in good]
