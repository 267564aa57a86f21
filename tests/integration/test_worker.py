"""The worker on the real broker emits exactly the TierChanged sequence the stages define.

A generated history is replayed into fresh topics; the worker runs as a subprocess; its
`tier-changes` must hold, per customer, the same events (same deterministic ids, in order)
as the in-process pipeline on the same events — which the unit tests prove equal to the
batch scorer at the final boundary.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections import defaultdict
from datetime import timedelta
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer

from schemas import FeedbackEvent, OrderEvent
from schemas.tier_changed import TierChanged
from streams.cli import main
from streams.csv_input import CsvReport, read_feedback, read_orders
from streams.epochs import boundary_at_or_before
from streams.history import FEEDBACK_HEADER, ORDER_HEADER, generate_history, write_csv
from streams.kafka_admin import ensure_topics
from streams.local_pipeline import LocalPipeline
from tests.conftest import Infra
from tiering import default_policy

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
DAY = 86_400
PARTITIONS = 2


def _env(infra: Infra, name: str, tmp_path: Path, guarantee: str) -> dict[str, str]:
    return {
        **os.environ,
        "TIERSTREAM_KAFKA_BOOTSTRAP": infra.kafka_bootstrap,
        "TIERSTREAM_APP_ID": name,
        "TIERSTREAM_TOPICS__ORDERS": f"{name}-orders",
        "TIERSTREAM_TOPICS__FEEDBACK": f"{name}-feedback",
        "TIERSTREAM_TOPICS__TIER_CHANGES": f"{name}-tier-changes",
        "TIERSTREAM_TOPICS__DEAD_LETTER": f"{name}-dlq",
        "TIERSTREAM_TOPICS__PARTITIONS": str(PARTITIONS),
        "TIERSTREAM_STORE": "memory://",
        "TIERSTREAM_CLOCK": "event",
        "TIERSTREAM_EPOCH_SECONDS": str(DAY),
        "TIERSTREAM_PROCESSING_GUARANTEE": guarantee,
        "TIERSTREAM_DATA_DIR": str(tmp_path / "worker-data"),
    }


async def _read_tier_changes(
    bootstrap: str, topic: str, expected: int, timeout: float
) -> list[TierChanged]:
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        auto_offset_reset="earliest",
        isolation_level="read_committed",
    )
    await consumer.start()
    events: list[TierChanged] = []
    try:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        quiet_until = None
        while loop.time() < deadline:
            batches = await consumer.getmany(timeout_ms=1000)
            fresh = [
                TierChanged.model_validate_json(r.value) for rs in batches.values() for r in rs
            ]
            events.extend(fresh)
            if len(events) >= expected:
                # Keep reading a little: more than expected would be a duplicate.
                quiet_until = quiet_until or loop.time() + 3
                if loop.time() > quiet_until:
                    break
    finally:
        await consumer.stop()
    return events


@pytest.mark.parametrize("guarantee", ["at_least_once", "exactly_once"])
def test_worker_emits_the_deterministic_tier_changed_sequence(
    infra: Infra, unique_name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, guarantee: str
) -> None:
    generated = generate_history(150, 1_500, seed=8, span_days=500)
    orders = write_csv(tmp_path / "orders.csv", ORDER_HEADER, generated.orders)
    feedback = write_csv(tmp_path / "feedback.csv", FEEDBACK_HEADER, generated.feedback)
    events: list[OrderEvent | FeedbackEvent] = [
        *read_orders(orders, CsvReport(orders)),
        *read_feedback(feedback, CsvReport(feedback)),
    ]
    events.sort(key=lambda event: event.occurred_at)
    final = boundary_at_or_before(events[-1].occurred_at, DAY) + timedelta(days=1)
    watermark = final + timedelta(microseconds=1)

    expected = LocalPipeline(default_policy(), PARTITIONS, DAY)
    for event in events:
        expected.feed(event)
    for partition in range(PARTITIONS):
        expected.watermark(partition, watermark)

    env = _env(infra, unique_name, tmp_path, guarantee)
    for name, value in env.items():
        if name.startswith("TIERSTREAM_"):
            monkeypatch.setenv(name, value)
    assert (
        main(
            [
                "replay",
                str(orders),
                "--feedback",
                str(feedback),
                "--watermark",
                watermark.isoformat(),
            ]
        )
        == 0
    )

    asyncio.run(
        ensure_topics(infra.kafka_bootstrap, [f"{unique_name}-tier-changes"], PARTITIONS, 1)
    )
    log = (tmp_path / "worker.log").open("wb")
    worker = subprocess.Popen(
        [sys.executable, "-m", "streams.cli", "worker"],
        cwd=REPO,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        received = asyncio.run(
            _read_tier_changes(
                infra.kafka_bootstrap, f"{unique_name}-tier-changes", len(expected.emitted), 240
            )
        )
    finally:
        worker.send_signal(signal.SIGTERM)
        try:
            worker.wait(timeout=60)
        except subprocess.TimeoutExpired:
            worker.kill()
        log.close()

    def per_customer(changes: list[TierChanged]) -> dict[str, list[str]]:
        sequences: dict[str, list[str]] = defaultdict(list)
        for change in changes:
            sequences[change.customer_id].append(change.event_id)
        return dict(sequences)

    assert len(received) == len(expected.emitted), (tmp_path / "worker.log").read_text()[-3000:]
    assert per_customer(received) == per_customer(expected.emitted)
