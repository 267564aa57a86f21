"""`tierstream replay`: publish a CSV history to Kafka in event-time order.

Orders go to the `orders` topic and feedback to `feedback`, keyed by customer_id (so each
customer's events stay in order in one partition), as JSON with CloudEvents `ce_*` headers.
At the end one watermark control record goes to every partition of both topics, so that the
worker's last epoch closes even on partitions whose last event was long ago.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from schemas import FeedbackEvent, OrderEvent

__all__ = ["HELP", "ReplayReport", "add_arguments", "merge_in_event_time_order", "publish", "run"]

HELP = "publish order/feedback CSV history to Kafka in event-time order"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of `tierstream replay`."""
    from streams.cli.score import parse_as_of

    parser.add_argument("orders", type=Path, metavar="ORDERS.csv")
    parser.add_argument("--feedback", type=Path, metavar="F.csv")
    parser.add_argument(
        "--rate", type=float, metavar="N", help="events per second (default: as fast as possible)"
    )
    parser.add_argument(
        "--watermark",
        type=parse_as_of,
        metavar="INSTANT",
        help="stream time announced at the end (default: the last event's time)",
    )


def merge_in_event_time_order(
    orders: Sequence[OrderEvent], feedback: Sequence[FeedbackEvent]
) -> list[OrderEvent | FeedbackEvent]:
    """All events by occurred_at; ties keep file order, orders before feedback."""
    events: list[OrderEvent | FeedbackEvent] = [*orders, *feedback]
    events.sort(key=lambda event: event.occurred_at)
    return events


@dataclass(frozen=True)
class ReplayReport:
    """What was published."""

    published: int
    total: int
    interrupted: bool
    watermark: datetime | None


async def publish(
    events: Sequence[OrderEvent | FeedbackEvent],
    bootstrap: str,
    orders_topic: str,
    feedback_topic: str,
    *,
    partitions: int,
    replication: int = 1,
    rate: float | None = None,
    watermark: datetime | None = None,
    on_progress: object = None,
    client_options: Mapping[str, Any] | None = None,
) -> ReplayReport:
    """Produce events in the given order (rate-limited if asked), then the watermarks.
    `client_options`: the security options of streams.kafka.security.client_options."""
    from aiokafka import AIOKafkaProducer

    from streams.kafka.admin import ensure_topics
    from streams.pipeline.headers import Watermark, cloudevent_headers

    await ensure_topics(
        bootstrap,
        [orders_topic, feedback_topic],
        partitions,
        replication,
        client_options=client_options,
    )
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap,
        acks="all",
        enable_idempotence=True,
        linger_ms=5,
        **(client_options or {}),
    )
    await producer.start()
    published = 0
    interrupted = False
    started = time.monotonic()
    try:
        for event in events:
            if rate:
                delay = started + published / rate - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
            is_order = isinstance(event, OrderEvent)
            await producer.send(
                orders_topic if is_order else feedback_topic,
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
            if callable(on_progress):
                on_progress(1)
        stream_time = watermark or (events[-1].occurred_at if events else None)
        if stream_time is not None:
            mark = Watermark(stream_time=stream_time).model_dump_json().encode()
            for topic in (orders_topic, feedback_topic):
                for partition in range(partitions):
                    await producer.send(
                        topic, mark, partition=partition, headers=Watermark.headers()
                    )
        await producer.flush()
    except asyncio.CancelledError:
        interrupted = True
        stream_time = None
    finally:
        await producer.stop()
    return ReplayReport(published, len(events), interrupted, stream_time)


def run(args: argparse.Namespace) -> int:
    """Read the files, publish, report; Ctrl-C stops after flushing what was sent."""
    from aiokafka.errors import KafkaConnectionError
    from rich.console import Console
    from rich.progress import Progress

    from streams.data.csv_input import CsvError, CsvReport, read_feedback, read_orders
    from streams.kafka.security import client_options, explain_connection_failure
    from streams.settings import ConfigError, load_settings

    console = Console(stderr=True)
    try:
        settings = load_settings()
    except ConfigError as error:
        console.print(f"tierstream replay: {error}")
        return 2
    order_report, feedback_report = CsvReport(args.orders), CsvReport(args.feedback or Path())
    try:
        orders = list(read_orders(args.orders, order_report))
        feedback = list(read_feedback(args.feedback, feedback_report)) if args.feedback else []
    except CsvError as error:
        console.print(f"tierstream replay: {error}")
        return 2
    for csv_report in (order_report, feedback_report):
        if csv_report.problems:
            reasons = ", ".join(
                f"{count} {reason}" for reason, count in sorted(csv_report.by_reason.items())
            )
            console.print(f"{csv_report.path}: skipped {len(csv_report.problems)} rows ({reasons})")
    events = merge_in_event_time_order(orders, feedback)
    progress = Progress(console=console, transient=True, disable=not sys.stderr.isatty())
    task = progress.add_task("publishing", total=len(events))
    main_task = publish(
        events,
        settings.kafka.bootstrap,
        settings.topics.orders,
        settings.topics.feedback,
        partitions=settings.topics.partitions,
        replication=settings.topics.replication_factor,
        rate=args.rate,
        watermark=args.watermark,
        on_progress=lambda n: progress.advance(task, n),
        client_options=client_options(settings.kafka),
    )
    with progress:
        try:
            report = asyncio.run(main_task)
        except KeyboardInterrupt:
            console.print("tierstream replay: interrupted; what was sent before Ctrl-C is flushed")
            return 130
        except KafkaConnectionError:
            reason = asyncio.run(explain_connection_failure(settings.kafka))
            console.print(f"tierstream replay: cannot connect to Kafka: {reason}")
            return 1
    watermark = report.watermark.isoformat() if report.watermark else "none"
    console.print(
        f"published {report.published:,} of {report.total:,} events to "
        f"{settings.topics.orders}/{settings.topics.feedback}; watermark {watermark}"
    )
    return 130 if report.interrupted else 0
