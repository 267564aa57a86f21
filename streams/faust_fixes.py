"""Work-arounds for faust-streaming 0.15.3 defects the worker depends on; each says why."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from faust.transport.drivers.aiokafka import AIOKafkaConsumerThread
from faust.types import TP

__all__ = ["recover_tables_to_the_broker_end_offsets"]


async def _end_offsets_from_the_broker(
    self: AIOKafkaConsumerThread, partitions: list[TP]
) -> Mapping[TP, int]:
    consumer: Any = self._ensure_consumer()
    offsets: Mapping[TP, int] = await consumer.end_offsets(partitions)
    return offsets


def recover_tables_to_the_broker_end_offsets() -> None:
    """Make table recovery read each changelog up to its end as the broker reports it.

    Under exactly_once Faust takes a changelog's end from the consumer's cached last stable
    offset, which aiokafka learns only from a fetch of that partition. For a partition that a
    rebalance has just assigned there has been no fetch yet: Faust reads the end as -1, an
    empty changelog, and the worker taking the partition over starts from empty tables
    (tier changes computed from nothing) or, with a persisted offset, crashes with a
    ConsistencyError (robinhood/faust#658; seen here as two workers that diverged from one).
    A ListOffsets request from the read_committed consumer answers with the last stable
    offset itself. Idempotent; applies to every app in the process.
    """
    AIOKafkaConsumerThread._highwaters = _end_offsets_from_the_broker  # type: ignore[method-assign]
