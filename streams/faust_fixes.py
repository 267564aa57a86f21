"""Work-arounds for faust-streaming 0.15.3 defects the worker depends on; each says why."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from faust.transport.consumer import Consumer
from faust.transport.drivers.aiokafka import AIOKafkaConsumerThread
from faust.types import TP

__all__ = [
    "commit_only_below_the_first_unacked_record",
    "recover_tables_to_the_broker_end_offsets",
]


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


_original_new_offset = Consumer._new_offset


def _new_offset_below_the_first_unacked(self: Consumer, tp: TP) -> int | None:
    unacked = [message.offset for message in list(self._unacked_messages) if message.tp == tp]
    if not unacked:
        return _original_new_offset(self, tp)
    first_unacked = min(unacked)
    acked: list[int] = self._acked[tp]
    later = [offset for offset in acked if offset >= first_unacked]
    if later:
        acked[:] = [offset for offset in acked if offset < first_unacked]
    try:
        return _original_new_offset(self, tp)
    finally:
        if later:
            acked.extend(later)
            acked.sort()


def commit_only_below_the_first_unacked_record() -> None:
    """Never commit an offset past a record that was delivered and not yet acknowledged.

    Faust commits the first run of consecutive acknowledged offsets, and checks that the run
    starts where the last commit ended only when something was committed before (and the
    committed offset is not 0). The worker holds records unacknowledged in its event-time
    merge while acknowledging a later watermark at once: on a partition without a commit yet,
    Faust then committed past every held record, and a worker taking the partition over (or
    restarting) never saw them, losing, for instance, every feedback event of a partition
    whose orders lagged. Cap each commit below the partition's first unacknowledged record.
    """
    Consumer._new_offset = _new_offset_below_the_first_unacked  # type: ignore[method-assign]
