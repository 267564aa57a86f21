"""Run `tierstream worker` as a real subprocess against the test broker, and read its topics.

Every test gets its own app id and topic names (from `unique_name`), so tests never share a
consumer group, a changelog or an output topic.
"""

from __future__ import annotations

import asyncio
import csv
import os
import signal
import subprocess
import sys
from collections import defaultdict
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.structs import ConsumerRecord

from schemas import FeedbackEvent, OrderEvent
from schemas.tier_changed import TierChanged
from streams.data.csv_input import CsvReport, read_feedback, read_orders
from streams.data.history import FEEDBACK_HEADER, ORDER_HEADER, generate_history, write_csv
from streams.pipeline.epochs import boundary_at_or_before
from streams.pipeline.headers import Watermark
from streams.pipeline.local_pipeline import LocalPipeline
from tests.conftest import Infra
from tests.integration.notifier_harness import free_port
from tiering import default_policy

REPO = Path(__file__).resolve().parents[2]
DAY = 86_400


def worker_env(
    infra: Infra,
    name: str,
    data_dir: Path,
    *,
    partitions: int = 2,
    guarantee: str = "exactly_once",
    clock: str = "event",
    epoch_seconds: int = DAY,
    **extra: str,
) -> dict[str, str]:
    """TIERSTREAM_* variables for a worker (and replay) on fresh topics named after `name`.

    The web server gets a free port: a worker whose port is taken exits at start-up, so
    each worker of a test needs its own (see `with_own_port`)."""
    return {
        "TIERSTREAM_KAFKA_BOOTSTRAP": infra.kafka_bootstrap,
        "TIERSTREAM_APP_ID": name,
        "TIERSTREAM_TOPICS__ORDERS": f"{name}-orders",
        "TIERSTREAM_TOPICS__FEEDBACK": f"{name}-feedback",
        "TIERSTREAM_TOPICS__CUSTOMERS": f"{name}-customers",
        "TIERSTREAM_TOPICS__TIER_CHANGES": f"{name}-tier-changes",
        "TIERSTREAM_TOPICS__DEAD_LETTER": f"{name}-dlq",
        "TIERSTREAM_TOPICS__PARTITIONS": str(partitions),
        "TIERSTREAM_STORE": "memory://",
        "TIERSTREAM_CLOCK": clock,
        "TIERSTREAM_EPOCH_SECONDS": str(epoch_seconds),
        "TIERSTREAM_PROCESSING_GUARANTEE": guarantee,
        "TIERSTREAM_DATA_DIR": str(data_dir),
        "TIERSTREAM_WEB__PORT": str(free_port()),
        # A SIGKILLed worker's partitions move on when its session expires: the restarts of
        # the crash tests wait that long (Faust's 60 s default) before anything is processed.
        "TIERSTREAM_SESSION_TIMEOUT_SECONDS": "15",
        **extra,
    }


def with_own_port(env: dict[str, str]) -> dict[str, str]:
    """The same environment with another free web port, for a second worker."""
    return {**env, "TIERSTREAM_WEB__PORT": str(free_port())}


def prepare_topics(infra: Infra, name: str, partitions: int = 2) -> None:
    """Create the external topics a test writes or reads, so that no reader subscribes to a
    topic that does not exist yet (it would not see it until its next metadata refresh)."""
    from streams.kafka.admin import ensure_topics

    topics = [f"{name}-{suffix}" for suffix in ("orders", "feedback", "customers")]
    topics += [f"{name}-tier-changes", f"{name}-dlq"]
    asyncio.run(ensure_topics(infra.kafka_bootstrap, topics, partitions, 1))


@contextmanager
def running_worker(env: dict[str, str], log_path: Path) -> Iterator[subprocess.Popen[bytes]]:
    """A `tierstream worker` subprocess, stopped with SIGTERM (then SIGKILL) on exit."""
    with log_path.open("ab") as log:
        worker = subprocess.Popen(
            [sys.executable, "-m", "streams.cli", "worker"],
            cwd=REPO,
            env={**os.environ, **env},
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            yield worker
        finally:
            if worker.poll() is None:
                worker.send_signal(signal.SIGTERM)
                try:
                    worker.wait(timeout=60)
                except subprocess.TimeoutExpired:
                    worker.kill()
                    worker.wait(timeout=30)


def difference(received: list[TierChanged], expected: list[TierChanged]) -> str:
    """What a failure needs to be told apart: repeated ids (an output sent twice) or other
    content (a customer ranked from other state), and the first customer that differs."""
    ids = [change.event_id for change in received]
    repeated = len(ids) - len(set(ids))
    unexpected = len(set(ids) - {change.event_id for change in expected})
    got: dict[str, list[TierChanged]] = {}
    want: dict[str, list[TierChanged]] = {}
    for changes, by_customer in ((received, got), (expected, want)):
        for change in changes:
            by_customer.setdefault(change.customer_id, []).append(change)
    ids_of = {c: [e.event_id for e in e_list] for c, e_list in got.items()}
    wanted_ids = {c: [e.event_id for e in e_list] for c, e_list in want.items()}
    first = next(
        (c for c in sorted(want.keys() | got.keys()) if ids_of.get(c) != wanted_ids.get(c)), None
    )
    lines = [
        f"{len(received)} received, {len(expected)} expected: {repeated} repeated ids, "
        f"{unexpected} ids the in-process pipeline never emitted"
    ]
    if first is not None:
        lines.append(f"first differing customer {first}:")
        for label, changes in (("received", got.get(first, [])), ("expected", want.get(first, []))):
            lines += [f"  {label} {change.occurred_at.isoformat()} {change.changes} "
                      f"{change.previous.tier if change.previous else None}->{change.current.tier}"
                      for change in changes]  # fmt: skip
    return "\n".join(lines) + "\n"


def log_tail(log_path: Path, characters: int = 3000) -> str:
    """The end of a worker log, for assertion messages."""
    return log_path.read_text(errors="replace")[-characters:] if log_path.exists() else ""


async def read_records(
    bootstrap: str,
    topic: str,
    *,
    expected: int,
    timeout: float,
    linger: float = 3.0,
) -> list[ConsumerRecord[bytes, bytes]]:
    """Committed records of `topic` from the start: stops `linger` seconds after `expected`
    arrived (so that a surplus, a duplicate, would be seen) or at the timeout."""
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        auto_offset_reset="earliest",
        isolation_level="read_committed",
        enable_auto_commit=False,
    )
    await consumer.start()
    records: list[ConsumerRecord[bytes, bytes]] = []
    try:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        quiet_until: float | None = None
        while loop.time() < deadline:
            for batch in (await consumer.getmany(timeout_ms=500)).values():
                records.extend(batch)
            if len(records) >= expected:
                quiet_until = quiet_until or loop.time() + linger
                if loop.time() > quiet_until:
                    break
    finally:
        await consumer.stop()
    return records


def tier_changes(
    infra: Infra, name: str, expected: int, timeout: float, linger: float = 3.0
) -> list[TierChanged]:
    """App `name`'s committed TierChanged events, read as `read_records` reads them."""
    records = asyncio.run(
        read_records(
            infra.kafka_bootstrap,
            f"{name}-tier-changes",
            expected=expected,
            timeout=timeout,
            linger=linger,
        )
    )
    return [TierChanged.model_validate_json(record.value) for record in records]


# (topic, key, value, headers, partition); a None value is a tombstone.
Outgoing = tuple[str, bytes | None, bytes | None, list[tuple[str, bytes]], int | None]


async def produce(bootstrap: str, records: list[Outgoing]) -> None:
    """Send (topic, key, value, headers, partition) records in order and wait until all are
    written; partition None means by key, like any producer."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        for topic, key, value, headers, partition in records:
            await producer.send(topic, value, key=key, headers=headers, partition=partition)
        await producer.flush()
    finally:
        await producer.stop()


def wait_until_ranked(
    infra: Infra, app_id: str, partitions: int, boundary: str, timeout: float
) -> bool:
    """Poll (bounded) until every partition has ranked `boundary` (ISO text)."""
    import time

    from streams.kafka.admin import ranked_through

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ranked = asyncio.run(ranked_through(infra.kafka_bootstrap, app_id))
        if len(ranked) == partitions and all(value == boundary for value in ranked.values()):
            return True
        time.sleep(2)
    return False


# --- histories and what the stages make of them --------------------------------------------


@dataclass(frozen=True)
class ExpectedHistory:
    """A generated history as CSV files and events in event-time order, the watermark that
    closes it, and what the in-process stages (LocalPipeline) emit for it."""

    orders: Path
    feedback: Path
    events: list[OrderEvent | FeedbackEvent]
    watermark: datetime
    expected: LocalPipeline


def expected_history(
    tmp_path: Path,
    customers: int,
    orders_count: int,
    partitions: int,
    *,
    seed: int,
    span_days: int,
) -> ExpectedHistory:
    generated = generate_history(customers, orders_count, seed=seed, span_days=span_days)
    orders = write_csv(tmp_path / "orders.csv", ORDER_HEADER, generated.orders)
    feedback = write_csv(tmp_path / "feedback.csv", FEEDBACK_HEADER, generated.feedback)
    events: list[OrderEvent | FeedbackEvent] = [
        *read_orders(orders, CsvReport(orders)),
        *read_feedback(feedback, CsvReport(feedback)),
    ]
    events.sort(key=lambda event: event.occurred_at)
    final = boundary_at_or_before(events[-1].occurred_at, DAY) + timedelta(days=1)
    watermark = final + timedelta(microseconds=1)
    expected = LocalPipeline(default_policy(), partitions, DAY)
    for event in events:
        expected.feed(event)
    for partition in range(partitions):
        expected.watermark(partition, watermark)
    return ExpectedHistory(orders, feedback, events, watermark, expected)


def per_customer(changes: list[TierChanged]) -> dict[str, list[str]]:
    """Each customer's TierChanged event ids, in order."""
    sequences: dict[str, list[str]] = defaultdict(list)
    for change in changes:
        sequences[change.customer_id].append(change.event_id)
    return dict(sequences)


def order(customer_id: str, order_id: str, occurred_at: datetime, amount: str) -> OrderEvent:
    return OrderEvent(
        event_id=f"e-{order_id}",
        order_id=order_id,
        customer_id=customer_id,
        occurred_at=occurred_at,
        amount=Decimal(amount),
    )


def input_records(name: str, events: Sequence[OrderEvent | FeedbackEvent]) -> list[Outgoing]:
    """Events to their input topic of app `name`, keyed (and so partitioned) by customer, as
    `tierstream replay` publishes them."""
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


def watermarks(name: str, instant: datetime, partitions: int) -> list[Outgoing]:
    """A watermark at `instant` on every partition of both inputs of app `name`."""
    value = Watermark(stream_time=instant).model_dump_json().encode()
    return [
        (f"{name}-{topic}", None, value, Watermark.headers(), partition)
        for topic in ("orders", "feedback")
        for partition in range(partitions)
    ]


def scored_by_batch(
    orders: Path, feedback: Path, as_of: datetime, out: Path
) -> dict[str, dict[str, str]]:
    """`tierstream score --as-of` of a history, by customer id: the batch side of the
    stream-versus-score agreement tests."""
    from streams.cli.main import main

    score = ["score", str(orders), "--feedback", str(feedback), "--out", str(out)]
    assert main([*score, "--as-of", as_of.isoformat()]) == 0
    with out.open() as handle:
        return {row["customer_id"]: row for row in csv.DictReader(handle)}


def latest_change_per_customer(
    infra: Infra,
    name: str,
    partitions: int,
    final: datetime,
    customers: int,
    log: Path,
    timeout: float,
) -> dict[str, TierChanged]:
    """Once every partition has ranked through `final`: each customer's last TierChanged."""
    assert wait_until_ranked(infra, name, partitions, final.isoformat(), timeout), log_tail(log)
    changes = tier_changes(infra, name, customers, 120, linger=2.0)
    return {change.customer_id: change for change in changes}
