"""The demo's sample history and its paced replay.

The history comes from `streams.data.history.generate_history` (messy, like real exports) and
goes through the same CSV reader and event-time merge as `tierstream replay`. Unlike a
plain replay, the paced feed also writes a watermark to every input partition every
`watermark_every` seconds of wall time: feedback is sparse (the generated feedback covers
the last 120 days only), and a partition's stream time waits for its quietest input, so
without them nothing would close until the end of the replay.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from schemas import FeedbackEvent, OrderEvent
from streams.data.history import FEEDBACK_HEADER, ORDER_HEADER, generate_history, write_csv
from streams.pipeline.epochs import boundary_at_or_before

__all__ = ["Event", "SampleHistory", "final_watermark", "load_sample", "paced_replay"]

Event = OrderEvent | FeedbackEvent


@dataclass(frozen=True)
class SampleHistory:
    """Usable events in event-time order, and how many CSV rows were skipped as unusable."""

    events: list[Event]
    skipped_rows: int
    orders_csv: Path
    feedback_csv: Path


def load_sample(directory: Path, customers: int, orders: int, seed: int) -> SampleHistory:
    """Generate a history, write it as the two CSV files and read them back like `replay`."""
    from streams.cli.replay import merge_in_event_time_order
    from streams.data.csv_input import CsvReport, read_feedback, read_orders

    history = generate_history(customers, orders, seed=seed)
    orders_csv = write_csv(directory / "orders.csv", ORDER_HEADER, history.orders)
    feedback_csv = write_csv(directory / "feedback.csv", FEEDBACK_HEADER, history.feedback)
    order_report, feedback_report = CsvReport(orders_csv), CsvReport(feedback_csv)
    events = merge_in_event_time_order(
        list(read_orders(orders_csv, order_report)),
        list(read_feedback(feedback_csv, feedback_report)),
    )
    skipped = len(order_report.problems) + len(feedback_report.problems)
    return SampleHistory(events, skipped, orders_csv, feedback_csv)


def final_watermark(events: Sequence[Event], epoch_seconds: int) -> datetime | None:
    """Just past the boundary after the last event, so that the last epoch closes too."""
    if not events:
        return None
    last = max(event.occurred_at for event in events)
    boundary = boundary_at_or_before(last, epoch_seconds) + timedelta(seconds=epoch_seconds)
    return boundary + timedelta(microseconds=1)


async def paced_replay(
    events: Sequence[Event],
    bootstrap: str,
    topics: tuple[str, str],
    *,
    partitions: int,
    rate: float,
    final: datetime | None,
    on_progress: Callable[[int, datetime], None],
    watermark_every: float = 0.5,
    client_options: Mapping[str, Any] | None = None,
) -> int:
    """Publish `events` (orders, feedback topics) at `rate` per second, keyed by customer,
    with CloudEvents headers; watermarks at the last published event time every
    `watermark_every` seconds and `final` at the end. Returns the number published;
    cancelling stops it after flushing what was sent. `client_options`: SASL/TLS options
    (streams.kafka.security.client_options)."""
    from aiokafka import AIOKafkaProducer

    from streams.pipeline.headers import Watermark, cloudevent_headers

    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap,
        acks="all",
        enable_idempotence=True,
        linger_ms=5,
        **(client_options or {}),
    )
    await producer.start()

    async def watermark(instant: datetime) -> None:
        # Events go out in event-time order, so nothing later on any partition is older.
        mark = Watermark(stream_time=instant).model_dump_json().encode()
        for topic in topics:
            for partition in range(partitions):
                await producer.send(topic, mark, partition=partition, headers=Watermark.headers())

    published = 0
    started = last_mark = time.monotonic()
    try:
        for event in events:
            delay = started + published / rate - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            is_order = isinstance(event, OrderEvent)
            await producer.send(
                topics[0] if is_order else topics[1],
                event.model_dump_json().encode(),
                key=event.customer_id.encode(),
                headers=cloudevent_headers(
                    f"io.tierstream.{'OrderEvent' if is_order else 'FeedbackEvent'}.v1",
                    event.event_id,
                    event.occurred_at,
                    event.customer_id,
                ),
            )
            published += 1
            on_progress(published, event.occurred_at)
            if time.monotonic() - last_mark >= watermark_every:
                await watermark(event.occurred_at)
                last_mark = time.monotonic()
        if final is not None:
            await watermark(final)
        await producer.flush()
    finally:
        await producer.stop()
    return published
