"""TIERSTREAM_CLOCK=wall: the worker's ticks that move stream time while customers are silent.

Every `clock_tick_seconds` the wall clock less `clock_lateness_seconds` is published as a
watermark to every partition of the internal clock topic, which stage 1 merges with its
inputs; so idle partitions close their boundaries and silent customers turn `at_risk`.
A plain (non-transactional) producer: a tick carries no state, and every worker may send
them for every partition (an input's high water never moves back, streams/pipeline/merge.py).
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from streams.kafka.security import client_options
from streams.pipeline.headers import Watermark
from streams.settings import Settings

__all__ = ["tick_wall_clock"]


async def tick_wall_clock(settings: Settings, clock_topic: str) -> None:
    """Publish `now - clock_lateness_seconds` to every partition of `clock_topic` every
    `clock_tick_seconds`, until cancelled."""
    from aiokafka import AIOKafkaProducer

    producer = AIOKafkaProducer(
        bootstrap_servers=settings.kafka.bootstrap,
        **client_options(settings.kafka),
    )
    await producer.start()
    lateness = timedelta(seconds=settings.clock_lateness_seconds)
    try:
        while True:
            mark = Watermark(stream_time=datetime.now(UTC) - lateness)
            value = mark.model_dump_json().encode()
            for partition in range(settings.topics.partitions):
                await producer.send(
                    clock_topic,
                    value,
                    partition=partition,
                    headers=Watermark.headers(),
                )
            await producer.flush()
            await asyncio.sleep(settings.clock_tick_seconds)
    finally:
        await producer.stop()
