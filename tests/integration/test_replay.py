"""`tierstream replay` publishes history in event-time order, keyed by customer, with watermarks."""

from __future__ import annotations

import asyncio
import json
from collections import defaultdict
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer

from streams.cli.main import main
from streams.data.history import FEEDBACK_HEADER, ORDER_HEADER, generate_history, write_csv
from streams.pipeline.headers import control_kind
from tests.conftest import Infra

pytestmark = pytest.mark.integration

PARTITIONS = 3


async def _read_all(bootstrap: str, topic: str, expected: int) -> list[object]:
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest")
    await consumer.start()
    records: list[object] = []
    try:
        deadline = asyncio.get_running_loop().time() + 60
        while len(records) < expected and asyncio.get_running_loop().time() < deadline:
            for batch in (await consumer.getmany(timeout_ms=500)).values():
                records.extend(batch)
    finally:
        await consumer.stop()
    return records


def test_replay_publishes_usable_events_in_event_time_order_per_partition(
    infra: Infra, unique_name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    history = generate_history(40, 300, seed=2)
    orders = write_csv(tmp_path / "orders.csv", ORDER_HEADER, history.orders)
    feedback = write_csv(tmp_path / "feedback.csv", FEEDBACK_HEADER, history.feedback)
    monkeypatch.setenv("TIERSTREAM_KAFKA_BOOTSTRAP", infra.kafka_bootstrap)
    monkeypatch.setenv("TIERSTREAM_TOPICS__ORDERS", f"{unique_name}-orders")
    monkeypatch.setenv("TIERSTREAM_TOPICS__FEEDBACK", f"{unique_name}-feedback")
    monkeypatch.setenv("TIERSTREAM_TOPICS__PARTITIONS", str(PARTITIONS))

    assert main(["replay", str(orders), "--feedback", str(feedback)]) == 0

    from streams.data.csv_input import CsvReport, read_orders

    usable_orders = list(read_orders(orders, CsvReport(orders)))
    expected = len(usable_orders) + PARTITIONS
    records = asyncio.run(_read_all(infra.kafka_bootstrap, f"{unique_name}-orders", expected))
    events = [r for r in records if control_kind(r.headers) is None]  # type: ignore[attr-defined]
    watermarks = [r for r in records if control_kind(r.headers) == "watermark"]  # type: ignore[attr-defined]

    assert len(events) == len(usable_orders)
    assert sorted(r.partition for r in watermarks) == list(range(PARTITIONS))  # type: ignore[attr-defined]
    times_by_partition: dict[int, list[str]] = defaultdict(list)
    for record in events:
        payload = json.loads(record.value)  # type: ignore[attr-defined]
        assert record.key == payload["customer_id"].encode()  # type: ignore[attr-defined]
        assert dict(record.headers)["ce_type"] == b"io.tierstream.OrderEvent.v1"  # type: ignore[attr-defined]
        times_by_partition[record.partition].append(payload["occurred_at"])  # type: ignore[attr-defined]
    for times in times_by_partition.values():
        assert times == sorted(times)
    # Each partition's watermark comes after all of its events.
    for mark in watermarks:
        assert all(r.offset < mark.offset for r in events if r.partition == mark.partition)  # type: ignore[attr-defined]
